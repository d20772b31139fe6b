"""Database reads and writes for complaints and customers; the caller owns the transaction."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
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
    Urge,
)
from shared.db import rowcount, table_of
from shared.tenants import DEFAULT_TENANT, tenants
from shared.vocabulary import State

complaints = table_of(Complaint)
customers = table_of(Customer)
feedback_t = table_of(Feedback)
notes_t = table_of(Note)
idempotency = table_of(IdempotencyKey)
counters = table_of(ReferenceCounter)
imported_rows = table_of(ImportedRow)
urges_t = table_of(Urge)


def _dialect_insert(session: Session, table: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def purge_idempotency(session: Session, *, before: datetime) -> int:
    return rowcount(session.execute(idempotency.delete().where(idempotency.c.created_at < before)))


def file_counts() -> Select[int, int, int, Any]:
    """The caller's earlier complaints in figures (one indexed range scan): total, open,
    registered since `:since`, and when the latest was; for `:customer_key`."""
    c = complaints.c
    return select(
        func.count().label("total"),
        func.count().filter(c.status != State.CLOSED).label("open"),
        func.count().filter(c.registered_at >= bindparam("since")).label("recent"),
        func.max(c.registered_at).label("last"),
    ).where(c.customer_key == bindparam("customer_key"))


_FILE_COUNTS = file_counts()


def file_of(counts: Sequence[Any], *, repeat_min: int) -> CustomerFile:
    """The file from `file_counts`' row."""
    total, open_, recent, last = counts
    return CustomerFile(
        open_complaints=int(open_),
        complaints_last_30_days=int(recent),
        total_complaints=int(total),
        repeat=int(recent) >= repeat_min,
        last_complaint_at=last,
    )


def customer_file(
    session: Session, *, customer_key: str, now: datetime, window_days: int, repeat_min: int
) -> CustomerFile:
    since = now - timedelta(days=window_days)
    counts = session.execute(_FILE_COUNTS, {"customer_key": customer_key, "since": since}).one()
    return file_of(counts, repeat_min=repeat_min)


def file_together(files: Sequence[CustomerFile], *, repeat_min: int) -> CustomerFile:
    """One caller's files with several clients, read as one (the centre's view)."""
    if len(files) == 1:
        return files[0]
    recent = sum(f.complaints_last_30_days for f in files)
    lasts = [f.last_complaint_at for f in files if f.last_complaint_at is not None]
    return CustomerFile(
        open_complaints=sum(f.open_complaints for f in files),
        complaints_last_30_days=recent,
        total_complaints=sum(f.total_complaints for f in files),
        repeat=recent >= repeat_min,
        last_complaint_at=max(lasts) if lasts else None,
    )


def tenant_of(session: Session, complaint_id: str) -> str | None:
    """The client a complaint was made to, or None when there is no such complaint."""
    found = session.execute(
        select(complaints.c.tenant).where(complaints.c.id == complaint_id)
    ).scalar_one_or_none()
    return str(found) if found is not None else None


def get_complaint(session: Session, complaint_id: str) -> Any:
    return session.execute(select(complaints).where(complaints.c.id == complaint_id)).first()


def get_complaint_by_reference(session: Session, reference: str) -> Any:
    return session.execute(select(complaints).where(complaints.c.reference == reference)).first()


def find_complaint(session: Session, id_or_reference: str) -> Any:
    """By id, or by the reference people read out (TS20261122-000123)."""
    row = get_complaint(session, id_or_reference)
    return row if row is not None else get_complaint_by_reference(session, id_or_reference)


def ids_of(session: Session, id_or_reference: str) -> list[str]:
    """The id of the complaint named by its id or reference, if there is one."""
    row = find_complaint(session, id_or_reference)
    return [str(row.id)] if row is not None else []


def customer_key(tenant: str, phone_or_ref: str) -> str:
    """The key of a caller's file with one client: their phone (or `ref:<id>`), prefixed
    by the client unless it is the default one, whose files kept their keys."""
    return phone_or_ref if tenant == DEFAULT_TENANT else f"{tenant}|{phone_or_ref}"


def customer_keys(phone_or_ref: str, tenant: str | None) -> list[str]:
    """The keys of a caller's files: with one client, or with every client (None)."""
    ids = [tenant] if tenant is not None else tenants().ids
    return [customer_key(t, phone_or_ref) for t in ids]


def customers_by_keys(session: Session, keys: Sequence[str]) -> list[Any]:
    return list(session.execute(select(customers).where(customers.c.key.in_(list(keys)))))


def complaints_of(session: Session, keys: Sequence[str], *, limit: int = 50) -> list[Any]:
    return list(
        session.execute(
            select(complaints)
            .where(complaints.c.customer_key.in_(list(keys)))
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
    reference: str | None = None,
    phone: Sequence[str] = (),
    tenant: str | None = None,
    status: str | None = None,
    category: str | None = None,
    department_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[Any]:
    """Newest first; `after` is the (registered_at, id) of the last row already seen.
    (A search by words is search.service.find.)"""
    stmt = select(complaints)
    if reference:
        stmt = stmt.where(complaints.c.reference == reference)
    if phone:
        stmt = stmt.where(complaints.c.customer_key.in_(list(phone)))
    if tenant:
        stmt = stmt.where(complaints.c.tenant == tenant)
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


def add_urge(session: Session, row: dict[str, Any]) -> int:
    return int(session.execute(insert(urges_t).returning(urges_t.c.id), [row]).scalar_one())


def urges_of(session: Session, complaint_id: str) -> list[Any]:
    return list(
        session.execute(
            select(urges_t).where(urges_t.c.complaint_id == complaint_id).order_by(urges_t.c.id)
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
    assisting: list[str] | None = None,
    tenant: str = DEFAULT_TENANT,
) -> bool:
    """Move the read copy forward; an older or repeated event (lower seq), or one naming
    another client than the complaint's, changes nothing."""
    result = session.execute(
        _APPLY_STATUS,
        {
            "s_id": complaint_id,
            "s_tenant": tenant,
            "s_status": status,
            "s_seq": seq,
            "s_at": at,
            "s_holder": holder_staff_id,
            "s_department": department_id,
            "s_closure": closure_reason,
            "s_assisting": f",{','.join(assisting)}," if assisting else None,
        },
    )
    return bool(rowcount(result))


# Built once: the worker runs it for every lifecycle event.
_APPLY_STATUS = (
    update(complaints)
    .where(
        complaints.c.id == bindparam("s_id"),
        complaints.c.status_seq < bindparam("s_seq"),
        complaints.c.tenant == bindparam("s_tenant"),
    )
    .values(
        status=bindparam("s_status"),
        status_seq=bindparam("s_seq"),
        status_updated_at=bindparam("s_at", type_=complaints.c.status_updated_at.type),
        holder_staff_id=bindparam("s_holder"),
        department_id=bindparam("s_department"),
        closure_reason=bindparam("s_closure"),
        assisting=bindparam("s_assisting"),
    )
)


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
