"""What a customer SMS held for quiet hours is checked against when their hour comes:
where the complaint is and when the customer last gave their verdict; and, on a message
no longer sent, why.

Revision ID: notify_0005
Revises: notify_0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "notify_0005"
down_revision: str | None = "notify_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("cancel_reason", sa.String(40), nullable=True))
    with op.batch_alter_table("complaint_contacts") as batch:
        batch.add_column(sa.Column("state", sa.String(24), nullable=True))
        batch.add_column(sa.Column("state_seq", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("answered_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("complaint_contacts") as batch:
        batch.drop_column("answered_at")
        batch.drop_column("state_seq")
        batch.drop_column("state")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("cancel_reason")
