"""The duty roster: a week at a glance, shifts added (with a backup) and removed."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.workbench.access.deps import allow
from services.workbench.access.flows import User
from services.workbench.apis import Apis, Refused
from services.workbench.config import ConfigDep, WorkbenchConfig
from services.workbench.pages import render
from shared.clock import utcnow
from shared.deps import from_state
from shared.vocabulary import Role

router = APIRouter(include_in_schema=False)

ApisDep = Annotated[Apis, from_state("apis")]
Planner = Annotated[User, allow(Role.SUPERVISOR, Role.ADMIN)]
Reader = Annotated[User, allow(Role.SUPERVISOR, Role.ADMIN, Role.DUTY_MANAGER)]


def _monday(config: WorkbenchConfig, week: str | None) -> date:
    try:
        day = date.fromisoformat(week) if week else utcnow().astimezone(config.tz()).date()
    except ValueError:
        day = utcnow().astimezone(config.tz()).date()
    return day - timedelta(days=day.weekday())


def week_of(
    config: WorkbenchConfig, shifts: list[dict[str, Any]], monday: date
) -> list[dict[str, Any]]:
    """Seven days, each with the shifts that touch it, in the centre's time."""
    tz = config.tz()
    days = []
    for offset in range(7):
        day = monday + timedelta(days=offset)
        start = datetime.combine(day, time(), tz)
        end = start + timedelta(days=1)
        touching = [
            s
            for s in shifts
            if datetime.fromisoformat(s["starts_at"]) < end
            and datetime.fromisoformat(s["ends_at"]) > start
        ]
        days.append({"day": day, "shifts": touching})
    return days


def _page(
    request: Request,
    config: WorkbenchConfig,
    apis: Apis,
    user: User,
    week: str | None,
    *,
    error: str | None = None,
    status: int = 200,
) -> Response:
    monday = _monday(config, week)
    tz = config.tz()
    start = datetime.combine(monday, time(), tz)
    shifts = apis.get(
        "escalation",
        "/roster/shifts",
        user.token,
        limit=500,
        **{"from": start.isoformat(), "to": (start + timedelta(days=7)).isoformat()},
    )
    managers: list[dict[str, Any]] = []
    if user.role in (Role.SUPERVISOR, Role.ADMIN):
        try:
            managers = apis.get(
                "escalation", "/staff", user.token, role=Role.DUTY_MANAGER.value, active="true"
            )
        except Refused:
            managers = []
    try:
        on_duty = apis.get("escalation", "/roster/on-duty", user.token)
    except Refused:
        on_duty = None
    return render(
        request,
        "roster.html",
        config,
        user=user,
        monday=monday,
        previous=(monday - timedelta(days=7)).isoformat(),
        following=(monday + timedelta(days=7)).isoformat(),
        days=week_of(config, shifts, monday),
        managers=managers,
        names={m["id"]: m["name"] for m in managers},
        on_duty=on_duty,
        now=utcnow(),
        error=error,
        status=status,
    )


@router.get("/roster")
def roster(
    request: Request, config: ConfigDep, apis: ApisDep, user: Reader, week: str | None = None
) -> Response:
    return _page(request, config, apis, user, week)


def _local(value: str, config: WorkbenchConfig) -> str:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=config.tz())
    return moment.isoformat()


@router.post("/roster/shifts")
async def add_shift(request: Request, config: ConfigDep, apis: ApisDep, user: Planner) -> Response:
    form = await request.form()
    week = str(form.get("week") or "")
    try:
        body = {
            "staff_id": str(form.get("staff_id") or ""),
            "starts_at": _local(str(form.get("starts_at") or ""), config),
            "ends_at": _local(str(form.get("ends_at") or ""), config),
            "backup_staff_id": str(form.get("backup_staff_id") or "") or None,
        }
    except ValueError:
        return _page(
            request,
            config,
            apis,
            user,
            week,
            error="starts_at/ends_at: 时间格式不正确 (not a time)",
            status=422,
        )
    try:
        apis.post("escalation", "/roster/shifts", user.token, body)
    except Refused as exc:
        return _page(request, config, apis, user, week, error=exc.message, status=exc.status)
    return RedirectResponse(f"/roster?week={week}", status_code=303)


@router.post("/roster/shifts/{shift_id}/delete")
async def delete_shift(
    request: Request, config: ConfigDep, apis: ApisDep, user: Planner, shift_id: str
) -> Response:
    week = str((await request.form()).get("week") or "")
    try:
        apis.delete("escalation", f"/roster/shifts/{shift_id}", user.token)
    except Refused as exc:
        return _page(request, config, apis, user, week, error=exc.message, status=exc.status)
    return RedirectResponse(f"/roster?week={week}", status_code=303)
