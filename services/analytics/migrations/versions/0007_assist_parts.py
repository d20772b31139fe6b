"""Joint handling (主办/协办): each assisting department's part, for its figures as a
helper beside those as the lead.

Revision ID: analytics_0007
Revises: analytics_0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "analytics_0007"
down_revision: str | None = "analytics_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "assist_parts",
        sa.Column("complaint_id", sa.String(64), nullable=False),
        sa.Column("department_id", sa.String(64), nullable=False),
        sa.Column("lead_department_id", sa.String(64), nullable=True),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("dispatched_at", UTCDateTime(), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("settled_at", UTCDateTime(), nullable=True),
        sa.Column("met", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("complaint_id", "department_id"),
    )
    op.create_index("ix_assist_parts_department_month", "assist_parts", ["department_id", "month"])


def downgrade() -> None:
    op.drop_index("ix_assist_parts_department_month", table_name="assist_parts")
    op.drop_table("assist_parts")
