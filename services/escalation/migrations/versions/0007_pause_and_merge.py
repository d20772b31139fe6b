"""Pausing a complaint's clock (挂起) and merging duplicates into a master (并案).

Revision ID: escalation_0007
Revises: escalation_0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "escalation_0007"
down_revision: str | None = "escalation_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("complaint_states") as batch:
        batch.add_column(sa.Column("pause_waiting_on", sa.String(16), nullable=True))
        batch.add_column(sa.Column("pause_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("pause_requested_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("pause_resume_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("paused_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("paused_until", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("pause_count", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("paused_seconds", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("merged_into", sa.String(36), nullable=True))
        batch.create_index("ix_complaint_states_merged_into", ["merged_into"])


def downgrade() -> None:
    with op.batch_alter_table("complaint_states") as batch:
        batch.drop_index("ix_complaint_states_merged_into")
        for name in (
            "merged_into",
            "paused_seconds",
            "pause_count",
            "paused_until",
            "paused_at",
            "pause_resume_at",
            "pause_requested_by",
            "pause_reason",
            "pause_waiting_on",
        ):
            batch.drop_column(name)
