"""The knowledge base's article each complaint was answered from, and whether it was
closed at first contact (当场解答): the overview's first-contact resolutions. Facts
written before have neither (a rebuild from the topics fills them).

Revision ID: analytics_0009
Revises: analytics_0008
Create Date: 2026-12-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "analytics_0009"
down_revision: str | None = "analytics_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("complaint_facts") as batch:
        batch.add_column(sa.Column("answered_from_article", BIG, nullable=True))
        batch.add_column(
            sa.Column(
                "first_contact_resolved", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("complaint_facts") as batch:
        batch.drop_column("first_contact_resolved")
        batch.drop_column("answered_from_article")
