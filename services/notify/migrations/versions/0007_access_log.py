"""Who read a customer's phone in the message log: the access log.

Revision ID: notify_0007
Revises: notify_0006
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

from shared.access_log import create_access_log, drop_access_log

revision: str = "notify_0007"
down_revision: str | None = "notify_0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_access_log(op)


def downgrade() -> None:
    drop_access_log(op)
