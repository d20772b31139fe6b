"""The roster API: shifts, and who is on duty at a given moment."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from services.escalation.clients import TenantQuery, scoped
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
    responses={409: {"description": "overlaps another shift of its roster: names it"}},
)
def create_shift(db: Db, data: ShiftCreate, principal: Planner) -> ShiftRead:
    """Put a duty manager on duty from `starts_at` to `ends_at`, with an optional backup,
    on the centre's shared roster or (`tenant`) on the own roster of a client that keeps
    one. Shifts of one roster may touch but not overlap; both people must be active duty
    managers: the centre's own on the shared roster, the centre's or the client's on a
    client's. A planner who works for one client plans that client's roster only."""
    roster = scoped(principal, data.tenant)
    return flows.create_shift(db, data, by=principal.staff_id, now=utcnow(), roster=roster)


@router.get("/roster/shifts", response_model=list[ShiftRead])
def list_shifts(
    db: Db,
    principal: Reader,
    since: Annotated[IsoDateTime | None, Query(alias="from")] = None,
    until: Annotated[IsoDateTime | None, Query(alias="to")] = None,
    staff_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    tenant: TenantQuery = None,
) -> list[ShiftRead]:
    """Shifts that overlap [from, to), in order; a staff id narrows to their shifts
    (as the manager or the backup). `tenant`: the shifts of the rosters that may give
    that client's complaints a manager, its own (if it keeps one) and the shared one;
    each shift names its roster's client (`tenant`, null: the shared roster)."""
    serving = scoped(principal, tenant)
    with db.read() as session:
        rows = service.list_shifts(
            session, since=since, until=until, staff_id=staff_id, limit=limit, serving=serving
        )
    return [ShiftRead.model_validate(row) for row in rows]


@router.delete(
    "/roster/shifts/{shift_id}",
    status_code=204,
    responses={
        404: {"description": "no such shift, or not on the roster of the planner's client"},
        409: {"description": "the shift has started: it is history now"},
    },
)
def delete_shift(db: Db, shift_id: str, principal: Planner) -> None:
    """Remove a shift that has not started (one that has is history)."""
    flows.delete_shift(db, shift_id, now=utcnow(), planner_tenant=principal.tenant)


@router.get("/roster/on-duty", response_model=OnDuty)
def on_duty(
    db: Db,
    config: ConfigDep,
    principal: CurrentPrincipal,
    at: Annotated[
        IsoDateTime | None, Query(description="ISO 8601 with a zone; default: now")
    ] = None,
    tenant: Annotated[
        str | None,
        Query(
            description="For this client's new complaints (default: the caller's client, "
            "or the shared roster's for the centre's own staff)"
        ),
    ] = None,
) -> OnDuty:
    """Who takes new complaints at `at`: the shift's manager, else its backup, else the
    configured default, else nobody (the supervisors' queue). For a client that keeps a
    roster of its own, its roster's, else the shared roster's (`roster_tenant` says whose)."""
    moment: datetime = at or utcnow()
    client = scoped(principal, tenant)
    with db.read() as session:
        answer = flows.on_duty_read(session, moment, config, client)
    # Those who call the desk or plan it see the phone in full; the others (a
    # department, QA, the outsourcing client) masked, as in the directory.
    if not sight(principal.role).staff_phone:
        answer.phone = mask_phone(answer.phone) or None
    return answer
