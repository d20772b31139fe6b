"""Joint handling (主办/协办): the assisting departments' parts of a complaint, on the
complaint as the lifecycle judges them, and each with its deadline and what it said.

Revision ID: escalation_0008
Revises: escalation_0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "escalation_0008"
down_revision: str | None = "escalation_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("complaint_states") as batch:
        batch.add_column(sa.Column("assists", sa.JSON(), nullable=False, server_default="[]"))
    op.create_table(
        "complaint_assists",
        sa.Column(
            "complaint_id", sa.String(36), sa.ForeignKey("complaint_states.id"), nullable=False
        ),
        sa.Column("department_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("dispatched_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("next_breach_at", UTCDateTime(), nullable=True),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
        sa.Column("contribution", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("urged_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("complaint_id", "department_id"),
    )
    op.create_index(
        "ix_complaint_assists_department", "complaint_assists", ["department_id", "status"]
    )
    op.create_index("ix_complaint_assists_next_breach_at", "complaint_assists", ["next_breach_at"])


def downgrade() -> None:
    op.drop_index("ix_complaint_assists_next_breach_at", table_name="complaint_assists")
    op.drop_index("ix_complaint_assists_department", table_name="complaint_assists")
    op.drop_table("complaint_assists")
    with op.batch_alter_table("complaint_states") as batch:
        batch.drop_column("assists")
