"""Whether the customer's number can take an SMS, as intake registered it: a landline
caller is told nothing by text.

Revision ID: escalation_0005
Revises: escalation_0004
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "escalation_0005"
down_revision: str | None = "escalation_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("complaint_states") as batch:
        batch.add_column(
            sa.Column("customer_textable", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("complaint_states") as batch:
        batch.drop_column("customer_textable")
