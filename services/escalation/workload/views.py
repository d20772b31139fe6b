"""Clerks and their complaints within a department: take one from the queue (领取), give
one to a clerk, give one back, and each clerk's load."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from services.escalation.complaints.models import ActionResult
from services.escalation.complaints.views import take_action
from services.escalation.config import ConfigDep
from services.escalation.directory import service as directory
from services.escalation.workload import flows
from services.escalation.workload.models import ClerkBody, ReleaseBody, Workload
from shared.auth.deps import CurrentPrincipal, require_roles
from shared.auth.principal import Principal, Role
from shared.clock import utcnow
from shared.deps import Db, OutboxDep
from shared.errors import Forbidden, NotFound
from shared.tenants import may_see
from shared.vocabulary import Action

router = APIRouter(tags=["workload"])

_REFUSALS: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "not possible now: the state allows no such action, or another clerk "
        "holds it (`holder_staff_id` names them)"
    },
    403: {"description": "the caller may not do this to this complaint"},
    404: {"description": "no such complaint, or not one the caller's department holds"},
    422: {"description": "a field is missing or invalid: names the field"},
}


@router.post("/complaints/{complaint_id}/take", response_model=ActionResult, responses=_REFUSALS)
def take(
    db: Db, outbox: OutboxDep, config: ConfigDep, complaint_id: str, principal: CurrentPrincipal
) -> Any:
    """A clerk of the department holding the complaint takes it from its queue (领取): it
    is theirs from now on, until they give it back or it leaves the department. Of two
    clerks taking it at once one gets it; the other hears 409 naming who holds it."""
    return take_action(db, outbox, config, complaint_id, Action.TAKE, principal, {})


@router.post(
    "/complaints/{complaint_id}/assign-clerk", response_model=ActionResult, responses=_REFUSALS
)
def assign_clerk(
    db: Db,
    outbox: OutboxDep,
    config: ConfigDep,
    complaint_id: str,
    body: ClerkBody,
    principal: CurrentPrincipal,
) -> Any:
    """Give the complaint to a clerk of the department holding it: its head, the duty
    manager answering for it or a supervisor may. The clerk is texted."""
    data = body.model_dump(exclude_none=True)
    return take_action(db, outbox, config, complaint_id, Action.ASSIGN_CLERK, principal, data)


@router.post("/complaints/{complaint_id}/release", response_model=ActionResult, responses=_REFUSALS)
def release(
    db: Db,
    outbox: OutboxDep,
    config: ConfigDep,
    complaint_id: str,
    principal: CurrentPrincipal,
    body: Annotated[ReleaseBody | None, Body()] = None,
) -> Any:
    """The clerk who owns the complaint gives it back to the department's queue (so may
    the department's head and the desk); any clerk there may then take it."""
    data = body.model_dump(exclude_none=True) if body is not None else {}
    return take_action(db, outbox, config, complaint_id, Action.RELEASE, principal, data)


_Readers = Annotated[
    Principal,
    require_roles(Role.DUTY_MANAGER, Role.SUPERVISOR, Role.ADMIN, Role.DEPARTMENT),
]


@router.get(
    "/departments/{department_id}/workload",
    response_model=Workload,
    responses={
        403: {"description": "a department user asking about another department"},
        404: {"description": "no such department, or one of another client than the caller's"},
    },
)
def workload(
    db: Db,
    config: ConfigDep,
    department_id: str,
    principal: _Readers,
    due_within_minutes: Annotated[
        int, Query(ge=1, le=7 * 24 * 60, description="What counts as due soon")
    ] = 120,
) -> Any:
    """Each active clerk of the department: the complaints they own there (dispatched or
    in progress), how many are overdue or due soon, how many became theirs today, and
    when they last got one; and the complaints nobody there owns yet."""
    if principal.role == Role.DEPARTMENT and principal.department_id != department_id:
        raise Forbidden(
            f"a department user sees only their own department's workload "
            f"({principal.department_id}), not {department_id!r}",
            department_id=department_id,
        )
    with db.read() as session:
        department = directory.get_department(session, department_id)
        if department is None or not may_see(principal, department.tenant):
            raise NotFound(f"no department {department_id!r}", department_id=department_id)
        return flows.workload(
            session,
            department,
            now=utcnow(),
            due_within=timedelta(minutes=due_within_minutes),
            config=config,
        )
