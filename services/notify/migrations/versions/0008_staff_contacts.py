"""Who is at the desk and who answers for each department, as the lifecycle events named
them: where an alert that belongs to no one complaint (a hot issue) goes.

Revision ID: notify_0008
Revises: notify_0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "notify_0008"
down_revision: str | None = "notify_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "duty_managers_seen",
        sa.Column("staff_id", sa.String(64), primary_key=True),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("name", sa.String(64), nullable=True),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.Column("seen_in", sa.String(100), nullable=False),
    )
    op.create_table(
        "department_contacts",
        sa.Column("department_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("phones", sa.JSON(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.Column("seen_in", sa.String(100), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("department_contacts")
    op.drop_table("duty_managers_seen")
