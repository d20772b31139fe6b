"""The knowledge base's articles from intake's events, and the hot issues none of them
answers: what QA should have written down next.

An issue is answered by an article of its own client that agents read now and whose
question or keywords hold one of the issue's most telling problem words (停水 for
"阳光花园：停水"), both cut into words the same way (text.tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.analytics.knowledge.models import ArticleCopy
from services.analytics.text.tokens import tokens
from shared.consumer import Refused
from shared.contracts import ArticleApproved, ArticleWithdrawn
from shared.db import table_of
from shared.events import Event

articles = table_of(ArticleCopy)
# The issue's words that must be in an article for it to answer the issue: its most
# telling ones (an issue's label names two).
TELLING = 2


def _insert(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(articles)
    return sqlite.insert(articles)


def _keep(session: Session, row: dict[str, Any]) -> None:
    """Write the article's row unless a later change of it is already there. An event
    naming another client than the article's is refused whole."""
    held = session.execute(
        select(articles.c.tenant).where(articles.c.article_id == row["article_id"])
    ).scalar_one_or_none()
    if held is not None and held != row["tenant"]:
        raise Refused(
            f"the event names client '{row['tenant']}' for article {row['article_id']}, "
            f"which is '{held}'s",
            error_class="tenant",
        )
    stmt = _insert(session).values(**row)
    changed = {k: stmt.excluded[k] for k in row if k != "article_id"}
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[articles.c.article_id],
            set_=changed,
            where=articles.c.changed_at < stmt.excluded.changed_at,
        )
    )


def on_approved(session: Session, event: Event[Any]) -> None:
    p: ArticleApproved = event.payload
    text = " ".join([p.question, *p.keywords])
    _keep(
        session,
        {
            "article_id": p.article_id,
            "tenant": event.envelope.tenant,
            "category": p.category,
            "question": p.question,
            "words": " ".join(dict.fromkeys(tokens(text))),
            "approved": True,
            "valid_from": p.valid_from,
            "valid_until": p.valid_until,
            "changed_at": p.changed_at,
        },
    )


def on_withdrawn(session: Session, event: Event[Any]) -> None:
    p: ArticleWithdrawn = event.payload
    # Read first when its approval comes later (the events have no order between them):
    # kept, unread by agents, until then.
    _keep(
        session,
        {
            "article_id": p.article_id,
            "tenant": event.envelope.tenant,
            "category": "",
            "question": "",
            "words": "",
            "approved": False,
            "valid_from": None,
            "valid_until": None,
            "changed_at": p.changed_at,
        },
    )


def read_now(session: Session, *, now: datetime, tenant: str | None) -> list[Any]:
    """The articles agents read at `now`, of one client or of each."""
    a = articles.c
    query = select(articles).where(
        a.approved.is_(True),
        or_(a.valid_from.is_(None), a.valid_from <= now),
        or_(a.valid_until.is_(None), a.valid_until > now),
    )
    if tenant is not None:
        query = query.where(a.tenant == tenant)
    return list(session.execute(query.order_by(a.article_id)))


def answering(issue: dict[str, Any], read: Sequence[Any]) -> list[Any]:
    """The articles of the issue's client that answer it."""
    telling = set(issue["words"][:TELLING])
    return [a for a in read if a.tenant == issue.get("tenant") and telling & set(a.words.split())]


def gaps(issues: Sequence[dict[str, Any]], read: Sequence[Any]) -> dict[str, list[Any]]:
    """The issues no article answers (to write), and those answered, with their articles."""
    to_write, answered = [], []
    for issue in issues:
        found = answering(issue, read)
        shown = {k: issue[k] for k in _SHOWN if k in issue}
        if found:
            shown["articles"] = [
                {"article_id": a.article_id, "question": a.question} for a in found
            ]
            answered.append(shown)
        else:
            to_write.append(shown)
    return {"to_write": to_write, "answered": answered}


# What QA reads of each issue: what it is, how many it troubles, where they are.
_SHOWN = (
    "key",
    "tenant",
    "label",
    "place",
    "words",
    "callers",
    "complaints",
    "heat",
    "first_at",
    "last_at",
    "categories",
    "departments",
    "examples",
    "references",
)
