"""Database reads and writes of the knowledge base; the caller owns the transaction.

Articles are found by their words as complaints are (search.service): on PostgreSQL
through their tsvector, on SQLite by the words themselves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal, literal_column, or_, select, update
from sqlalchemy.orm import Session

from services.intake.knowledge.models import Article
from services.intake.search.words import Query, matches
from shared.db import table_of
from shared.vocabulary import ArticleStatus

articles = table_of(Article)
# Every column but the tsvector, which only PostgreSQL has (and nobody reads).
_READ = [c for c in articles.c if c.name != "document"]
_SIMPLE: Any = literal_column("'simple'::regconfig")
# A base of a few hundred articles a client: a query never needs more to rank.
CANDIDATES = 200


def add(session: Session, row: dict[str, Any]) -> int:
    return int(
        session.execute(articles.insert().values(**row).returning(articles.c.id)).scalar_one()
    )


def get(session: Session, article_id: int, *, for_update: bool = False) -> Any:
    query = select(*_READ).where(articles.c.id == article_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.execute(query).first()


def change(session: Session, article_id: int, values: dict[str, Any]) -> None:
    session.execute(update(articles).where(articles.c.id == article_id).values(**values))


def valid_at(now: datetime) -> ColumnElement[bool]:
    """Approved, and within its window of validity at `now`: what agents read."""
    a = articles.c
    return and_(
        a.status == ArticleStatus.APPROVED,
        or_(a.valid_from.is_(None), a.valid_from <= now),
        or_(a.valid_until.is_(None), a.valid_until > now),
    )


def listed(
    session: Session,
    conditions: Sequence[ColumnElement[bool]],
    *,
    query: Query | None = None,
    limit: int = 100,
) -> list[Any]:
    """Articles meeting `conditions` (and holding every word of `query`), most recently
    changed first."""
    a = articles.c
    stmt = select(*_READ).where(*conditions)
    postgres = session.get_bind().dialect.name == "postgresql"
    if query and postgres:
        stmt = stmt.where(a.document.op("@@")(func.to_tsquery(_SIMPLE, literal(query.tsquery()))))
    stmt = stmt.order_by(a.updated_at.desc(), a.id.desc())
    if query and not postgres:
        rows = [r for r in session.execute(stmt) if matches(query, _words_of(r))]
        return rows[:limit]
    return list(session.execute(stmt.limit(limit)))


def holding_any(
    session: Session,
    terms: Sequence[str],
    conditions: Sequence[ColumnElement[bool]],
    *,
    limit: int = CANDIDATES,
) -> list[Any]:
    """Articles meeting `conditions` that hold any of `terms`, those holding most of them
    first (PostgreSQL: by ts_rank_cd)."""
    if not terms:
        return []
    a = articles.c
    if session.get_bind().dialect.name == "postgresql":
        tsq = func.to_tsquery(_SIMPLE, literal(" | ".join(terms)))
        return list(
            session.execute(
                select(*_READ)
                .where(*conditions, a.document.op("@@")(tsq))
                .order_by(func.ts_rank_cd(a.document, tsq, 1).desc(), a.id)
                .limit(limit)
            )
        )
    spaced = " " + a.words + " " + a.more_words + " "
    rows = session.execute(
        select(*_READ).where(*conditions, or_(*(spaced.like(f"% {w} %") for w in terms)))
    )
    wanted = set(terms)
    scored = sorted(rows, key=lambda r: (-len(wanted & set(_words_of(r))), r.id))
    return scored[:limit]


def _words_of(row: Any) -> list[str]:
    return f"{row.words} {row.more_words}".split()
