"""The roster API: shifts, and who is on duty at a given moment."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from services.escalation.config import ConfigDep
from services.escalation.roster import flows, service
from services.escalation.roster.models import OnDuty, ShiftCreate, ShiftRead
from shared.auth.deps import CurrentPrincipal, require_roles
from shared.auth.principal import Principal, Role
from shared.clock import utcnow
from shared.deps import Db
from shared.logs import mask_phone
from shared.params import IsoDateTime
from shared.privacy import sight

router = APIRouter(tags=["roster"])

# Those who plan the duty roster.
Planner = Annotated[Principal, require_roles(Role.ADMIN, Role.SUPERVISOR)]
# Those who need to see it: the desk, and agents (who to tell about a difficult call).
Reader = Annotated[
    Principal, require_roles(Role.ADMIN, Role.SUPERVISOR, Role.DUTY_MANAGER, Role.AGENT)
]


@router.post(
    "/roster/shifts",
    status_code=201,
    response_model=ShiftRead,
    responses={409: {"description": "overlaps another shift: names it"}},
)
def create_shift(db: Db, data: ShiftCreate, principal: Planner) -> ShiftRead:
    """Put a duty manager on duty from `starts_at` to `ends_at`, with an optional backup.
    Shifts may touch but not overlap; both people must be active duty managers."""
    return flows.create_shift(db, data, by=principal.staff_id, now=utcnow())


@router.get("/roster/shifts", response_model=list[ShiftRead])
def list_shifts(
    db: Db,
    _: Reader,
    since: Annotated[IsoDateTime | None, Query(alias="from")] = None,
    until: Annotated[IsoDateTime | None, Query(alias="to")] = None,
    staff_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[ShiftRead]:
    """Shifts that overlap [from, to), in order; a staff id narrows to their shifts
    (as the manager or the backup)."""
    with db.read() as session:
        rows = service.list_shifts(
            session, since=since, until=until, staff_id=staff_id, limit=limit
        )
    return [ShiftRead.model_validate(row) for row in rows]


@router.delete(
    "/roster/shifts/{shift_id}",
    status_code=204,
    responses={409: {"description": "the shift has started: it is history now"}},
)
def delete_shift(db: Db, shift_id: str, _: Planner) -> None:
    """Remove a shift that has not started (one that has is history)."""
    flows.delete_shift(db, shift_id, now=utcnow())


@router.get("/roster/on-duty", response_model=OnDuty)
def on_duty(
    db: Db,
    config: ConfigDep,
    principal: CurrentPrincipal,
    at: Annotated[
        IsoDateTime | None, Query(description="ISO 8601 with a zone; default: now")
    ] = None,
) -> OnDuty:
    """Who takes new complaints at `at`: the shift's manager, else its backup, else the
    configured default, else nobody (the supervisors' queue)."""
    moment: datetime = at or utcnow()
    with db.read() as session:
        answer = flows.on_duty_read(session, moment, config)
    # Those who call the desk or plan it see the phone in full; the others (a
    # department, QA, the outsourcing client) masked, as in the directory.
    if not sight(principal.role).staff_phone:
        answer.phone = mask_phone(answer.phone) or None
    return answer
