"""Why a message was refused and never sent: a country the centre does not allow, or the
number's daily cap.

Revision ID: notify_0006
Revises: notify_0005
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "notify_0006"
down_revision: str | None = "notify_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("refused_reason", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("refused_reason")
