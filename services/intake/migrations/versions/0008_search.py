"""Search: a document per complaint (its words, and on PostgreSQL their tsvector with a
GIN index), the departments' replies it holds, and the complaints' names by lower case.

Complaints registered before are indexed here, their notes with them; the replies they
had were never kept by intake, so they are found by their words from the next reply on.

Revision ID: intake_0008
Revises: intake_0007
Create Date: 2026-12-10
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import TSVECTOR

from shared.db import UTCDateTime

revision: str = "intake_0008"
down_revision: str | None = "intake_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
DOCUMENT_SQL = "to_tsvector('simple'::regconfig, ((words || ' '::text) || more_words))"
BATCH = 1000


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    columns = [
        sa.Column("complaint_id", sa.String(36), sa.ForeignKey("complaints.id"), primary_key=True),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
        sa.Column("words", sa.Text(), nullable=False),
        sa.Column("more_words", sa.Text(), nullable=False, server_default=""),
    ]
    if postgres:
        columns.append(sa.Column("document", TSVECTOR(), sa.Computed(DOCUMENT_SQL, persisted=True)))
    op.create_table("search_documents", *columns)
    op.create_index(
        "ix_search_documents_time", "search_documents", ["registered_at", "complaint_id"]
    )
    if postgres:
        op.create_index(
            "ix_search_documents_document",
            "search_documents",
            ["document"],
            postgresql_using="gin",
        )
    op.create_table(
        "replies",
        sa.Column("id", BIG, primary_key=True, autoincrement=True),
        sa.Column("complaint_id", sa.String(36), sa.ForeignKey("complaints.id"), nullable=False),
        sa.Column("history_seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("department_id", sa.String(64), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=False),
        sa.Column("replied_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_replies_complaint_id", "replies", ["complaint_id"])
    # A search by the customer's name, as registered whatever the case: without it, each
    # would read every complaint.
    op.create_index("ix_complaints_name", "complaints", [sa.text("lower(customer_name)")])
    _index_what_is_there()


def _index_what_is_there() -> None:
    """Every complaint's search document, a batch at a time, its notes' words with it."""
    from services.intake.search.words import document

    conn = op.get_bind()
    complaints = sa.table(
        "complaints",
        sa.column("id", sa.String),
        sa.column("registered_at", UTCDateTime()),
        sa.column("description", sa.Text),
        sa.column("location", sa.String),
    )
    notes = sa.table(
        "notes", sa.column("complaint_id", sa.String), sa.column("id"), sa.column("text", sa.Text)
    )
    docs = sa.table(
        "search_documents",
        sa.column("complaint_id", sa.String),
        sa.column("registered_at", UTCDateTime()),
        sa.column("words", sa.Text),
        sa.column("more_words", sa.Text),
    )
    after = ""
    while True:
        rows = conn.execute(
            sa.select(complaints)
            .where(complaints.c.id > after)
            .order_by(complaints.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        ids = [r.id for r in rows]
        said: dict[str, list[str]] = {}
        for note in conn.execute(
            sa.select(notes.c.complaint_id, notes.c.text)
            .where(notes.c.complaint_id.in_(ids))
            .order_by(notes.c.id)
        ):
            said.setdefault(note.complaint_id, []).append(note.text)
        values: list[dict[str, Any]] = [
            {
                "complaint_id": r.id,
                "registered_at": r.registered_at,
                "words": document(r.description, r.location),
                "more_words": " " + document(*said[r.id]) if r.id in said else "",
            }
            for r in rows
        ]
        conn.execute(docs.insert(), values)
        after = ids[-1]


def downgrade() -> None:
    op.drop_index("ix_complaints_name", table_name="complaints")
    op.drop_index("ix_replies_complaint_id", table_name="replies")
    op.drop_table("replies")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_search_documents_document", table_name="search_documents")
    op.drop_index("ix_search_documents_time", table_name="search_documents")
    op.drop_table("search_documents")
