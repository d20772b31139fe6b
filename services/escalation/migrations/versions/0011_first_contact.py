"""Who registered each complaint and the knowledge base's article the caller was answered
from, as intake registered them: the agent on the line may close it at first contact
(当场解答). Complaints taken in before have neither.

Revision ID: escalation_0011
Revises: escalation_0010
Create Date: 2026-12-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "escalation_0011"
down_revision: str | None = "escalation_0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("complaint_states") as batch:
        batch.add_column(sa.Column("registered_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("answered_from_article", BIG, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("complaint_states") as batch:
        batch.drop_column("answered_from_article")
        batch.drop_column("registered_by")
