"""What happens to a clerk's complaints when they leave, and the workload of a department.

A clerk deactivated, or moved out of the department, owns nothing there any longer: each
complaint they owned goes back to the department's queue, or where the department hands
out its complaints by a rota, straight to the clerk the rota chooses — an entry and an
event each, in the transaction that changes the directory.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from services.escalation.complaints import flows
from services.escalation.config import EscalationConfig
from services.escalation.directory import service as directory
from services.escalation.lifecycle import Command
from services.escalation.workload import service
from services.escalation.workload.models import ClerkLoad, Workload
from shared.outbox import Outbox
from shared.vocabulary import Action, Role


def still_clerk_of(values: Any, department_id: str) -> bool:
    """Whether a directory entry is an active clerk of that department."""
    return (
        bool(values["active"])
        and values["role"] == Role.DEPARTMENT
        and values["department_id"] == department_id
    )


def hand_back(
    session: Session,
    outbox: Outbox,
    staff_id: str,
    department_id: str,
    *,
    now: datetime,
    config: EscalationConfig,
) -> list[flows.Applied]:
    """The complaints `staff_id` owns at the department, back to its queue or on to the
    clerk its rota chooses; call it once the directory no longer has them there."""
    done = []
    reason = f"clerk {staff_id} is no longer an active clerk of {department_id}"
    # First the department: a rota giving this clerk a complaint meanwhile (or a
    # colleague's leaving, giving them one) is over before their complaints are listed.
    directory.lock_department(session, department_id)
    for complaint_id in service.owned_by(session, staff_id, department_id):
        choice = service.next_clerk(session, department_id, leaving=staff_id)
        if choice is None:
            command = Command(Action.RELEASE, flows.SYSTEM, {"reason": reason})
            context = {}
        else:
            data = {"clerk": choice.staff_id, "reason": reason}
            command = Command(Action.ASSIGN_CLERK, flows.SYSTEM, data)
            context = {"via": choice.via}
        done.append(
            flows.apply_in(
                session, outbox, complaint_id, command, now=now, config=config, context=context
            )
        )
    return done


def day_start(now: datetime, zone: str) -> datetime:
    """The start of the centre's day `now` falls in."""
    local = now.astimezone(ZoneInfo(zone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def workload(
    session: Session,
    department: Any,
    *,
    now: datetime,
    due_within: timedelta,
    config: EscalationConfig,
) -> Workload:
    """Each active clerk's open complaints at the department (overdue, due soon), what
    became theirs today and when they last got one; and what nobody owns yet."""
    since = day_start(now, config.timezone)
    loads = service.loads(session, department.id, now=now, soon=due_within)
    today = service.assigned_since(session, department.id, since)
    latest = service.last_assigned(session, department.id)
    clerks = [
        ClerkLoad(
            staff_id=row.id,
            name=row.name,
            head=row.id == department.head_staff_id,
            open=loads.get(row.id, service.Load()).open,
            overdue=loads.get(row.id, service.Load()).overdue,
            due_soon=loads.get(row.id, service.Load()).due_soon,
            taken_today=today.get(row.id, 0),
            last_assigned_at=latest.get(row.id),
        )
        for row in service.clerks_of(session, department.id)
    ]
    queue = loads.get(None, service.Load())
    return Workload(
        department_id=department.id,
        tenant=department.tenant,
        assignment=service.mode_of(department),
        clerks=clerks,
        unowned=queue.open,
        unowned_overdue=queue.overdue,
        due_within_minutes=int(due_within.total_seconds() // 60),
        day_starts_at=since,
    )
