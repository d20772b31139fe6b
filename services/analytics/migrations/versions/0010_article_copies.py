"""The knowledge base's articles as analytics keeps them from intake's events: which
hot issues no article answers. Empty at first: a rebuild from the topics fills it.

Revision ID: analytics_0010
Revises: analytics_0009
Create Date: 2026-12-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "analytics_0010"
down_revision: str | None = "analytics_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "article_copies",
        sa.Column("article_id", BIG, primary_key=True, autoincrement=False),
        sa.Column("tenant", sa.String(32), nullable=False, server_default="default"),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=True),
        sa.Column("valid_until", UTCDateTime(), nullable=True),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_article_copies_tenant", "article_copies", ["tenant"])


def downgrade() -> None:
    op.drop_index("ix_article_copies_tenant", table_name="article_copies")
    op.drop_table("article_copies")
