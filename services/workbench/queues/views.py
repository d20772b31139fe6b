"""The queues each desk works from, refreshed in place: the duty manager's (with what
waits for their decision, who is on duty, each department's load), a department's (with
the description and instructions, and what it replied this month; the clerk's own first,
then what nobody has taken, to take; for its head, each clerk's load) and a
supervisor's. And a department's workload: each clerk's load and its complaints, to give
them to a clerk."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.workbench.access.deps import DESK, allow
from services.workbench.access.flows import User
from services.workbench.apis import Apis, Refused
from services.workbench.config import ConfigDep, WorkbenchConfig
from services.workbench.pages import render
from shared.clock import utcnow
from shared.deps import from_state
from shared.vocabulary import Role, State

router = APIRouter(include_in_schema=False)

ApisDep = Annotated[Apis, from_state("apis")]
Desk = Annotated[User, allow(*DESK)]
Clerk = Annotated[User, allow(Role.DEPARTMENT)]
Supervisor = Annotated[User, allow(Role.SUPERVISOR, Role.ADMIN)]
# Who reads a department's workload (a clerk: their own department's, escalation says),
# and who gives its complaints to a clerk (among clerks, the head: escalation judges).
WorkloadReader = Annotated[
    User, allow(Role.DUTY_MANAGER, Role.SUPERVISOR, Role.ADMIN, Role.DEPARTMENT)
]
Assigner = Annotated[User, allow(Role.DUTY_MANAGER, Role.SUPERVISOR, Role.DEPARTMENT)]


def _or(call: Any, default: Any) -> Any:
    try:
        return call()
    except Refused:
        return default


def desk_queues(apis: Apis, user: User, config: WorkbenchConfig) -> dict[str, Any]:
    limit = config.queue_limit
    mine = apis.get("escalation", "/queues/mine", user.token, limit=limit)
    decisions = apis.get("escalation", "/queues/decisions", user.token, limit=limit)
    return {"mine": mine, "decisions": decisions}


@router.get("/desk")
def desk(request: Request, config: ConfigDep, apis: ApisDep, user: Desk) -> Response:
    return render(
        request,
        "desk.html",
        config,
        user=user,
        queues=desk_queues(apis, user, config),
        on_duty=_or(lambda: apis.get("escalation", "/roster/on-duty", user.token), None),
        loads=_or(lambda: apis.get("escalation", "/queues/departments", user.token), []),
    )


@router.get("/desk/queue")
def desk_queue(request: Request, config: ConfigDep, apis: ApisDep, user: Desk) -> Response:
    """The part of the desk page that refreshes by itself."""
    return render(
        request, "_desk_queues.html", config, user=user, queues=desk_queues(apis, user, config)
    )


def _month_start(config: WorkbenchConfig, now: datetime) -> datetime:
    local = now.astimezone(config.tz())
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def department_queue(apis: Apis, user: User, config: WorkbenchConfig) -> Any:
    path = f"/departments/{user.department_id}/queue"
    return apis.get("escalation", path, user.token, limit=config.queue_limit)


@router.get("/department")
def department(request: Request, config: ConfigDep, apis: ApisDep, user: Clerk) -> Response:
    since = _month_start(config, utcnow()).isoformat()
    answered = _or(
        lambda: apis.get(
            "intake",
            "/complaints",
            user.token,
            department=user.department_id,
            limit=200,
            **{"from": since},
        )["items"],
        [],
    )
    replied = [c for c in answered if c["status"] in (State.REPLIED, State.CLOSED)]
    return render(
        request,
        "department.html",
        config,
        user=user,
        queue=department_queue(apis, user, config),
        replied=replied,
        workload=_workload_of_head(apis, user),
    )


def _workload_of_head(apis: Apis, user: User) -> Any:
    """The department's workload, for its head; None for the other clerks."""
    department = _or(
        lambda: apis.get("escalation", f"/departments/{user.department_id}", user.token), None
    )
    if not department or department.get("head_staff_id") != user.staff_id:
        return None
    return _or(
        lambda: apis.get("escalation", f"/departments/{user.department_id}/workload", user.token),
        None,
    )


@router.get("/department/queue")
def department_queue_part(
    request: Request, config: ConfigDep, apis: ApisDep, user: Clerk
) -> Response:
    return render(
        request,
        "_department_queue.html",
        config,
        user=user,
        queue=department_queue(apis, user, config),
    )


def supervisor_queues(apis: Apis, user: User, config: WorkbenchConfig) -> dict[str, Any]:
    token, limit = user.token, config.queue_limit
    return {
        "escalated": apis.get("escalation", "/queues/escalated", token, limit=limit),
        "mine": _or(lambda: apis.get("escalation", "/queues/mine", token, limit=limit), None),
        "decisions": _or(
            lambda: apis.get("escalation", "/queues/decisions", token, limit=limit), None
        ),
    }


@router.get("/supervisor")
def supervisor(request: Request, config: ConfigDep, apis: ApisDep, user: Supervisor) -> Response:
    return render(
        request,
        "supervisor.html",
        config,
        user=user,
        queues=supervisor_queues(apis, user, config),
        on_duty=_or(lambda: apis.get("escalation", "/roster/on-duty", user.token), None),
        loads=_or(lambda: apis.get("escalation", "/queues/departments", user.token), []),
    )


@router.get("/supervisor/queue")
def supervisor_queue(
    request: Request, config: ConfigDep, apis: ApisDep, user: Supervisor
) -> Response:
    return render(
        request,
        "_supervisor_queues.html",
        config,
        user=user,
        queues=supervisor_queues(apis, user, config),
    )


# --- a department's workload ----------------------------------------------------------


def _workload_page(
    request: Request,
    config: WorkbenchConfig,
    apis: Apis,
    user: User,
    department_id: str,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    token = user.token
    workload = apis.get("escalation", f"/departments/{department_id}/workload", token)
    queue = apis.get(
        "escalation", f"/departments/{department_id}/queue", token, limit=config.queue_limit
    )
    return render(
        request,
        "workload.html",
        config,
        user=user,
        workload=workload,
        queue=queue,
        error=error,
        done=request.query_params.get("done"),
        status=status,
    )


@router.get("/workload/{department_id}")
def workload(
    request: Request, config: ConfigDep, apis: ApisDep, user: WorkloadReader, department_id: str
) -> Response:
    return _workload_page(request, config, apis, user, department_id[:64])


@router.post("/workload/{department_id}/assign")
async def assign(
    request: Request, config: ConfigDep, apis: ApisDep, user: Assigner, department_id: str
) -> Response:
    """Give one of the department's complaints to one of its clerks, from the workload
    page; back to the page, with escalation's reason when it refuses."""
    department_id = department_id[:64]
    form = await request.form()
    complaint_id = str(form.get("complaint_id") or "").strip()[:64]
    clerk = str(form.get("clerk") or "").strip()[:64]
    if not complaint_id or not clerk:
        error = "choose a complaint and a clerk to give it to"
        return _workload_page(request, config, apis, user, department_id, error=error, status=422)
    try:
        apis.post(
            "escalation",
            f"/complaints/{quote(complaint_id, safe='')}/assign-clerk",
            user.token,
            {"clerk": clerk},
        )
    except Refused as exc:
        return _workload_page(
            request, config, apis, user, department_id, error=exc.message, status=exc.status
        )
    target = f"/workload/{quote(department_id, safe='')}?done={quote(clerk, safe='')}"
    return RedirectResponse(target, status_code=303)
