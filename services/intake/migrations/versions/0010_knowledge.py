"""The knowledge base: articles agents answer callers from at once, each of one client,
with its words for matching (on PostgreSQL their tsvector, with a GIN index).

Revision ID: intake_0010
Revises: intake_0009
Create Date: 2026-12-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

from shared.db import UTCDateTime

revision: str = "intake_0010"
down_revision: str | None = "intake_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DOCUMENT_SQL = "to_tsvector('simple'::regconfig, ((words || ' '::text) || more_words))"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    columns = [
        sa.Column("id", BIG, primary_key=True, autoincrement=True),
        sa.Column("tenant", sa.String(32), nullable=False, server_default="default"),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=True),
        sa.Column("valid_until", UTCDateTime(), nullable=True),
        sa.Column("owner_department", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("written_by", sa.String(64), nullable=False),
        sa.Column("written_at", UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("approved_by", sa.String(64), nullable=True),
        sa.Column("approved_at", UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("from_complaint_id", sa.String(36), nullable=True),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("more_words", sa.Text(), nullable=False, server_default=""),
    ]
    if postgres:
        columns.append(sa.Column("document", TSVECTOR(), sa.Computed(DOCUMENT_SQL, persisted=True)))
    op.create_table("knowledge_articles", *columns)
    op.create_index(
        "ix_knowledge_articles_tenant_status",
        "knowledge_articles",
        ["tenant", "status", "category"],
    )
    op.create_index(
        "ix_knowledge_articles_owner_department", "knowledge_articles", ["owner_department"]
    )
    if postgres:
        op.create_index(
            "ix_knowledge_articles_document",
            "knowledge_articles",
            ["document"],
            postgresql_using="gin",
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_knowledge_articles_document", table_name="knowledge_articles")
    op.drop_index("ix_knowledge_articles_owner_department", table_name="knowledge_articles")
    op.drop_index("ix_knowledge_articles_tenant_status", table_name="knowledge_articles")
    op.drop_table("knowledge_articles")
