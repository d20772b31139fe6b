"""QA's and the centre's pages: the month's indicators, the Pareto of root causes, deadlines
met per department, and each department's monthly report, from the analytics API."""

from __future__ import annotations

import calendar
import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.workbench.access.deps import allow
from services.workbench.access.flows import User
from services.workbench.apis import Apis, Refused
from services.workbench.config import ConfigDep
from services.workbench.pages import render
from shared.clock import utcnow
from shared.deps import from_state
from shared.vocabulary import Role

router = APIRouter(include_in_schema=False)

ApisDep = Annotated[Apis, from_state("apis")]
Reader = Annotated[
    User,
    allow(Role.QA, Role.ADMIN, Role.SUPERVISOR, Role.DUTY_MANAGER, Role.DEPARTMENT, Role.VIEWER),
]
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def _month(config: Any, month: str | None) -> str:
    if month and _MONTH.match(month):
        return month
    return utcnow().astimezone(config.tz()).strftime("%Y-%m")


@router.get("/qa")
def centre_reports(
    request: Request, config: ConfigDep, apis: ApisDep, user: Reader, month: str | None = None
) -> Response:
    chosen = _month(config, month)
    year, number = (int(part) for part in chosen.split("-"))
    start = date(year, number, 1)
    end = date(year, number, calendar.monthrange(year, number)[1])
    period = {"from": start.isoformat(), "to": end.isoformat()}
    token = user.token
    overview = apis.get("analytics", "/analytics/overview", token, **period)
    causes = apis.get("analytics", "/analytics/root-causes", token, month=chosen)
    try:
        sla = apis.get("analytics", "/analytics/sla-by-department", token, **period)["departments"]
    except Refused:
        sla = []
    try:
        filters = apis.get("analytics", "/analytics/filters", token)
    except Refused:
        filters = {"months": [], "departments": []}
    months = sorted({chosen, *filters.get("months", [])}, reverse=True)
    try:
        # The month's hot issues no approved article answers: the articles to write.
        gaps = apis.get("analytics", "/analytics/knowledge-gaps", token, **period)
    except Refused:
        gaps = None
    return render(
        request,
        "qa.html",
        config,
        user=user,
        month=chosen,
        months=months,
        overview=overview,
        causes=causes,
        sla=sla,
        departments=filters.get("departments", []),
        gaps=gaps,
    )


@router.get("/qa/reports/{department_id}")
def department_report(
    request: Request,
    config: ConfigDep,
    apis: ApisDep,
    user: Reader,
    department_id: str,
    month: str | None = None,
) -> Response:
    """The department's monthly report as analytics prints it (a page of its own)."""
    chosen = _month(config, month)
    page = apis.call(
        "analytics",
        "GET",
        f"/analytics/departments/{department_id[:64]}/report",
        user.token,
        params={"month": chosen, "format": "html"},
        text=True,
    )
    return HTMLResponse(page)
