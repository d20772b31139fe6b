"""The knowledge base: articles that let an agent answer a caller at once (question,
answer, category, keywords, when valid, whose), the table that keeps them with their
search words, and the API schemas that write and read them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import JSON, BigInteger, Column, Computed, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlmodel import Field as Col

from services.intake.complaints.models import clean_text
from services.intake.db import IntakeTable
from shared.db import UTCDateTime
from shared.params import IsoDateTime
from shared.tenants import DEFAULT_TENANT, TENANT_PATTERN
from shared.vocabulary import ArticleStatus, ArticleStep

_BIG = BigInteger().with_variant(Integer(), "sqlite")
# As PostgreSQL reflects it back (search.models does the same for complaints).
DOCUMENT_SQL = "to_tsvector('simple'::regconfig, ((words || ' '::text) || more_words))"

QUESTION_MAX = 500
ANSWER_MAX = 5000
KEYWORD_MAX = 40
KEYWORDS_MAX = 20


def _utc(**kw: Any) -> Any:
    return Col(sa_column=Column(UTCDateTime(), **kw))


class Article(IntakeTable, table=True):
    """One article of one client. `words` are what it is found by and matched on (its
    question and keywords, segmented as complaints are: search.words), `more_words` those
    of its answer; on PostgreSQL `document` is their tsvector with a GIN index."""

    __tablename__ = "knowledge_articles"
    __table_args__ = (
        Index("ix_knowledge_articles_tenant_status", "tenant", "status", "category"),
        Index("ix_knowledge_articles_document", "document", postgresql_using="gin"),
    )

    id: int | None = Col(default=None, sa_column=Column(_BIG, primary_key=True))
    tenant: str = Col(
        default=DEFAULT_TENANT,
        sa_column=Column(String(32), nullable=False, server_default=DEFAULT_TENANT),
    )
    question: str = Col(sa_column=Column(Text, nullable=False))
    answer: str = Col(sa_column=Column(Text, nullable=False))
    category: str = Col(max_length=40)
    keywords: list[str] = Col(default_factory=list, sa_column=Column(JSON, nullable=False))
    valid_from: datetime | None = _utc(nullable=True)
    valid_until: datetime | None = _utc(nullable=True)
    # The department that answers for what it says; None: the centre's QA.
    owner_department: str | None = Col(default=None, max_length=64, index=True)
    status: str = Col(max_length=16)
    version: int = Col(default=1)
    written_by: str = Col(max_length=64)
    written_at: datetime = _utc(nullable=False)
    updated_by: str = Col(max_length=64)
    updated_at: datetime = _utc(nullable=False)
    approved_by: str | None = Col(default=None, max_length=64)
    approved_at: datetime | None = _utc(nullable=True)
    # Why it was last returned for changes or retired.
    note: str | None = Col(default=None, sa_column=Column(Text, nullable=True))
    # A department's reply QA marked as a model answer: the complaint it answered.
    from_complaint_id: str | None = Col(default=None, max_length=36)
    words: str = Col(sa_column=Column(Text, nullable=False))
    more_words: str = Col(sa_column=Column(Text, nullable=False, server_default=""))
    document: Any = Col(
        default=None, sa_column=Column(TSVECTOR, Computed(DOCUMENT_SQL, persisted=True))
    )


# --- API schemas ----------------------------------------------------------------------


def _cleaned(value: str) -> str:
    """A question or an answer as `clean_text` leaves it, at least two characters."""
    cleaned = clean_text(value)
    if len(cleaned) < 2:
        raise ValueError("too short: at least 2 characters")
    return cleaned


def _keywords(value: list[str]) -> list[str]:
    """Each keyword on one line, once, none empty, none too long."""
    found: dict[str, None] = {}
    for raw in value:
        word = " ".join(clean_text(raw).split())
        if not word:
            continue
        if len(word) > KEYWORD_MAX:
            raise ValueError(f"{word[:10]}…: a keyword has at most {KEYWORD_MAX} characters")
        found[word] = None
    return list(found)


_Question = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=QUESTION_MAX),
    AfterValidator(_cleaned),
]
_Answer = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=2, max_length=ANSWER_MAX),
    AfterValidator(_cleaned),
]
_Keywords = Annotated[list[str], Field(max_length=KEYWORDS_MAX), AfterValidator(_keywords)]
_Department = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^\S+$")
]


class ArticleBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: _Question = Field(
        description="The caller's question as agents hear it",
        examples=["A市冬天有没有集中供暖？"],
    )
    answer: _Answer = Field(
        description="What the agent tells the caller",
        examples=["A市不在国家集中供暖范围内，目前没有统一供暖的规划……"],
    )
    category: str = Field(description="A category id of the client (GET /categories)")
    keywords: _Keywords = Field(
        default_factory=list,
        description=f"Words callers use for it, at most {KEYWORDS_MAX} of "
        f"{KEYWORD_MAX} characters each",
        examples=[["集中供暖", "暖气"]],
    )
    valid_from: IsoDateTime | None = Field(
        default=None, description="Agents see it from then (with a UTC offset); none: at once"
    )
    valid_until: IsoDateTime | None = Field(
        default=None, description="Agents no longer see it from then; none: until retired"
    )
    owner_department: _Department | None = Field(
        default=None,
        description="The department that answers for it; a department's own clerk writes "
        "for their department only (left out: theirs)",
    )

    def window_problem(self) -> str | None:
        """Why the window of validity is refused, or None."""
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            return "must be later than valid_from"
        return None


class ArticleCreate(ArticleBase):
    tenant: str | None = Field(
        default=None,
        pattern=TENANT_PATTERN,
        description="The client whose agents read it (GET /tenants); left out: the writer's "
        "own client, else the only one",
    )


class ArticleUpdate(ArticleBase):
    version: int | None = Field(
        default=None,
        ge=1,
        description="The version the edit was made on: refused (409) if someone has edited "
        "it since",
    )


class ModelAnswerCreate(BaseModel):
    """A department's reply QA marks as a model answer: a draft article with its words."""

    model_config = ConfigDict(extra="forbid")

    complaint_id: str = Field(
        min_length=1,
        max_length=64,
        description="The complaint whose reply it is: its id or reference",
        examples=["TS20261122-000123"],
    )
    history_seq: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="Which reply, by the lifecycle history entry that gave it; left out: the "
        "latest",
    )
    question: _Question = Field(
        description="The question the reply answers, as other callers will ask it",
        examples=["小区停水多久能恢复？"],
    )
    keywords: _Keywords = Field(default_factory=list)
    category: str | None = Field(
        default=None, description="A category id; left out: the complaint's"
    )


class StepBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = Field(
        default=None, description="Why (a return for changes, a retirement)"
    )


class ArticleRead(BaseModel):
    id: int
    tenant: str
    question: str
    answer: str
    category: str
    keywords: list[str]
    valid_from: datetime | None
    valid_until: datetime | None
    owner_department: str | None
    status: ArticleStatus
    version: int
    written_by: str
    written_at: datetime
    updated_by: str
    updated_at: datetime
    approved_by: str | None
    approved_at: datetime | None
    note: str | None
    from_complaint_id: str | None = None
    valid_now: bool = Field(description="Approved and within its window: agents see it")
    allowed_steps: list[ArticleStep] = Field(
        default_factory=list, description="What the reader may do with it now"
    )


class ArticlePage(BaseModel):
    items: list[ArticleRead]


class Suggestion(BaseModel):
    """An article that may answer what the caller is saying, and why."""

    article: ArticleRead
    score: float = Field(description="0 to 1: how much of its question and keywords the text has")
    shared_words: list[str] = Field(description="Its telling words the text has, most first")
    same_category: bool = Field(description="Filed under the category the agent chose")


class SuggestionPage(BaseModel):
    items: list[Suggestion]
    tenant: str
