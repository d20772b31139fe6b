"""Database reads for staffing; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from services.analytics.facts.service import facts
from services.analytics.reports.service import NOT_STAFF
from shared.vocabulary import Channel


def arrival_times(
    session: Session, *, start: date, end: date, tenant: str | None
) -> Iterator[datetime]:
    """When each call that became a complaint came in, from the centre's day `start`
    up to (not including) `end`: the phone channel's, every caller counted (a duplicate
    merged into another complaint was a call all the same), history loaded from an older
    system too (it carries the time the call came)."""
    c = facts.c
    query = select(c.registered_at).where(
        c.registered_day >= start,
        c.registered_day < end,
        c.channel == Channel.PHONE.value,
        *([] if tenant is None else [c.tenant == tenant]),
    )
    for (at,) in session.execute(query.execution_options(yield_per=5000)):
        yield at


def registrations(session: Session, *, since: datetime) -> list[Any]:
    """(agent, tenant, registered_at) of every complaint a member of staff registered
    here since `since`, by agent and time: every client's, since an agent's next call
    may be another client's."""
    c = facts.c
    return list(
        session.execute(
            select(c.registered_by, c.tenant, c.registered_at)
            .where(
                c.registered_at >= since,
                c.registered_by.is_not(None),
                c.imported.is_(False),
                or_(c.registered_by_role.is_(None), c.registered_by_role.not_in(NOT_STAFF)),
            )
            .order_by(c.registered_by, c.registered_at)
        )
    )
