"""The search document of each complaint and the departments' replies it holds, and the
API schemas of search results and likely duplicates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import BigInteger, Column, Computed, Index, Integer, Text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlmodel import Field as Col

from services.intake.complaints.models import ComplaintRead
from services.intake.db import IntakeTable
from shared.db import UTCDateTime
from shared.vocabulary import DuplicateReason, SearchField

_BIG = BigInteger().with_variant(Integer(), "sqlite")

# As PostgreSQL reflects it back, so that a comparison of the models with the database
# sees no difference.
DOCUMENT_SQL = "to_tsvector('simple'::regconfig, ((words || ' '::text) || more_words))"


class SearchDocument(IntakeTable, table=True):
    """What search finds a complaint by, kept in the transaction that writes each text:
    its words (description and place, as registered) and more words (its notes and the
    departments' replies, added as they come), segmented (search.words).

    On PostgreSQL, `document` is their tsvector, computed by the database, with a GIN
    index; SQLite has no such column and matches the words themselves."""

    __tablename__ = "search_documents"
    __table_args__ = (
        Index("ix_search_documents_time", "registered_at", "complaint_id"),
        Index("ix_search_documents_document", "document", postgresql_using="gin"),
    )

    complaint_id: str = Col(primary_key=True, max_length=36, foreign_key="complaints.id")
    # The complaint's, here too: newest matches first without a join.
    registered_at: datetime = Col(sa_column=Column(UTCDateTime(), nullable=False))
    words: str = Col(sa_column=Column(Text, nullable=False))
    more_words: str = Col(sa_column=Column(Text, nullable=False, server_default=""))
    document: Any = Col(
        default=None, sa_column=Column(TSVECTOR, Computed(DOCUMENT_SQL, persisted=True))
    )


class Reply(IntakeTable, table=True):
    """A department's reply (or the desk's resolution), as the lifecycle announced it:
    searched, and shown where a search found its words."""

    __tablename__ = "replies"

    id: int | None = Col(default=None, sa_column=Column(_BIG, primary_key=True))
    complaint_id: str = Col(max_length=36, index=True, foreign_key="complaints.id")
    history_seq: int
    action: str = Col(max_length=32)
    department_id: str | None = Col(default=None, max_length=64)
    resolution: str = Col(sa_column=Column(Text, nullable=False))
    replied_at: datetime = Col(sa_column=Column(UTCDateTime(), nullable=False))


# --- API schemas ----------------------------------------------------------------------


class Snippet(BaseModel):
    """Where the words were found: a stretch of one text, masked as that text is for the
    reader, with the words marked."""

    field: SearchField
    text: str
    marks: list[tuple[int, int]] = Field(
        description="[start, end) of each word found, as offsets into `text`"
    )


class ComplaintHit(ComplaintRead):
    rank: float | None = Field(
        default=None, description="Relevance to `q` (higher first); null without `q`"
    )
    snippet: Snippet | None = Field(
        default=None, description="Where the words of `q` are; null without `q`"
    )


class SearchPage(BaseModel):
    items: list[ComplaintHit]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )


class Likely(BaseModel):
    """A complaint the one being registered may repeat, and why."""

    complaint: ComplaintRead
    score: float = Field(description="0 to 1: how likely the same matter")
    reasons: list[DuplicateReason]
    shared_words: list[str] = Field(description="The telling words both texts have")


class SimilarPage(BaseModel):
    items: list[Likely]
    since: datetime = Field(description="The window's start: registered at or after")
