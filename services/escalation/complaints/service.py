"""Database reads and writes for complaints and their history; the caller owns the transaction.

Also the mapping between a `complaint_states` row and the lifecycle's `ComplaintState`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    func,
    insert,
    nulls_last,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.escalation.complaints.models import AssistRow, Complaint, HistoryEntry
from services.escalation.lifecycle import (
    AssistPart,
    ComplaintState,
    ExtensionRequest,
    PauseRequest,
)
from shared.db import table_of
from shared.vocabulary import (
    Action,
    AssistStatus,
    ClosureReason,
    FeedbackResult,
    Nature,
    PauseFor,
    Role,
    State,
)

complaints = table_of(Complaint)
history = table_of(HistoryEntry)
assist_rows = table_of(AssistRow)

OPEN_STATES = tuple(s.value for s in State if s != State.CLOSED)
AT_DEPARTMENT = (State.DISPATCHED.value, State.IN_PROGRESS.value)


def get_complaint(session: Session, complaint_id: str, *, for_update: bool = False) -> Any:
    """One complaint by id, or None; `for_update` locks it until the transaction ends."""
    query = select(complaints).where(complaints.c.id == complaint_id)
    if for_update:
        query = query.with_for_update()
    return session.execute(query).first()


def find_complaint(session: Session, id_or_reference: str) -> Any:
    """By id, or by the reference people read out (TS20261122-000123)."""
    row = get_complaint(session, id_or_reference)
    if row is None:
        query = select(complaints).where(complaints.c.reference == id_or_reference)
        row = session.execute(query).first()
    return row


def ids_of(session: Session, id_or_reference: str) -> list[str]:
    """The id of the complaint named by its id or reference, if there is one."""
    row = find_complaint(session, id_or_reference)
    return [str(row.id)] if row is not None else []


# The statements a new complaint and each step of its life run, built once per set of
# columns (and dialect) with their values as parameters: building a statement afresh
# for every event costs more than running it.
@functools.lru_cache(maxsize=64)
def _insert_new(dialect: str, columns: tuple[str, ...]) -> Any:
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(complaints)
    return (
        statement.values({name: bindparam(f"v_{name}") for name in columns})
        .on_conflict_do_nothing(index_elements=["id"])
        .returning(*complaints.c)
    )


@functools.lru_cache(maxsize=256)
def _update(columns: tuple[str, ...]) -> Any:
    return (
        update(complaints)
        .where(complaints.c.id == bindparam("v__id"))
        .values({name: bindparam(f"v_{name}") for name in columns})
    )


def _params(values: Mapping[str, Any]) -> dict[str, Any]:
    return {f"v_{name}": value for name, value in values.items()}


def insert_new_complaint(session: Session, *, values: Mapping[str, Any]) -> Any:
    """Store a complaint as it arrives from intake, unless it is here already: the row
    as stored (locked: it is this transaction's own), or None if it was known."""
    statement = _insert_new(session.get_bind().dialect.name, tuple(sorted(values)))
    return session.execute(statement, _params(values)).first()


def update_complaint(session: Session, *, complaint_id: str, values: Mapping[str, Any]) -> None:
    """Change a complaint's columns."""
    statement = _update(tuple(sorted(values)))
    session.execute(statement, {"v__id": complaint_id, **_params(values)})


def update_many(session: Session, changes: Mapping[str, Mapping[str, Any]]) -> None:
    """Change many complaints in one statement per set of columns (an executemany)."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for complaint_id, values in changes.items():
        columns = tuple(sorted(values))
        params = {f"v_{name}": values[name] for name in columns}
        groups.setdefault(columns, []).append({"v__id": complaint_id, **params})
    for columns, params_list in groups.items():
        session.execute(_update(columns), params_list)


def append_history_many(session: Session, entries: list[Mapping[str, Any]]) -> None:
    if entries:
        session.execute(insert(history), [dict(entry) for entry in entries])


class RowView:
    """A complaint row as a dict after a change, read like a database row."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._mapping = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_mapping"][name]
        except KeyError:
            raise AttributeError(name) from None


def append_history(session: Session, *, entry: Mapping[str, Any]) -> None:
    """Add an entry; the table takes nothing but inserts."""
    session.execute(insert(history), [dict(entry)])


def history_of(session: Session, complaint_id: str) -> list[Any]:
    """A complaint's entries in order."""
    query = select(history).where(history.c.complaint_id == complaint_id).order_by(history.c.seq)
    return list(session.execute(query))


def duplicates_of(session: Session, master_id: str) -> list[str]:
    """The references of the complaints merged into `master_id`, oldest first."""
    query = (
        select(complaints.c.reference)
        .where(complaints.c.merged_into == master_id)
        .order_by(complaints.c.received_at, complaints.c.reference)
    )
    return [str(reference) for (reference,) in session.execute(query)]


# --- queues ---------------------------------------------------------------------------


def of_client(tenant: str | None) -> ColumnElement[bool]:
    """The complaints of one client; None: of every client."""
    return complaints.c.tenant == tenant if tenant is not None else true()


def _queue(
    session: Session,
    where: ColumnElement[bool],
    *,
    now: datetime,
    limit: int,
    tenant: str | None = None,
) -> list[Any]:
    # Overdue first, then the soonest due; complaints without a deadline last, oldest first.
    overdue = case((complaints.c.due_at < now, 0), else_=1)
    query = (
        select(complaints)
        .where(where, of_client(tenant))
        .order_by(
            overdue,
            nulls_last(complaints.c.due_at.asc()),
            complaints.c.received_at,
            complaints.c.id,
        )
        .limit(limit)
    )
    return list(session.execute(query))


def queue_for(
    session: Session,
    *,
    staff_id: str,
    role: str,
    department_id: str | None,
    now: datetime,
    limit: int,
    tenant: str | None = None,
) -> list[Any]:
    """What one person holds: their own complaints and, where they share a desk (a
    department's queue, the supervisors' queue), the ones nobody there has taken yet; and
    for the desk, what a department holds but waits for their decision (more time). Of
    one client's complaints only, when `tenant` names one."""
    open_ = complaints.c.state.in_(OPEN_STATES)
    mine = complaints.c.holder_staff_id == staff_id
    if role == Role.DEPARTMENT and department_id is not None:
        shared = and_(
            complaints.c.holder_role == Role.DEPARTMENT.value,
            complaints.c.department_id == department_id,
            complaints.c.holder_staff_id.is_(None),
        )
        mine = or_(
            and_(mine, complaints.c.department_id == department_id),
            shared,
            _assisting(department_id),
        )
    elif role == Role.DUTY_MANAGER:
        # A department holds these, but the request for more time waits for them.
        mine = or_(mine, _extension_requested(complaints.c.duty_manager_id == staff_id))
    elif role == Role.SUPERVISOR:
        shared = and_(
            complaints.c.holder_role == Role.SUPERVISOR.value,
            complaints.c.holder_staff_id.is_(None),
        )
        # Requests on complaints no duty manager answers for are the supervisors' to decide.
        mine = or_(mine, shared, _extension_requested(complaints.c.duty_manager_id.is_(None)))
    return _queue(session, and_(open_, mine), now=now, limit=limit, tenant=tenant)


def _desk_asked() -> ColumnElement[bool]:
    """A department asks the desk for something: more time, or to pause the clock."""
    return or_(
        complaints.c.extension_until.is_not(None), complaints.c.pause_waiting_on.is_not(None)
    )


def _extension_requested(whose: ColumnElement[bool]) -> ColumnElement[bool]:
    at_department = complaints.c.state.in_(AT_DEPARTMENT)
    return and_(whose, at_department, _desk_asked())


def _assisting(department_id: str) -> ColumnElement[bool]:
    """The complaints whose part this department still owes (协办)."""
    owed = select(assist_rows.c.complaint_id).where(
        assist_rows.c.department_id == department_id,
        assist_rows.c.status.in_([AssistStatus.DISPATCHED.value, AssistStatus.ACCEPTED.value]),
    )
    return and_(complaints.c.id.in_(owed), complaints.c.state.in_(AT_DEPARTMENT))


def department_queue(
    session: Session, *, department_id: str, now: datetime, limit: int, tenant: str | None = None
) -> list[Any]:
    """What a department has to act on: dispatched to it or in progress there, and the
    parts it owes on complaints other departments lead (all of its client's)."""
    where = and_(complaints.c.department_id == department_id, complaints.c.state.in_(AT_DEPARTMENT))
    return _queue(
        session, or_(where, _assisting(department_id)), now=now, limit=limit, tenant=tenant
    )


def instructions_for(session: Session, complaint_ids: list[str]) -> dict[str, str]:
    """The instructions of each complaint's latest dispatch."""
    if not complaint_ids:
        return {}
    query = (
        select(history.c.complaint_id, history.c.payload)
        .where(
            history.c.complaint_id.in_(complaint_ids),
            history.c.action == Action.DISPATCH.api_name,
        )
        .order_by(history.c.complaint_id, history.c.seq)
    )
    found: dict[str, str] = {}
    for complaint_id, payload in session.execute(query):
        found[complaint_id] = (payload or {}).get("instructions") or ""
    return found


def decisions_for(
    session: Session,
    *,
    staff_id: str,
    role: str,
    now: datetime,
    limit: int,
    tenant: str | None = None,
) -> list[Any]:
    """What waits for a desk's decision: requests for more time on the complaints it
    dispatched, and complaints a department returned to it. A supervisor sees every
    request and the returns waiting in the supervisors' queue."""
    returned = and_(
        complaints.c.state == State.WITH_DUTY_MANAGER.value, complaints.c.bounce_count > 0
    )
    asked: ColumnElement[bool]
    if role == Role.SUPERVISOR:
        asked = _desk_asked()
        returned = and_(
            returned,
            complaints.c.holder_role == Role.SUPERVISOR.value,
            or_(complaints.c.holder_staff_id.is_(None), complaints.c.holder_staff_id == staff_id),
        )
    else:
        asked = and_(_desk_asked(), complaints.c.duty_manager_id == staff_id)
        returned = and_(returned, complaints.c.holder_staff_id == staff_id)
    return _queue(session, or_(asked, returned), now=now, limit=limit, tenant=tenant)


def escalated(
    session: Session, *, now: datetime, limit: int, tenant: str | None = None
) -> list[Any]:
    """Open complaints that were escalated or bounced between desk and departments."""
    where = and_(
        complaints.c.state.in_(OPEN_STATES),
        or_(complaints.c.escalation_level > 0, complaints.c.bounce_count > 0),
    )
    return _queue(session, where, now=now, limit=limit, tenant=tenant)


def department_loads(session: Session, *, now: datetime) -> dict[str, tuple[int, int, int]]:
    """Per department: complaints open there, those not yet accepted, and those overdue
    (a department's are all of its client's)."""
    query = (
        select(
            complaints.c.department_id,
            func.count(),
            func.sum(case((complaints.c.state == State.DISPATCHED.value, 1), else_=0)),
            func.sum(case((complaints.c.due_at < now, 1), else_=0)),
        )
        .where(complaints.c.state.in_(AT_DEPARTMENT))
        .group_by(complaints.c.department_id)
    )
    return {
        row[0]: (int(row[1]), int(row[2] or 0), int(row[3] or 0)) for row in session.execute(query)
    }


# --- rows and lifecycle states ----------------------------------------------------------


def lifecycle_state(row: Any) -> ComplaintState:
    """What the lifecycle rules see of a stored complaint."""
    pending = None
    if row.extension_until is not None:
        pending = ExtensionRequest(
            until=row.extension_until,
            reason=row.extension_reason or "",
            requested_by=row.extension_requested_by or "",
        )
    pause = None
    if row.pause_waiting_on is not None:
        pause = PauseRequest(
            waiting_on=PauseFor(row.pause_waiting_on),
            reason=row.pause_reason or "",
            requested_by=row.pause_requested_by or "",
            until=row.pause_resume_at,
        )
    amount = row.compensation_amount
    return ComplaintState(
        state=State(row.state),
        nature=Nature(row.nature),
        holder_staff_id=row.holder_staff_id,
        holder_role=Role(row.holder_role) if row.holder_role else None,
        department_id=row.department_id,
        duty_manager_id=row.duty_manager_id,
        bounce_count=row.bounce_count,
        reopen_count=row.reopen_count,
        urge_count=row.urge_count,
        escalation_level=row.escalation_level,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        pending_extension=pending,
        extended_until=row.extended_until,
        loss_verified=row.loss_verified,
        compensation_amount=None if amount is None else Decimal(amount).quantize(Decimal("0.01")),
        compensation_declined=row.compensation_declined,
        anonymous=row.anonymous,
        resolution=row.resolution,
        root_cause=row.root_cause,
        feedback=FeedbackResult(row.feedback) if row.feedback else None,
        follow_up_attempts=row.follow_up_attempts,
        last_follow_up_at=row.last_follow_up_at,
        closure_reason=ClosureReason(row.closure_reason) if row.closure_reason else None,
        with_compensation=row.with_compensation,
        pending_pause=pause,
        paused_at=row.paused_at,
        paused_until=row.paused_until,
        pause_count=row.pause_count,
        paused_seconds=row.paused_seconds,
        merged_into=row.merged_into,
        registered_by=row.registered_by,
        answered_from_article=row.answered_from_article,
        assists=tuple(
            AssistPart(part["department_id"], AssistStatus(part["status"]))
            for part in (row.assists or [])
        ),
    )


def state_columns(state: ComplaintState) -> dict[str, Any]:
    """The columns that store a lifecycle state."""
    pending, pause = state.pending_extension, state.pending_pause

    def text(value: Any) -> str | None:
        return None if value is None else str(value)

    return {
        "state": state.state.value,
        "holder_staff_id": state.holder_staff_id,
        "holder_role": text(state.holder_role),
        "department_id": state.department_id,
        "duty_manager_id": state.duty_manager_id,
        "bounce_count": state.bounce_count,
        "reopen_count": state.reopen_count,
        "urge_count": state.urge_count,
        "escalation_level": state.escalation_level,
        "acknowledged_at": state.acknowledged_at,
        "acknowledged_by": state.acknowledged_by,
        "extension_until": pending.until if pending else None,
        "extension_reason": pending.reason if pending else None,
        "extension_requested_by": pending.requested_by if pending else None,
        "extended_until": state.extended_until,
        "loss_verified": state.loss_verified,
        "compensation_amount": state.compensation_amount,
        "compensation_declined": state.compensation_declined,
        "resolution": state.resolution,
        "root_cause": state.root_cause,
        "feedback": text(state.feedback),
        "follow_up_attempts": state.follow_up_attempts,
        "last_follow_up_at": state.last_follow_up_at,
        "closure_reason": text(state.closure_reason),
        "with_compensation": state.with_compensation,
        "pause_waiting_on": text(pause.waiting_on) if pause else None,
        "pause_reason": pause.reason if pause else None,
        "pause_requested_by": pause.requested_by if pause else None,
        "pause_resume_at": pause.until if pause else None,
        "paused_at": state.paused_at,
        "paused_until": state.paused_until,
        "pause_count": state.pause_count,
        "paused_seconds": state.paused_seconds,
        "merged_into": state.merged_into,
        "assists": [
            {"department_id": part.department_id, "status": part.status.value}
            for part in state.assists
        ],
    }
