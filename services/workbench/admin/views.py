"""The administrator's pages: departments and staff (the escalation service's directory),
the workbench's own sign-in accounts, and who read which customer's data (the access logs
of the services that show it)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.workbench.access import flows as access
from services.workbench.access import service as accounts
from services.workbench.access.deps import allow
from services.workbench.access.flows import User
from services.workbench.apis import Apis, Refused
from services.workbench.complaints.flows import clients_of
from services.workbench.config import ConfigDep, WorkbenchConfig
from services.workbench.pages import render
from shared.auth.principal import ROLES
from shared.auth.store import revoke_tokens
from shared.clock import utcnow
from shared.deps import from_state
from shared.vocabulary import Role

router = APIRouter(include_in_schema=False)

ApisDep = Annotated[Apis, from_state("apis")]
Admin = Annotated[User, allow(Role.ADMIN)]


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# --- staff ----------------------------------------------------------------------------


def _staff_page(
    request: Request,
    config: WorkbenchConfig,
    apis: Apis,
    user: User,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    staff = apis.get("escalation", "/staff", user.token)
    departments = apis.get("escalation", "/departments", user.token)
    with request.app.state.db.read() as session:
        have = {row.staff_id: row for row in accounts.list_accounts(session)}
    return render(
        request,
        "admin_staff.html",
        config,
        user=user,
        staff=staff,
        departments=departments,
        accounts=have,
        roles=ROLES,
        clients=clients_of(apis, user),
        error=error,
        done=request.query_params.get("done"),
        now=utcnow(),
        status=status,
    )


@router.get("/admin/staff")
def staff(request: Request, config: ConfigDep, apis: ApisDep, user: Admin) -> Response:
    return _staff_page(request, config, apis, user)


def _person(form: Any) -> dict[str, Any]:
    return {
        "name": _text(form, "name"),
        "phone": _text(form, "phone"),
        "role": _text(form, "role"),
        "department_id": _text(form, "department_id") or None,
        "active": _text(form, "active") in ("on", "true", "1"),
    }


@router.post("/admin/staff")
async def add_staff(request: Request, config: ConfigDep, apis: ApisDep, user: Admin) -> Response:
    form = await request.form()
    body = {"id": _text(form, "id"), **_person(form), "active": True}
    if "tenant" in form:
        # The client they work for; none: the centre's own staff, who serve every client
        # (a department's clerk always works for their department's).
        body["tenant"] = _text(form, "tenant") or None
    try:
        apis.post("escalation", "/staff", user.token, body)
    except Refused as exc:
        return _staff_page(request, config, apis, user, error=exc.message, status=exc.status)
    return RedirectResponse(f"/admin/staff?done={body['id']}", status_code=303)


@router.post("/admin/staff/{staff_id}")
async def change_staff(
    request: Request, config: ConfigDep, apis: ApisDep, user: Admin, staff_id: str
) -> Response:
    form = await request.form()
    body = _person(form)
    try:
        apis.put("escalation", f"/staff/{staff_id}", user.token, body)
    except Refused as exc:
        return _staff_page(request, config, apis, user, error=exc.message, status=exc.status)
    if not body["active"]:
        # Deactivated: their sessions and every token they hold end now, not at the next
        # directory look-up.
        state = request.app.state
        now = utcnow()
        access.end_sessions_of(state.db, state.auth_db, staff_id, now=now, why="deactivated")
        with state.auth_db.transaction() as session:
            revoke_tokens(session, staff_id=staff_id)
    return RedirectResponse(f"/admin/staff?done={staff_id}", status_code=303)


@router.post("/admin/accounts/{staff_id}/password")
async def set_password(
    request: Request, config: ConfigDep, apis: ApisDep, user: Admin, staff_id: str
) -> Response:
    form = await request.form()
    try:
        apis.get("escalation", f"/staff/{staff_id}", user.token)
        access.set_password(
            request.app.state.db,
            staff_id,
            _text(form, "password"),
            config,
            by=user.staff_id,
            now=utcnow(),
            must_change=True,
        )
    except Refused as exc:
        return _staff_page(request, config, apis, user, error=exc.message, status=exc.status)
    except access.PasswordRefused as exc:
        message = exc.en if request.cookies.get("wb_lang") == "en" else exc.zh
        return _staff_page(request, config, apis, user, error=message, status=422)
    return RedirectResponse(f"/admin/staff?done={staff_id}", status_code=303)


@router.post("/admin/accounts/{staff_id}/unlock")
async def unlock(request: Request, user: Admin, staff_id: str) -> Response:
    access.unlock(request.app.state.db, staff_id, now=utcnow())
    return RedirectResponse(f"/admin/staff?done={staff_id}", status_code=303)


# --- departments ----------------------------------------------------------------------


def _departments_page(
    request: Request,
    config: WorkbenchConfig,
    apis: Apis,
    user: User,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    return render(
        request,
        "admin_departments.html",
        config,
        user=user,
        departments=apis.get("escalation", "/departments", user.token),
        clients=clients_of(apis, user),
        loads={
            d["department_id"]: d for d in apis.get("escalation", "/queues/departments", user.token)
        },
        error=error,
        done=request.query_params.get("done"),
        status=status,
    )


@router.get("/admin/departments")
def departments(request: Request, config: ConfigDep, apis: ApisDep, user: Admin) -> Response:
    return _departments_page(request, config, apis, user)


def _department(form: Any) -> dict[str, Any]:
    phones = [p.strip() for p in _text(form, "contact_phones").replace("，", ",").split(",")]
    return {
        "name": _text(form, "name"),
        "contact_phones": [p for p in phones if p],
        "head_staff_id": _text(form, "head_staff_id") or None,
        "active": _text(form, "active") in ("on", "true", "1"),
        # Left out (a form without the choice): escalation keeps the department's own.
        "assignment": _text(form, "assignment") or None,
    }


def _new_department(form: Any) -> dict[str, Any]:
    body = {"id": _text(form, "id"), **_department(form)}
    if _text(form, "tenant"):
        body["tenant"] = _text(form, "tenant")  # the client it works for
    return body


@router.post("/admin/departments")
async def add_department(
    request: Request, config: ConfigDep, apis: ApisDep, user: Admin
) -> Response:
    form = await request.form()
    body = {**_new_department(form), "active": True}
    try:
        apis.post("escalation", "/departments", user.token, body)
    except Refused as exc:
        return _departments_page(request, config, apis, user, error=exc.message, status=exc.status)
    return RedirectResponse(f"/admin/departments?done={body['id']}", status_code=303)


@router.post("/admin/departments/{department_id}")
async def change_department(
    request: Request, config: ConfigDep, apis: ApisDep, user: Admin, department_id: str
) -> Response:
    form = await request.form()
    try:
        apis.put("escalation", f"/departments/{department_id}", user.token, _department(form))
    except Refused as exc:
        return _departments_page(request, config, apis, user, error=exc.message, status=exc.status)
    return RedirectResponse(f"/admin/departments?done={department_id}", status_code=303)


# --- who read which customer's data ----------------------------------------------------

# The services that show a person a customer's file or phone, each keeping its own log.
LOGGED = ("intake", "escalation", "notify")


@router.get("/admin/access-log")
def access_log(
    request: Request,
    config: ConfigDep,
    apis: ApisDep,
    user: Admin,
    customer: str = "",
    staff: str = "",
    complaint: str = "",
    since: str = "",
) -> Response:
    """The reads of the services' access logs that match, newest first, side by side."""
    wanted = {"customer": customer.strip()[:80], "staff": staff.strip()[:64]}
    wanted["complaint"] = complaint.strip()[:64]
    errors: list[str] = []
    bad_since = False
    if since.strip():
        try:
            day = date.fromisoformat(since.strip())
        except ValueError:
            bad_since = True
        else:
            wanted["since"] = datetime(day.year, day.month, day.day, tzinfo=config.tz()).isoformat()
    reads: list[dict[str, Any]] = []
    if not bad_since:
        for service in LOGGED:
            try:
                page = apis.get(service, "/access-log", user.token, limit=200, **wanted)
            except Refused as exc:
                errors.append(f"{service}: {exc.message}")
                continue
            reads += [{**item, "service": service} for item in page["items"]]
    reads.sort(key=lambda read: datetime.fromisoformat(read["at"]), reverse=True)
    return render(
        request,
        "admin_access_log.html",
        config,
        user=user,
        reads=reads[:200],
        errors=errors,
        bad_since=bad_since,
        customer=customer,
        staff=staff,
        complaint=complaint,
        since=since,
    )
