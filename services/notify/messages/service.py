"""Database reads and writes for messages, opt-outs and contacts; the caller owns the
transaction."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.notify.messages.models import DUE, RANK, Contact, Message, OptOut

messages = Message.__table__  # type: ignore[attr-defined]
opt_outs = OptOut.__table__  # type: ignore[attr-defined]
contacts = Contact.__table__  # type: ignore[attr-defined]

FINAL = tuple(s for s, rank in RANK.items() if rank == 4)


def _insert(session: Session, table: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# --- messages -------------------------------------------------------------------------


def add_messages(session: Session, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Store new messages; a row whose dedupe key is already there is left out. Returns
    the ids stored."""
    if not rows:
        return []
    stmt = (
        _insert(session, messages)
        .values(list(rows))
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(messages.c.id)
    )
    return [row.id for row in session.execute(stmt)]


def get_message(session: Session, message_id: str, *, for_update: bool = False) -> Any:
    query = select(messages).where(messages.c.id == message_id)
    if for_update:
        query = query.with_for_update()
    return session.execute(query).first()


def get_by_provider_id(
    session: Session, provider: str, provider_message_id: str, *, for_update: bool = False
) -> Any:
    query = select(messages).where(
        messages.c.provider == provider, messages.c.provider_message_id == provider_message_id
    )
    if for_update:
        query = query.with_for_update()
    return session.execute(query).first()


def get_by_dedupe_key(session: Session, key: str) -> Any:
    return session.execute(select(messages).where(messages.c.dedupe_key == key)).first()


def claim_due(session: Session, *, now: datetime, limit: int, lease: timedelta) -> list[Any]:
    """Take up to `limit` messages that are due (pending or to reconcile), and those a
    sender took and never finished (its lease ran out), for this sender."""
    m = messages.c
    due = and_(m.status.in_(DUE), m.due_at <= now)
    abandoned = and_(m.status == "sending", m.lease_until < now)
    ids = (
        select(m.id).where(or_(due, abandoned)).order_by(m.due_at, m.created_at, m.id).limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        ids = ids.with_for_update(skip_locked=True)
    chosen = [row.id for row in session.execute(ids)]
    if not chosen:
        return []
    rows = list(
        session.execute(
            select(messages).where(m.id.in_(chosen)).order_by(m.due_at, m.created_at, m.id)
        )
    )
    session.execute(
        update(messages)
        .where(m.id.in_(chosen))
        .values(lease_until=now + lease, updated_at=now, status="sending")
    )
    return rows


def next_due(session: Session) -> datetime | None:
    """When the next waiting message falls due (a retry, the end of quiet hours)."""
    m = messages.c
    return session.execute(select(func.min(m.due_at)).where(m.status.in_(DUE))).scalar()


def update_message(session: Session, message_id: str, **values: Any) -> None:
    session.execute(update(messages).where(messages.c.id == message_id).values(**values))


def advance(session: Session, message_id: str, status: str, **values: Any) -> bool:
    """Move a message to `status` only if that is forward; False if it was not."""
    lower = [s for s, rank in RANK.items() if rank < RANK[status]]
    result = session.execute(
        update(messages)
        .where(messages.c.id == message_id, messages.c.status.in_(lower))
        .values(status=status, **values)
    )
    return bool(result.rowcount)


def sent_to_since(session: Session, *, phone: str, since: datetime) -> int:
    """Non-urgent staff notices counted against a phone's rate limit since `since`."""
    m = messages.c
    return int(
        session.execute(
            select(func.count()).where(
                m.phone == phone,
                m.direction == "out",
                m.created_at >= since,
                m.urgent.is_(False),
                m.audience != "customer",
                m.status.not_in(("held", "digested", "suppressed")),
            )
        ).scalar_one()
    )


def held_phones(session: Session, *, before: datetime) -> list[str]:
    """Phones whose oldest held notice has waited since before `before`."""
    m = messages.c
    return [
        row.phone
        for row in session.execute(
            select(m.phone)
            .where(m.status == "held")
            .group_by(m.phone)
            .having(func.min(m.created_at) < before)
        )
    ]


def held_for(session: Session, phone: str) -> list[Any]:
    m = messages.c
    return list(
        session.execute(
            select(messages)
            .where(m.phone == phone, m.status == "held")
            .order_by(m.created_at, m.id)
            .with_for_update()
        )
    )


def mark_digested(session: Session, ids: Sequence[str], digest_id: str, now: datetime) -> None:
    session.execute(
        update(messages)
        .where(messages.c.id.in_(list(ids)), messages.c.status == "held")
        .values(status="digested", digest_id=digest_id, finished_at=now, updated_at=now)
    )


def newest_prompt(
    session: Session, *, phone: str, since: datetime, reference: str | None = None
) -> Any:
    """The newest message to this phone that asked for a reply (naming `reference`, if
    given) and went out, or None."""
    m = messages.c
    query = select(messages).where(
        m.phone == phone,
        m.direction == "out",
        m.reply_kind.is_not(None),
        m.created_at >= since,
        m.status.not_in(("failed", "suppressed", "held", "digested")),
    )
    if reference is not None:
        query = query.where(m.reference == reference)
    return session.execute(query.order_by(m.created_at.desc(), m.id.desc()).limit(1)).first()


def newest_about_a_complaint(session: Session, *, phone: str, since: datetime) -> Any:
    """The newest message to this phone that was about a complaint, or None."""
    m = messages.c
    query = (
        select(messages)
        .where(
            m.phone == phone,
            m.direction == "out",
            m.complaint_id.is_not(None),
            m.created_at >= since,
        )
        .order_by(m.created_at.desc(), m.id.desc())
        .limit(1)
    )
    return session.execute(query).first()


def encode_cursor(created_at: datetime, message_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), message_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    when, message_id = json.loads(raw)
    return datetime.fromisoformat(when), str(message_id)


def list_messages(
    session: Session,
    *,
    complaint_id: str | None,
    phone: str | None,
    status: str | None,
    after: tuple[datetime, str] | None,
    limit: int,
    department_id: str | None = None,
) -> list[Any]:
    """Newest first, a page at a time; `department_id` keeps only that department's."""
    m = messages.c
    query = select(messages)
    if department_id is not None:
        query = query.where(m.department_id == department_id)
    if complaint_id is not None:
        query = query.where(m.complaint_id == complaint_id)
    if phone is not None:
        query = query.where(m.phone == phone)
    if status is not None:
        query = query.where(m.status == status)
    if after is not None:
        when, message_id = after
        query = query.where(or_(m.created_at < when, and_(m.created_at == when, m.id < message_id)))
    query = query.order_by(m.created_at.desc(), m.id.desc()).limit(limit)
    return list(session.execute(query))


# --- opt-outs -------------------------------------------------------------------------


def opted_out(session: Session, phone: str) -> bool:
    return (
        session.execute(select(opt_outs.c.phone).where(opt_outs.c.phone == phone)).first()
        is not None
    )


def opt_out(session: Session, *, phone: str, keyword: str, now: datetime) -> bool:
    """Record the opt-out; False if the phone had already opted out."""
    stmt = (
        _insert(session, opt_outs)
        .values(phone=phone, keyword=keyword[:20], opted_out_at=now)
        .on_conflict_do_nothing(index_elements=["phone"])
        .returning(opt_outs.c.phone)
    )
    return session.execute(stmt).first() is not None


def opt_in(session: Session, *, phone: str) -> bool:
    """Forget the opt-out; False if there was none."""
    return bool(session.execute(delete(opt_outs).where(opt_outs.c.phone == phone)).rowcount)


# --- contacts -------------------------------------------------------------------------


def save_contact(session: Session, values: dict[str, Any]) -> None:
    stmt = _insert(session, contacts).values(**values)
    stmt = stmt.on_conflict_do_nothing(index_elements=["complaint_id"])
    session.execute(stmt)


def get_contact(session: Session, complaint_id: str) -> Any:
    return session.execute(select(contacts).where(contacts.c.complaint_id == complaint_id)).first()
