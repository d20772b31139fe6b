"""Duplicates merged into a master complaint (counted once, their callers all), and the
time a complaint's clock stood still (挂起), left out of the time its stages took.

Revision ID: analytics_0006
Revises: analytics_0005
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "analytics_0006"
down_revision: str | None = "analytics_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("complaint_facts") as batch:
        batch.add_column(sa.Column("merged_into", sa.String(36), nullable=True))
        batch.add_column(
            sa.Column("paused_seconds", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("paused_since", UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("stage_paused_from", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("complaint_facts") as batch:
        for name in ("stage_paused_from", "paused_since", "paused_seconds", "merged_into"):
            batch.drop_column(name)
