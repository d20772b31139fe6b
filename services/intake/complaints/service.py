"""Database reads and writes for complaints and customers; the caller owns the transaction."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.intake.complaints.models import (
    Complaint,
    Customer,
    CustomerFile,
    Feedback,
    IdempotencyKey,
    ImportedRow,
    Note,
    ReferenceCounter,
)
from shared.db import rowcount, table_of
from shared.vocabulary import State

complaints = table_of(Complaint)
customers = table_of(Customer)
feedback_t = table_of(Feedback)
notes_t = table_of(Note)
idempotency = table_of(IdempotencyKey)
counters = table_of(ReferenceCounter)
imported_rows = table_of(ImportedRow)

NUMBER_SEQUENCE = "complaint_number_seq"


def _dialect_insert(session: Session, table: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def next_number(session: Session) -> int:
    """A number never handed out before: a sequence on PostgreSQL, a counter row on SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return int(session.execute(text(f"SELECT nextval('{NUMBER_SEQUENCE}')")).scalar_one())
    stmt = (
        _dialect_insert(session, counters)
        .values(name="complaint", last=1)
        .on_conflict_do_update(index_elements=["name"], set_={"last": counters.c.last + 1})
        .returning(counters.c.last)
    )
    return int(session.execute(stmt).scalar_one())


def get_idempotency(session: Session, *, staff_id: str, key: str) -> Any:
    """The stored answer for this caller's key, or None."""
    return session.execute(
        select(idempotency).where(idempotency.c.staff_id == staff_id, idempotency.c.key == key)
    ).first()


def claim_idempotency(
    session: Session,
    *,
    staff_id: str,
    key: str,
    request_hash: str,
    complaint_id: str,
    response: dict[str, Any],
    now: datetime,
) -> bool:
    """Record the key; False if a concurrent request with the same key got there first."""
    stmt = (
        _dialect_insert(session, idempotency)
        .values(
            staff_id=staff_id,
            key=key,
            request_hash=request_hash,
            complaint_id=complaint_id,
            status_code=201,
            response=response,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["staff_id", "key"])
        .returning(idempotency.c.key)
    )
    return session.execute(stmt).first() is not None


def purge_idempotency(session: Session, *, before: datetime) -> int:
    result = session.execute(idempotency.delete().where(idempotency.c.created_at < before))
    return rowcount(result)


def customer_file(
    session: Session, *, customer_key: str, now: datetime, window_days: int, repeat_min: int
) -> CustomerFile:
    """Counts over the caller's earlier complaints (one indexed range scan)."""
    since = now - timedelta(days=window_days)
    row = session.execute(
        select(
            func.count().label("total"),
            func.coalesce(func.sum(case((complaints.c.status != State.CLOSED, 1), else_=0)), 0),
            func.coalesce(func.sum(case((complaints.c.registered_at >= since, 1), else_=0)), 0),
            func.max(complaints.c.registered_at),
        ).where(complaints.c.customer_key == customer_key)
    ).one()
    total, open_, recent, last = int(row[0]), int(row[1]), int(row[2]), row[3]
    return CustomerFile(
        open_complaints=open_,
        complaints_last_30_days=recent,
        total_complaints=total,
        repeat=recent >= repeat_min,
        last_complaint_at=last,
    )


def upsert_customer(
    session: Session,
    *,
    key: str,
    phone: str | None,
    external_ref: str | None,
    name: str | None,
    at: datetime,
) -> None:
    stmt = _dialect_insert(session, customers).values(
        key=key,
        phone=phone,
        external_ref=external_ref,
        name=name,
        first_seen_at=at,
        last_complaint_at=at,
        complaint_count=1,
    )
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "name": func.coalesce(excluded.name, customers.c.name),
            "first_seen_at": func.least(customers.c.first_seen_at, excluded.first_seen_at)
            if session.get_bind().dialect.name == "postgresql"
            else func.min(customers.c.first_seen_at, excluded.first_seen_at),
            "last_complaint_at": func.greatest(
                customers.c.last_complaint_at, excluded.last_complaint_at
            )
            if session.get_bind().dialect.name == "postgresql"
            else func.max(customers.c.last_complaint_at, excluded.last_complaint_at),
            "complaint_count": customers.c.complaint_count + 1,
        },
    )
    session.execute(stmt)


def insert_complaint(session: Session, row: dict[str, Any]) -> None:
    session.execute(insert(complaints), [row])


def get_complaint(session: Session, complaint_id: str) -> Any:
    return session.execute(select(complaints).where(complaints.c.id == complaint_id)).first()


def get_complaint_by_reference(session: Session, reference: str) -> Any:
    return session.execute(select(complaints).where(complaints.c.reference == reference)).first()


def get_customer_by_phone(session: Session, phone: str) -> Any:
    return session.execute(select(customers).where(customers.c.key == phone)).first()


def complaints_of(session: Session, customer_key: str, *, limit: int = 50) -> list[Any]:
    return list(
        session.execute(
            select(complaints)
            .where(complaints.c.customer_key == customer_key)
            .order_by(complaints.c.registered_at.desc(), complaints.c.id.desc())
            .limit(limit)
        )
    )


def encode_cursor(registered_at: datetime, complaint_id: str) -> str:
    raw = json.dumps([registered_at.isoformat(), complaint_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """Raises ValueError on anything that is not a cursor this service handed out."""
    padded = cursor + "=" * (-len(cursor) % 4)
    at, cid = json.loads(base64.urlsafe_b64decode(padded.encode()))
    when = datetime.fromisoformat(at)
    if when.tzinfo is None or not isinstance(cid, str):
        raise ValueError("malformed cursor")
    return when, cid


def list_complaints(
    session: Session,
    *,
    phone: str | None = None,
    status: str | None = None,
    category: str | None = None,
    department_id: str | None = None,
    text: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[Any]:
    """Newest first; `after` is the (registered_at, id) of the last row already seen.
    `text` matches the reference exactly, or a part of the description or the name."""
    stmt = select(complaints)
    if text:
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                complaints.c.reference == text.upper(),
                complaints.c.description.ilike(pattern, escape="\\"),
                complaints.c.customer_name.ilike(pattern, escape="\\"),
            )
        )
    if phone:
        stmt = stmt.where(complaints.c.customer_key == phone)
    if status:
        stmt = stmt.where(complaints.c.status == status)
    if category:
        stmt = stmt.where(complaints.c.category == category)
    if department_id:
        stmt = stmt.where(complaints.c.department_id == department_id)
    if since:
        stmt = stmt.where(complaints.c.registered_at >= since)
    if until:
        stmt = stmt.where(complaints.c.registered_at < until)
    if after:
        at, cid = after
        stmt = stmt.where(
            or_(
                complaints.c.registered_at < at,
                and_(complaints.c.registered_at == at, complaints.c.id < cid),
            )
        )
    stmt = stmt.order_by(complaints.c.registered_at.desc(), complaints.c.id.desc()).limit(limit)
    return list(session.execute(stmt))


def add_feedback(session: Session, row: dict[str, Any]) -> int:
    return int(session.execute(insert(feedback_t).returning(feedback_t.c.id), [row]).scalar_one())


def feedback_of(session: Session, complaint_id: str) -> list[Any]:
    return list(
        session.execute(
            select(feedback_t)
            .where(feedback_t.c.complaint_id == complaint_id)
            .order_by(feedback_t.c.id)
        )
    )


def add_note(session: Session, row: dict[str, Any]) -> int:
    return int(session.execute(insert(notes_t).returning(notes_t.c.id), [row]).scalar_one())


def notes_of(session: Session, complaint_id: str) -> list[Any]:
    return list(
        session.execute(
            select(notes_t).where(notes_t.c.complaint_id == complaint_id).order_by(notes_t.c.id)
        )
    )


def apply_status(
    session: Session,
    *,
    complaint_id: str,
    seq: int,
    status: str,
    at: datetime,
    holder_staff_id: str | None,
    department_id: str | None,
    closure_reason: str | None,
) -> bool:
    """Move the read copy forward; an older or repeated event (lower seq) changes nothing."""
    result = session.execute(
        update(complaints)
        .where(complaints.c.id == complaint_id, complaints.c.status_seq < seq)
        .values(
            status=status,
            status_seq=seq,
            status_updated_at=at,
            holder_staff_id=holder_staff_id,
            department_id=department_id,
            closure_reason=closure_reason,
        )
    )
    return bool(rowcount(result))


def claim_import_row(
    session: Session, *, source: str, row_hash: str, complaint_id: str, now: datetime
) -> bool:
    """Record an imported row; False if that row was imported before."""
    stmt = (
        _dialect_insert(session, imported_rows)
        .values(source=source, row_hash=row_hash, complaint_id=complaint_id, imported_at=now)
        .on_conflict_do_nothing(index_elements=["source", "row_hash"])
        .returning(imported_rows.c.row_hash)
    )
    return session.execute(stmt).first() is not None
