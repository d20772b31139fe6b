"""Database reads and writes for messages, opt-outs, complaint and staff contacts; the
caller owns the transaction."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.notify.messages.models import (
    DUE,
    RANK,
    Contact,
    DepartmentContact,
    DutyManagerSeen,
    Message,
    OptOut,
)
from shared.db import rowcount, table_of
from shared.tenants import DEFAULT_TENANT

messages = table_of(Message)
opt_outs = table_of(OptOut)
contacts = table_of(Contact)
duty_managers_seen = table_of(DutyManagerSeen)
department_contacts = table_of(DepartmentContact)

FINAL = tuple(s for s, rank in RANK.items() if rank == 4)


def _insert(session: Session, table: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


# The statements the consumer and the sender run for every message, built once per
# dialect: building one (and its cache key) costs as much as running it.
_statements: dict[tuple[str, str], Any] = {}


def _prepared(session: Session, name: str, build: Any) -> Any:
    key = (name, session.get_bind().dialect.name)
    stmt = _statements.get(key)
    if stmt is None:
        stmt = _statements[key] = build(postgresql if key[1] == "postgresql" else sqlite)
    return stmt


# --- messages -------------------------------------------------------------------------


def add_messages(session: Session, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Store new messages; a row whose dedupe key is already there is left out. Returns
    the ids stored."""
    if not rows:
        return []
    # One executemany per set of columns: the statement is then compiled once and cached
    # (a multi-row VALUES built per call is compiled anew every time).
    shapes: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in rows:
        shapes.setdefault(frozenset(row), []).append(row)
    stmt = _prepared(
        session,
        "add_messages",
        lambda dialect: (
            dialect.insert(messages)
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(messages.c.id)
        ),
    )
    return [row.id for same in shapes.values() for row in session.execute(stmt, same)]


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


def _claim_statements() -> tuple[Any, Any, Any]:
    """The sender's claim, built once: PostgreSQL's single statement, and SQLite's
    select of due ids and its lease (the rows are read between the two)."""
    m = messages.c
    now = bindparam("now", type_=m.due_at.type)
    limit = bindparam("limit", type_=Integer())
    due = and_(m.status.in_(DUE), m.due_at <= now)
    abandoned = and_(m.status == "sending", m.lease_until < now)
    order = (m.due_at, m.created_at, m.id)
    taken = {
        "lease_until": bindparam("lease_until", type_=m.lease_until.type),
        "updated_at": now,
        "status": "sending",
    }
    # PostgreSQL: lock the oldest due rows no other sender holds, lease them, and return
    # them with the status they had — one statement. The due rows and those of a dead
    # sender are looked for apart, each along its own partial index (ix_messages_due,
    # ix_messages_sending): one query for both would read the whole message log.
    picked = [m.id, m.status, *order[:2]]
    due_rows = (
        select(*picked)
        .where(due)
        .order_by(*order)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due_rows")
    )
    dead_rows = (
        select(*picked)
        .where(abandoned)
        .order_by(m.lease_until)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("dead_rows")
    )
    both = union_all(select(due_rows), select(dead_rows)).subquery("both_")
    chosen = (
        select(both.c.id, both.c.status)
        .order_by(both.c.due_at, both.c.created_at, both.c.id)
        .limit(limit)
        .cte("chosen")
    )
    columns = [chosen.c.status.label("status") if c.name == "status" else c for c in m]
    one = update(messages).where(m.id == chosen.c.id).values(**taken).returning(*columns)
    ids = select(m.id).where(or_(due, abandoned)).order_by(*order).limit(limit)
    lease = update(messages).where(m.id.in_(bindparam("ids", expanding=True))).values(**taken)
    return one, ids, lease


_CLAIM, _DUE_IDS, _LEASE = _claim_statements()


def claim_due(session: Session, *, now: datetime, limit: int, lease: timedelta) -> list[Any]:
    """Take up to `limit` messages that are due (pending or to reconcile), and those a
    sender took and never finished (its lease ran out), for this sender. The rows come
    as they were before (their status tells a first send from one to reconcile), oldest
    due first."""
    params = {"now": now, "lease_until": now + lease, "limit": limit}
    if session.get_bind().dialect.name == "postgresql":
        rows = list(session.execute(_CLAIM, params))
        rows.sort(key=lambda r: (r.due_at or now, r.created_at, r.id))
        return rows
    m = messages.c
    chosen = [row.id for row in session.execute(_DUE_IDS, params)]
    if not chosen:
        return []
    order = (m.due_at, m.created_at, m.id)
    rows = list(session.execute(select(messages).where(m.id.in_(chosen)).order_by(*order)))
    session.execute(_LEASE, {**params, "ids": chosen})
    return rows


_RELEASE = (
    update(messages)
    .where(messages.c.id == bindparam("m_id"), messages.c.status == "sending")
    .values(
        status=bindparam("m_status"), lease_until=bindparam("m_now"), updated_at=bindparam("m_now")
    )
)


def release(session: Session, rows: Sequence[Any], *, now: datetime) -> None:
    """Give claimed messages back as they were (one taken up from a dead sender, with its
    lease run out), unless something moved them since."""
    session.execute(_RELEASE, [{"m_id": r.id, "m_status": r.status, "m_now": now} for r in rows])


_NEXT_DUE = select(func.min(messages.c.due_at)).where(messages.c.status.in_(DUE))


def next_due(session: Session) -> datetime | None:
    """When the next waiting message falls due (a retry, the end of quiet hours)."""
    return session.execute(_NEXT_DUE).scalar()


def update_message(session: Session, message_id: str, **values: Any) -> None:
    session.execute(update(messages).where(messages.c.id == message_id).values(**values))


def _below(status: str) -> list[str]:
    """The statuses a message may move to `status` from: those of a lower rank."""
    return [s for s, rank in RANK.items() if rank < RANK[status]]


def _receipt_columns(status: str) -> tuple[str, ...]:
    """The columns a receipt that moves a message to `status` sets."""
    finished = ("finished_at",) if status in ("delivered", "failed") else ()
    error = ("last_error",) if status == "failed" else ()
    return ("status", "updated_at", *finished, *error)


def _receipt_values(status: str, now: datetime, error: str | None) -> dict[str, Any]:
    """What a receipt that moves a message to `status` sets."""
    given = {"status": status, "updated_at": now, "finished_at": now, "last_error": error}
    return {column: given[column] for column in _receipt_columns(status)}


def advance_by_receipt(
    session: Session,
    *,
    message_id: str | None,
    provider: str,
    provider_message_id: str | None,
    status: str,
    now: datetime,
    error: str | None = None,
) -> Any:
    """A delivery receipt in one statement: move our message (by its id, else by the
    provider's) to `status` if that is forward, learning the provider's id if it was not
    known yet. The message as it is now, or None when the receipt moved nothing (an old
    or repeated one, or a message not ours)."""
    m = messages.c
    values = _receipt_values(status, now, error)
    if provider_message_id:
        learns = m.provider_message_id.is_(None)
        values["provider"] = case((learns, provider), else_=m.provider)
        values["provider_message_id"] = case(
            (learns, provider_message_id), else_=m.provider_message_id
        )
    if message_id:
        which = m.id == message_id
    elif provider_message_id:
        which = (m.provider == provider) & (m.provider_message_id == provider_message_id)
    else:
        return None
    stmt = (
        update(messages)
        .where(which, m.direction == "out", m.status.in_(_below(status)))
        .values(**values)
        .returning(*messages.c)
    )
    return session.execute(stmt).first()


def advance_known(
    session: Session,
    message_ids: Sequence[str],
    *,
    status: str,
    now: datetime,
    error: str | None = None,
) -> list[Any]:
    """Receipts of one status for messages that know their provider id already (the
    usual case), in one statement: each message moves to `status` if that is forward.
    The messages moved, as they are now; a receipt that moved nothing is for
    `advance_by_receipt` to look at (a message to learn its provider id, another's id, an
    old receipt)."""
    stmt = _advance_known(status)
    values = _receipt_values(status, now, error)
    params = {f"r_{name}": value for name, value in values.items()}
    return list(session.execute(stmt, {**params, "r_ids": list(message_ids)}).all())


@functools.cache
def _advance_known(status: str) -> Any:
    """`advance_known`'s statement for a status, built once, the values as parameters."""
    m = messages.c
    sets = _receipt_columns(status)
    return (
        update(messages)
        .where(
            m.id.in_(bindparam("r_ids", expanding=True)),
            m.direction == "out",
            m.status.in_(_below(status)),
            m.provider_message_id.is_not(None),
        )
        .values(**{name: bindparam(f"r_{name}", type_=m[name].type) for name in sets})
        .returning(*messages.c)
    )


def _mark_submitted(state: str) -> Any:
    m = messages.c
    lower = _below(state)
    return (
        update(messages)
        .where(m.id == bindparam("m_id"))
        .values(
            status=case((or_(*(m.status == s for s in lower)), state), else_=m.status),
            provider=bindparam("m_provider"),
            provider_message_id=bindparam("m_provider_message_id"),
            submitted_at=bindparam("m_now", type_=m.submitted_at.type),
            attempts=bindparam("m_attempts"),
            lease_until=None,
            last_error=None,
            updated_at=bindparam("m_now", type_=m.updated_at.type),
        )
    )


_MARK_SUBMITTED = {state: _mark_submitted(state) for state in ("submitted", "sent", "delivered")}


def mark_submitted(
    session: Session, items: Sequence[dict[str, Any]], *, provider: str, now: datetime
) -> None:
    """The provider took these messages (each item: `id`, `state`, `provider_message_id`,
    `attempts`): record that, moving each to its state only if that is forward (a receipt
    may have taken it further already). One executemany per state, whatever the number."""
    by_state: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_state.setdefault(item["state"], []).append(
            {
                "m_id": item["id"],
                "m_provider": provider,
                "m_provider_message_id": item["provider_message_id"],
                "m_attempts": item["attempts"],
                "m_now": now,
            }
        )
    for state, params in by_state.items():
        stmt = _MARK_SUBMITTED.get(state)
        if stmt is None:
            stmt = _MARK_SUBMITTED[state] = _mark_submitted(state)
        session.execute(stmt, params)


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
                m.status.not_in(("held", "digested", "suppressed", "cancelled", "refused")),
            )
        ).scalar_one()
    )


# What counts against a number's daily cap: every outgoing message that went, or will go,
# to it; a held notice counts in the digest that carries it.
_NOT_SENDING = ("held", "digested", "suppressed", "cancelled", "refused")
_SENT_SINCE = select(func.count()).where(
    messages.c.phone == bindparam("phone"),
    messages.c.direction == "out",
    messages.c.created_at >= bindparam("since", type_=messages.c.created_at.type),
    messages.c.status.not_in(_NOT_SENDING),
)


def sent_since(session: Session, *, phone: str, since: datetime) -> int:
    """Outgoing messages to a phone written since `since` that went or will go to it."""
    return int(session.execute(_SENT_SINCE, {"phone": phone, "since": since}).scalar_one())


def held_phones(session: Session, *, before: datetime) -> list[tuple[str, str]]:
    """(phone, client) of the held notices whose oldest has waited since before
    `before`: each client's notices to a phone make digests of their own."""
    m = messages.c
    return [
        (row.phone, row.tenant)
        for row in session.execute(
            select(m.phone, m.tenant)
            .where(m.status == "held")
            .group_by(m.phone, m.tenant)
            .having(func.min(m.created_at) < before)
            .order_by(func.min(m.created_at))
        )
    ]


def held_for(session: Session, phone: str, tenant: str) -> list[Any]:
    m = messages.c
    return list(
        session.execute(
            select(messages)
            .where(m.phone == phone, m.tenant == tenant, m.status == "held")
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


def _of(tenants: Collection[str] | None) -> Any:
    """Messages of these clients (None: of any)."""
    return true() if tenants is None else messages.c.tenant.in_(list(tenants))


def _asked(phone: str, since: datetime, tenants: Collection[str] | None) -> Any:
    """Messages to this phone that asked for a reply and reached it (or are on their way):
    a held notice counts once it went out inside a digest; one waiting for the night to
    end, or one never sent, does not. Of these clients only, if given."""
    m = messages.c
    return and_(
        _of(tenants),
        m.phone == phone,
        m.direction == "out",
        m.reply_kind.is_not(None),
        m.created_at >= since,
        m.status.not_in(("failed", "suppressed", "held", "cancelled", "refused")),
        or_(m.status != "pending", m.held_reason.is_(None), m.held_reason != "quiet_hours"),
    )


def newest_prompt(
    session: Session,
    *,
    phone: str,
    since: datetime,
    reference: str | None = None,
    tenants: Collection[str] | None = None,
) -> Any:
    """The newest message to this phone that asked for a reply (naming `reference`, if
    given; of these clients, if given), or None."""
    m = messages.c
    query = select(messages).where(_asked(phone, since, tenants))
    if reference is not None:
        query = query.where(m.reference == reference)
    return session.execute(query.order_by(m.created_at.desc(), m.id.desc()).limit(1)).first()


def open_prompts(
    session: Session, *, phone: str, since: datetime, tenants: Collection[str] | None = None
) -> list[Any]:
    """The complaints this phone was asked to acknowledge and has not (of these clients,
    if given): the newest prompt of each, newest first."""
    m = messages.c
    query = (
        select(messages)
        .where(_asked(phone, since, tenants), m.reply_kind == "ack", m.answered_at.is_(None))
        .where(m.complaint_id.is_not(None))
        .order_by(m.created_at.desc(), m.id.desc())
    )
    newest: dict[str, Any] = {}
    for row in session.execute(query):
        newest.setdefault(row.complaint_id, row)
    return list(newest.values())


def close_prompts(session: Session, complaint_id: str, *, now: datetime) -> None:
    """The complaint no longer waits for an acknowledgement from what was sent so far."""
    m = messages.c
    session.execute(
        update(messages)
        .where(m.complaint_id == complaint_id, m.reply_kind == "ack", m.answered_at.is_(None))
        .values(answered_at=now)
    )


def sent_template(session: Session, complaint_id: str, template: str) -> bool:
    """Whether this complaint already has a message of this template (not cancelled)."""
    m = messages.c
    query = select(m.id).where(
        m.complaint_id == complaint_id,
        m.template == template,
        m.status.not_in(("suppressed", "cancelled", "failed", "refused")),
    )
    return session.execute(query.limit(1)).first() is not None


def superseded(session: Session, row: Any) -> bool:
    """Whether a later message of the same template went to the same phone about the
    same complaint (a second answer after a reopening, say)."""
    m = messages.c
    query = select(m.id).where(
        m.complaint_id == row.complaint_id,
        m.phone == row.phone,
        m.template == row.template,
        m.created_at > row.created_at,
    )
    return session.execute(query.limit(1)).first() is not None


def cancel(session: Session, message_id: str, *, reason: str, now: datetime) -> None:
    """A message that is no longer true is not sent; the log keeps why."""
    session.execute(
        update(messages)
        .where(messages.c.id == message_id)
        .values(
            status="cancelled",
            cancel_reason=reason,
            lease_until=None,
            finished_at=now,
            updated_at=now,
        )
    )


def refuse(session: Session, message_id: str, *, reason: str, now: datetime) -> None:
    """A message that must not go out is not sent; the log keeps why."""
    session.execute(
        update(messages)
        .where(messages.c.id == message_id)
        .values(
            status="refused",
            refused_reason=reason,
            lease_until=None,
            finished_at=now,
            updated_at=now,
        )
    )


def newest_about_a_complaint(
    session: Session, *, phone: str, since: datetime, tenants: Collection[str] | None = None
) -> Any:
    """The newest message to this phone that was about a complaint (of one of these
    clients, if given), or None."""
    m = messages.c
    query = (
        select(messages)
        .where(
            _of(tenants),
            m.phone == phone,
            m.direction == "out",
            m.complaint_id.is_not(None),
            m.created_at >= since,
            # A refused message never reached the phone: a reply cannot be about it.
            m.status != "refused",
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
    tenant: str | None = None,
) -> list[Any]:
    """Newest first, a page at a time; `department_id` keeps only that department's,
    `tenant` only that client's."""
    m = messages.c
    query = select(messages)
    if tenant is not None:
        query = query.where(m.tenant == tenant)
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


def customer_names(session: Session, complaint_ids: Iterable[str]) -> dict[str, str]:
    """The customers' names intake registered, by complaint, for those that have one."""
    wanted = sorted({i for i in complaint_ids if i})
    if not wanted:
        return {}
    c = contacts.c
    rows = session.execute(
        select(c.complaint_id, c.customer_name).where(
            c.complaint_id.in_(wanted), c.customer_name.is_not(None)
        )
    )
    return {row.complaint_id: row.customer_name for row in rows}


def complaint_ids_of(session: Session, id_or_reference: str) -> list[str]:
    """The id of the complaint named by its id or its reference, as notify knows it."""
    c = contacts.c
    found = session.execute(
        select(c.complaint_id).where(
            or_(c.complaint_id == id_or_reference, c.reference == id_or_reference)
        )
    ).first()
    return [found.complaint_id] if found is not None else []


# --- opt-outs -------------------------------------------------------------------------


_OPTED_OUT = select(opt_outs.c.phone).where(
    opt_outs.c.phone == bindparam("phone"),
    opt_outs.c.tenant.in_(bindparam("tenants", expanding=True)),
)


def opted_out(session: Session, phone: str, tenants: Collection[str] = (DEFAULT_TENANT,)) -> bool:
    """Whether the phone opted out of any of these clients' SMS."""
    found = session.execute(_OPTED_OUT, {"phone": phone, "tenants": list(tenants)})
    return found.first() is not None


def opt_out(
    session: Session,
    *,
    phone: str,
    keyword: str,
    now: datetime,
    tenants: Collection[str] = (DEFAULT_TENANT,),
) -> bool:
    """Record the opt-out from these clients' SMS; False if the phone had already opted
    out of every one of them."""
    if not tenants:
        return False
    stmt = (
        _insert(session, opt_outs)
        .values(
            [
                {"phone": phone, "tenant": t, "keyword": keyword[:20], "opted_out_at": now}
                for t in tenants
            ]
        )
        .on_conflict_do_nothing(index_elements=["phone", "tenant"])
        .returning(opt_outs.c.phone)
    )
    return session.execute(stmt).first() is not None


def opt_in(session: Session, *, phone: str, tenants: Collection[str] = (DEFAULT_TENANT,)) -> bool:
    """Forget the opt-out from these clients' SMS; False if there was none."""
    o = opt_outs.c
    return bool(
        rowcount(session.execute(delete(opt_outs).where(o.phone == phone, o.tenant.in_(tenants))))
    )


# --- contacts -------------------------------------------------------------------------


def save_contact(session: Session, values: dict[str, Any]) -> None:
    stmt = _prepared(
        session,
        "save_contact",
        lambda dialect: dialect.insert(contacts).on_conflict_do_nothing(
            index_elements=["complaint_id"]
        ),
    )
    session.execute(stmt, [values])


_CONTACT = select(contacts).where(contacts.c.complaint_id == bindparam("complaint_id"))


def get_contact(session: Session, complaint_id: str) -> Any:
    return session.execute(_CONTACT, {"complaint_id": complaint_id}).first()


# The client of the complaint's registration, else of any message about it: one
# statement, as most complaints asked about are new (neither is there yet).
_TENANT = select(
    func.coalesce(
        select(contacts.c.tenant)
        .where(contacts.c.complaint_id == bindparam("complaint_id"))
        .scalar_subquery(),
        select(messages.c.tenant)
        .where(messages.c.complaint_id == bindparam("complaint_id"))
        .limit(1)
        .scalar_subquery(),
    )
)


def tenant_of(session: Session, complaint_id: str | None) -> str | None:
    """The client notify knows the complaint belongs to (from its registration, or from
    any message about it), or None for a complaint it has not heard of."""
    if not complaint_id:
        return None
    found = session.execute(_TENANT, {"complaint_id": complaint_id}).scalar()
    return str(found) if found is not None else None


def tenants_of(session: Session, complaint_ids: Iterable[str]) -> dict[str, str]:
    """The client of each of these complaints notify has registered, by complaint id."""
    wanted = sorted({i for i in complaint_ids if i})
    if not wanted:
        return {}
    c = contacts.c
    rows = session.execute(select(c.complaint_id, c.tenant).where(c.complaint_id.in_(wanted)))
    return {row.complaint_id: row.tenant for row in rows}


def _track(answered: bool) -> Any:
    c = contacts.c
    values: dict[str, Any] = {"state": bindparam("t_state"), "state_seq": bindparam("t_seq")}
    if answered:
        values["answered_at"] = bindparam("t_answered", type_=c.answered_at.type)
    return (
        update(contacts)
        .where(c.complaint_id == bindparam("t_id"), c.state_seq < bindparam("t_seq"))
        .values(**values)
    )


_TRACK, _TRACK_ANSWERED = _track(False), _track(True)


def track_state(
    session: Session,
    complaint_id: str,
    *,
    state: str,
    seq: int,
    answered_at: datetime | None = None,
) -> None:
    """Keep where the lifecycle took the complaint; an older event changes nothing."""
    answered = answered_at is not None
    stmt = _TRACK_ANSWERED if answered else _TRACK
    params = {"t_id": complaint_id, "t_state": state, "t_seq": seq}
    session.execute(stmt, {**params, "t_answered": answered_at} if answered else params)


def customer_answered(session: Session, complaint_id: str, *, now: datetime) -> None:
    """The customer gave their verdict (by SMS, before the lifecycle has heard of it)."""
    session.execute(
        update(contacts).where(contacts.c.complaint_id == complaint_id).values(answered_at=now)
    )


# --- staff contacts -------------------------------------------------------------------


def _keep_newest(session: Session, table: Any, key: Sequence[str], row: dict[str, Any]) -> None:
    """Insert or replace the row of `key`, unless the stored one was seen later (the
    events of different complaints, on different partitions, come in no order of time)."""
    columns = tuple(sorted(row))

    def build(dialect: Any) -> Any:
        stmt = dialect.insert(table).values({c: bindparam(f"v_{c}") for c in columns})
        return stmt.on_conflict_do_update(
            index_elements=list(key),
            set_={column: stmt.excluded[column] for column in columns if column not in key},
            where=stmt.excluded.seen_at >= table.c.seen_at,
        )

    stmt = _prepared(
        session, f"keep_newest:{table.name}:{','.join(key)}:{','.join(columns)}", build
    )
    session.execute(stmt, {f"v_{c}": value for c, value in row.items()})


def saw_duty_manager(
    session: Session,
    *,
    roster: str,
    tenant: str,
    staff_id: str,
    phone: str,
    name: str | None,
    at: datetime,
    seen_in: str,
) -> None:
    """Remember a duty manager named at a roster's desk at `at`; an older naming changes
    nothing."""
    row = {"roster": roster, "tenant": tenant, "staff_id": staff_id, "phone": phone,
           "name": name[:64] if name else None, "seen_at": at, "seen_in": seen_in}  # fmt: skip
    _keep_newest(session, duty_managers_seen, ("roster", "staff_id"), row)


def duty_manager_now(session: Session, *, roster: str = "") -> Any:
    """The duty manager named at this roster's desk most recently, or None before any was."""
    d = duty_managers_seen.c
    query = (
        select(duty_managers_seen)
        .where(d.roster == roster)
        .order_by(d.seen_at.desc(), d.staff_id)
        .limit(1)
    )
    return session.execute(query).first()


def saw_department(
    session: Session,
    *,
    tenant: str,
    department_id: str,
    name: str | None,
    phones: Sequence[str],
    at: datetime,
    seen_in: str,
) -> None:
    """Remember a client's department's contact phones as an event at `at` listed them;
    an older list changes nothing."""
    row = {"tenant": tenant, "department_id": department_id,
           "name": name[:100] if name else None, "phones": list(phones), "seen_at": at,
           "seen_in": seen_in}  # fmt: skip
    _keep_newest(session, department_contacts, ("tenant", "department_id"), row)


def department_contacts_of(
    session: Session, department_ids: Iterable[str], *, tenant: str = DEFAULT_TENANT
) -> dict[str, Any]:
    """The known contacts of these departments of the client's, by department id."""
    wanted = sorted(set(department_ids))
    if not wanted:
        return {}
    d = department_contacts.c
    rows = session.execute(
        select(department_contacts).where(d.tenant == tenant, d.department_id.in_(wanted))
    )
    return {row.department_id: row for row in rows}
