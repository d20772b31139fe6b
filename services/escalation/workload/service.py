"""Database reads and writes for a department's clerks and their complaints, and the rota's
choice of the next clerk; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, insert, select
from sqlalchemy.orm import Session

from services.escalation.complaints.service import AT_DEPARTMENT, complaints
from services.escalation.directory import service as directory
from services.escalation.lifecycle import Actor, Decision
from services.escalation.workload.models import ClerkAssignmentEntry
from shared.db import table_of
from shared.vocabulary import Action, ClerkAssignment, Role

assignments = table_of(ClerkAssignmentEntry)


def with_head(session: Session, actor: Actor) -> Actor:
    """The actor with the department they head, as the directory says: among a
    department's clerks the head assigns complaints to the others."""
    if actor.role != Role.DEPARTMENT or not actor.department_id:
        return actor
    department = directory.get_department(session, actor.department_id)
    if department is not None and department.head_staff_id == actor.staff_id:
        return replace(actor, head_of=actor.department_id)
    return actor


def mode_of(department: Any) -> ClerkAssignment:
    """How the department hands out its complaints (`queue` for one that says nothing)."""
    return ClerkAssignment.of(getattr(department, "assignment", None)) or ClerkAssignment.QUEUE


def clerks_of(session: Session, department_id: str) -> list[Any]:
    """The department's active clerks, by id."""
    return directory.list_staff(
        session, role=Role.DEPARTMENT.value, department_id=department_id, active=True
    )


def _owned_by(department_id: str) -> Any:
    return and_(
        complaints.c.department_id == department_id,
        complaints.c.state.in_(AT_DEPARTMENT),
        complaints.c.holder_role == Role.DEPARTMENT.value,
    )


def open_by_clerk(session: Session, department_id: str) -> dict[str, int]:
    """How many complaints each clerk owns at the department now."""
    query = (
        select(complaints.c.holder_staff_id, func.count())
        .where(_owned_by(department_id), complaints.c.holder_staff_id.is_not(None))
        .group_by(complaints.c.holder_staff_id)
    )
    return {row[0]: int(row[1]) for row in session.execute(query)}


@dataclass(frozen=True)
class Load:
    open: int = 0
    overdue: int = 0
    due_soon: int = 0


def loads(
    session: Session, department_id: str, *, now: datetime, soon: timedelta
) -> dict[str | None, Load]:
    """Per owner (None: nobody, the department's queue): open, overdue, due soon."""
    due = complaints.c.due_at
    query = (
        select(
            complaints.c.holder_staff_id,
            func.count(),
            func.sum(case((due < now, 1), else_=0)),
            func.sum(case((and_(due >= now, due < now + soon), 1), else_=0)),
        )
        .where(_owned_by(department_id))
        .group_by(complaints.c.holder_staff_id)
    )
    return {
        row[0]: Load(int(row[1]), int(row[2] or 0), int(row[3] or 0))
        for row in session.execute(query)
    }


def owned_by(session: Session, staff_id: str, department_id: str) -> list[str]:
    """The ids of the complaints this clerk owns at the department, oldest first."""
    query = (
        select(complaints.c.id)
        .where(_owned_by(department_id), complaints.c.holder_staff_id == staff_id)
        .order_by(complaints.c.received_at, complaints.c.id)
    )
    return [str(row[0]) for row in session.execute(query)]


def assigned_since(session: Session, department_id: str, since: datetime) -> dict[str, int]:
    """How many complaints became each clerk's at the department since `since`."""
    query = (
        select(assignments.c.staff_id, func.count())
        .where(assignments.c.department_id == department_id, assignments.c.at >= since)
        .group_by(assignments.c.staff_id)
    )
    return {row[0]: int(row[1]) for row in session.execute(query)}


def last_assigned(session: Session, department_id: str) -> dict[str, datetime]:
    """When a complaint last became each clerk's at the department."""
    query = (
        select(assignments.c.staff_id, func.max(assignments.c.at))
        .where(assignments.c.department_id == department_id)
        .group_by(assignments.c.staff_id)
    )
    return {row[0]: row[1] for row in session.execute(query)}


def last_in_turn(session: Session, department_id: str) -> str | None:
    """The clerk the rota gave a complaint to last, at this department."""
    query = (
        select(assignments.c.staff_id)
        .where(
            assignments.c.department_id == department_id,
            assignments.c.via == ClerkAssignment.ROUND_ROBIN.value,
        )
        .order_by(assignments.c.at.desc(), assignments.c.id.desc())
        .limit(1)
    )
    found = session.execute(query).scalar()
    return str(found) if found is not None else None


def record(
    session: Session,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    decision: Decision,
    *,
    actor_id: str,
    now: datetime,
) -> None:
    """Log it when the change made a clerk the complaint's owner at its department."""
    owner = after["holder_staff_id"]
    at_department = after["state"] in AT_DEPARTMENT and after["holder_role"] == Role.DEPARTMENT
    if not at_department or owner is None:
        return
    if before["holder_staff_id"] == owner and before["department_id"] == after["department_id"]:
        return
    session.execute(
        insert(assignments),
        [
            {
                "complaint_id": after["id"],
                "department_id": after["department_id"],
                "tenant": after["tenant"],
                "staff_id": owner,
                "action": decision.action.api_name,
                "actor_id": actor_id,
                "via": decision.payload.get("via")
                if decision.action == Action.ASSIGN_CLERK
                else None,
                "at": now,
            }
        ],
    )


@dataclass(frozen=True)
class Choice:
    staff_id: str
    via: ClerkAssignment


def next_clerk(
    session: Session, department_id: str, *, leaving: str | None = None
) -> Choice | None:
    """Who the department's rota gives a complaint to now, or None (its clerks take them
    from the queue, or no clerk is there to give it to). Only active clerks, never the
    head (who hands out work rather than takes it by turns) nor `leaving`.

    Round robin: the clerk after the one the rota chose last, by id. Least loaded: the
    one owning the fewest open complaints there, then the one longest without a new one.
    The department's row is locked meanwhile, so two complaints arriving at once are
    given in turn rather than both to the same clerk."""
    department = directory.get_department(session, department_id)
    if department is None or mode_of(department) == ClerkAssignment.QUEUE:
        return None
    department = directory.lock_department(session, department_id)
    mode = mode_of(department)
    if not department.active or mode == ClerkAssignment.QUEUE:
        return None
    candidates = [
        row.id
        for row in clerks_of(session, department_id)
        if row.id != department.head_staff_id and row.id != leaving
    ]
    if not candidates:
        return None
    if mode == ClerkAssignment.ROUND_ROBIN:
        last = last_in_turn(session, department_id)
        later = [staff for staff in candidates if last is not None and staff > last]
        return Choice((later or candidates)[0], mode)
    owned = open_by_clerk(session, department_id)
    latest = last_assigned(session, department_id)

    def key(staff: str) -> tuple[int, float, str]:
        at = latest.get(staff)  # never given one: waited longest of all
        return owned.get(staff, 0), at.timestamp() if at else float("-inf"), staff

    return Choice(min(candidates, key=key), mode)
