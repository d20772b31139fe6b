"""Workload within a department: how each department hands out its complaints to its
clerks, and the log of each time a clerk came to own one.

Revision ID: escalation_0009
Revises: escalation_0008
Create Date: 2026-12-08
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "escalation_0009"
down_revision: str | None = "escalation_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("departments") as batch:
        batch.add_column(
            sa.Column("assignment", sa.String(16), nullable=False, server_default="queue")
        )
    op.create_table(
        "clerk_assignments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "complaint_id", sa.String(36), sa.ForeignKey("complaint_states.id"), nullable=False
        ),
        sa.Column("department_id", sa.String(64), nullable=False),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("via", sa.String(16), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_clerk_assignments_department_at", "clerk_assignments", ["department_id", "at"]
    )
    op.create_index("ix_clerk_assignments_staff_at", "clerk_assignments", ["staff_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_clerk_assignments_staff_at", table_name="clerk_assignments")
    op.drop_index("ix_clerk_assignments_department_at", table_name="clerk_assignments")
    op.drop_table("clerk_assignments")
    with op.batch_alter_table("departments") as batch:
        batch.drop_column("assignment")
