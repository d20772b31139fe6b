"""Who read a customer's file or phone: the access log.

Revision ID: intake_0004
Revises: intake_0003
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

from shared.access_log import create_access_log, drop_access_log

revision: str = "intake_0004"
down_revision: str | None = "intake_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_access_log(op)


def downgrade() -> None:
    drop_access_log(op)
