"""Outbox and inbox.

Revision ID: intake_0001
Revises:
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

from shared.migrations import create_outbox_and_inbox, drop_outbox_and_inbox

revision: str = "intake_0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_outbox_and_inbox(op)


def downgrade() -> None:
    drop_outbox_and_inbox(op)
