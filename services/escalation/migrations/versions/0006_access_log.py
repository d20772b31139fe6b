"""Who read a customer's phone: the access log.

Revision ID: escalation_0006
Revises: escalation_0005
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

from shared.access_log import create_access_log, drop_access_log

revision: str = "escalation_0006"
down_revision: str | None = "escalation_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_access_log(op)


def downgrade() -> None:
    drop_access_log(op)
