"""What notify needs to answer a duty manager's "1" rightly and to word each complaint's
SMS: when a prompt was answered, a held notice's line for its digest; and per complaint
its nature (a compliment is worded as one) and whether the customer takes SMS.

Revision ID: notify_0004
Revises: notify_0003
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "notify_0004"
down_revision: str | None = "notify_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("answered_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("digest_line", sa.Text(), nullable=True))
    with op.batch_alter_table("complaint_contacts") as batch:
        batch.add_column(sa.Column("nature", sa.String(16), nullable=True))
        batch.add_column(
            sa.Column("customer_textable", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("complaint_contacts") as batch:
        batch.drop_column("customer_textable")
        batch.drop_column("nature")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("digest_line")
        batch.drop_column("answered_at")
