"""What the everyday cases of a hotline need on each complaint: whether the caller is
anonymous, the duty desk's decision that no compensation is due, when the last counted
follow-up call was made, and the action that brought the complaint to its state.

Revision ID: escalation_0004
Revises: escalation_0003
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "escalation_0004"
down_revision: str | None = "escalation_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("complaint_states") as batch:
        batch.add_column(
            sa.Column("anonymous", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column(
                "compensation_declined", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch.add_column(sa.Column("last_follow_up_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("entered_by", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("complaint_states") as batch:
        batch.drop_column("entered_by")
        batch.drop_column("last_follow_up_at")
        batch.drop_column("compensation_declined")
        batch.drop_column("anonymous")
