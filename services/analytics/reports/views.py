"""The analytics API: overview, Pareto, trends, customers, closures, department reports,
and QA's root-cause revision. JSON by default; `format=csv` where the answer is a table.

Every report is one client's (shared.tenants.scope): a client's token reads its own
client's, whatever it asks; the centre's own staff read every client's, or the one the
`tenant` parameter names. A complaint of another client is answered as if it did not
exist."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from services.analytics.config import get_config
from services.analytics.facts import flows
from services.analytics.facts import service as service_facts
from services.analytics.facts.models import RootCauseRead, RootCauseUpdate, SuggestionDraft
from services.analytics.knowledge import flows as knowledge
from services.analytics.reports import department as department_report
from services.analytics.reports import hot, render, service
from services.analytics.reports.spikes import find_spikes
from services.analytics.text import evaluation, suggest
from services.analytics.text.hotspots import Document, find_hotspots
from services.analytics.text.issues import Weights
from shared.auth.deps import require_roles
from shared.auth.principal import Principal, Role
from shared.clock import Clock
from shared.db import Database
from shared.deps import Db, OutboxDep
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.headers import page_with_inline
from shared.params import IsoDate
from shared.privacy import mask_text, mask_word
from shared.tenants import DEFAULT_TENANT, TENANT_PATTERN, UnknownTenant, may_see, tenants
from shared.tenants import scope as tenant_scope
from shared.vocabulary import Stage

router = APIRouter(prefix="/analytics", tags=["analytics"])

READERS = (
    Role.DUTY_MANAGER,
    Role.SUPERVISOR,
    Role.DEPARTMENT,
    Role.QA,
    Role.ADMIN,
    Role.VIEWER,
)
# Lists of customers are for the centre's own staff, not for a department or a client.
CENTRE = (Role.DUTY_MANAGER, Role.SUPERVISOR, Role.QA, Role.ADMIN)
REVISERS = (Role.QA, Role.ADMIN)
# Those who write a resolution and choose its root cause, or check it.
WRITERS = (Role.DUTY_MANAGER, Role.SUPERVISOR, Role.DEPARTMENT, Role.QA, Role.ADMIN)

# The outsourcer's own views across its clients (a client-bound token is refused).
OUTSOURCER = (Role.SUPERVISOR, Role.QA, Role.ADMIN)
# Who plans the agents at the phones (/analytics/staffing): the centre's business, so
# neither a department nor a client's viewer; a client-bound planner sees its client's.
PLANNERS = (Role.SUPERVISOR, Role.QA, Role.ADMIN)

Reader = Annotated[Principal, require_roles(*READERS)]
CentreStaff = Annotated[Principal, require_roles(*CENTRE)]
Reviser = Annotated[Principal, require_roles(*REVISERS)]
Writer = Annotated[Principal, require_roles(*WRITERS)]
Outsourcer = Annotated[Principal, require_roles(*OUTSOURCER)]
From = Annotated[IsoDate | None, Query(alias="from", description="first day (local), YYYY-MM-DD")]
To = Annotated[
    IsoDate | None, Query(alias="to", description="last day (local), inclusive; default today")
]
# The slug departments are created with (escalation's directory), so it fits a file name.
DEPARTMENT_ID = r"^[a-z0-9][a-z0-9_\-]{0,63}$"
Department = Annotated[
    str | None, Query(pattern=DEPARTMENT_ID, max_length=64, description="a department id")
]
# 1970-01 to 2999-12, the days a report may name (EARLIEST, LATEST).
Month = Annotated[
    str | None,
    Query(
        pattern=r"^(19[7-9]\d|2\d{3})-(0[1-9]|1[0-2])$",
        description="YYYY-MM (1970-01 to 2999-12); default this month",
    ),
]
TableFormat = Annotated[Literal["json", "csv"], Query()]
Tenant = Annotated[
    str | None,
    Query(
        pattern=TENANT_PATTERN,
        max_length=32,
        description="a client of the centre (its own staff narrow with it; a client's token "
        "reads only its own client, and another named here is refused)",
    ),
]
# What an answer in JSON or, with format=csv, as a table looks like in the document.
TABLE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {}, "text/csv": {}}}
}


async def _now(request: Request) -> datetime:
    return cast(Clock, request.app.state.clock).now()


# When the request came, on the app's clock (which tests move).
Now = Annotated[datetime, Depends(_now)]


def today(now: datetime) -> date:
    return now.astimezone(get_config().tz()).date()


def this_month(now: datetime) -> str:
    return today(now).strftime("%Y-%m")


# Days a report may name: reports reach back up to twenty years before them, which the
# calendar must still hold.
EARLIEST, LATEST = date(1970, 1, 1), date(2999, 12, 31)


def day_in_range(value: date | None, field: str) -> date | None:
    if value is not None and not EARLIEST <= value <= LATEST:
        raise Unprocessable(
            field, f"must be between {EARLIEST.isoformat()} and {LATEST.isoformat()}"
        )
    return value


def period(now: datetime, start: date | None, end: date | None) -> tuple[date, date]:
    end = day_in_range(end, "to") or today(now)
    start = day_in_range(start, "from") or end - timedelta(days=29)
    if start > end:
        raise Unprocessable("from", f"must not be after to ({end.isoformat()})")
    if (end - start).days > 3660:
        raise Unprocessable("from", "the period is limited to ten years")
    return start, end


def scope(principal: Principal, department: str | None) -> str | None:
    """A department user sees their own department only."""
    if principal.role != Role.DEPARTMENT:
        return department
    if department is not None and department != principal.department_id:
        raise Forbidden(
            f"a department user sees only their own department ({principal.department_id})",
            department=department,
        )
    return principal.department_id


def own(principal: Principal) -> str | None:
    """The department a department user is limited to; None for everyone else."""
    return principal.department_id if principal.role == Role.DEPARTMENT else None


def centre_wide(principal: Principal) -> bool:
    """Whether the principal reads the centre's figures across its clients: its own
    supervisors, QA and administrators, who serve every client."""
    return principal.tenant is None and principal.role in OUTSOURCER


def client(principal: Principal, asked: str | None) -> str | None:
    """The client a report is limited to (None: every client): shared.tenants.scope, a
    client the centre does not serve answered as a wrong `tenant`."""
    try:
        return tenant_scope(principal, asked)
    except UnknownTenant as error:
        raise Unprocessable("tenant", str(error)) from None


def mixed(limited: str | None) -> bool:
    """Whether a list holds several clients' rows (every client's, where the centre
    serves several): its CSV then names each row's client in a last column."""
    return limited is None and tenants().several


def complaint_of(session: Any, principal: Principal, complaint_id: str) -> dict[str, Any]:
    """The complaint's fact, if the principal may see it: another department's (for a
    department user) or another client's is answered as if it did not exist."""
    fact = service_facts.find_fact(session, complaint_id, tenant=principal.tenant)
    department = own(principal)
    if (
        fact is None
        or not may_see(principal, fact["tenant"])
        or (department is not None and fact["department_id"] != department)
    ):
        raise NotFound(f"no complaint {complaint_id} in analytics", complaint_id=complaint_id)
    return fact


# Complaints the duty desk answered itself are counted under this key.
DUTY_DESK = "duty_desk"
DUTY_DESK_NAME = "值班台 Duty desk"


def _names(session: Any, departments: list[str]) -> dict[str, str]:
    """Each department's name as the directory last gave it (its id if none came)."""
    known = service_facts.department_name_map(session)
    return {d: DUTY_DESK_NAME if d == DUTY_DESK else known.get(d, d) for d in departments}


def csv_response(body: str, name: str) -> Response:
    # Header values are Latin-1: anything else in the name is left out of it.
    safe = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in name)
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{safe}.csv"'},
    )


@router.get("/overview", summary="Key indicators for a period", responses=TABLE)
def get_overview(
    db: Db,
    now: Now,
    principal: Reader,
    start: From = None,
    end: To = None,
    department: Department = None,
    tenant: Tenant = None,
    format: TableFormat = "json",
) -> Any:
    """Volume, open, overdue, SLA compliance and median / p90 hours per stage,
    satisfaction, reopen rate and escalations of the complaints registered in the period."""
    start, end = period(now, start, end)
    with db.read() as session:
        data = service.overview(
            session,
            start=start,
            end=end,
            department=scope(principal, department),
            now=now,
            tenant=client(principal, tenant),
        )
    if format == "csv":
        header = ["stage", "met", "missed", "compliance", "median_hours", "p90_hours"]
        rows = [[s[h] for h in header] for s in data["sla"]]
        return csv_response(render.table_csv(header, rows), f"overview-{start}-{end}")
    return data


@router.get(
    "/root-causes", summary="Pareto of root causes by department and month", responses=TABLE
)
def get_root_causes(
    db: Db,
    now: Now,
    principal: Reader,
    month: Month = None,
    department: Department = None,
    tenant: Tenant = None,
    format: TableFormat = "json",
) -> Any:
    month = month or this_month(now)
    department, tenant = scope(principal, department), client(principal, tenant)
    with db.read() as session:
        data = service.root_causes(session, month=month, department=department, tenant=tenant)
        names = _names(session, [d["department"] for d in data["by_department"]])
    for entry in data["by_department"]:
        entry["name"] = names[entry["department"]]
    if format == "csv":
        header = ["department", "name", "root_cause", "label_zh", "count", "share", "cumulative"]
        rows = [
            [
                d["department"],
                d["name"],
                c["root_cause"],
                c["label_zh"],
                c["count"],
                c["share"],
                c["cumulative"],
            ]
            for d in data["by_department"]
            for c in d["causes"]
        ]
        return csv_response(render.table_csv(header, rows), f"root-causes-{month}")
    return data


@router.get(
    "/trends", summary="Complaints per day or month by category, channel, …", responses=TABLE
)
def get_trends(
    db: Db,
    now: Now,
    principal: Reader,
    start: From = None,
    end: To = None,
    by: Literal["category", "channel", "department", "severity"] = "category",
    interval: Literal["day", "month"] = "day",
    department: Department = None,
    tenant: Tenant = None,
    format: TableFormat = "json",
) -> Any:
    start, end = period(now, start, end)
    # Days still to come have no complaints yet: a zero for them would read as a quiet day.
    end = min(end, today(now))
    with db.read() as session:
        data = service.trends(
            session,
            start=start,
            end=end,
            by=by,
            interval=interval,
            department=scope(principal, department),
            tenant=client(principal, tenant),
        )
        if by == "department":
            data["names"] = _names(session, [s["key"] for s in data["series"]])
    if format == "csv":
        header = [by, *data["buckets"]]
        rows = [[s["key"], *s["counts"]] for s in data["series"]]
        return csv_response(render.table_csv(header, rows), f"trends-{by}-{start}-{end}")
    return data


@router.get(
    "/repeat-complainants", summary="Customers who complained often lately", responses=TABLE
)
def get_repeat_complainants(
    db: Db,
    now: Now,
    principal: CentreStaff,
    days: Annotated[int | None, Query(ge=1, le=366)] = None,
    minimum: Annotated[int | None, Query(alias="min", ge=2, le=1000)] = None,
    end: To = None,
    tenant: Tenant = None,
    format: TableFormat = "json",
) -> Any:
    """Customers with at least `min` complaints in the `days` days up to `to`; phones
    masked. A customer of two clients is two customers, one of each."""
    config = get_config()
    tenant = client(principal, tenant)
    with db.read() as session:
        data = service.repeat_complainants(
            session,
            end=day_in_range(end, "to") or today(now),
            days=days or config.repeat_days,
            minimum=minimum or config.repeat_min,
            tz=config.tz(),
            tenant=tenant,
        )
    if format == "csv":
        named = ["tenant"] if mixed(tenant) else []
        header = ["customer", "complaints", "open", "first", "last", "references", *named]
        rows = [
            [
                c["customer"],
                c["complaints"],
                c["open"],
                c["first"],
                c["last"],
                " ".join(c["references"]),
                *(c[n] for n in named),
            ]
            for c in data["customers"]
        ]
        return csv_response(render.table_csv(header, rows), "repeat-complainants")
    return data


@router.get("/false-closures", summary="Closed complaints that may not be solved", responses=TABLE)
def get_false_closures(
    db: Db,
    now: Now,
    principal: Reader,
    start: From = None,
    end: To = None,
    days: Annotated[int | None, Query(ge=1, le=90, description="recall window")] = None,
    department: Department = None,
    tenant: Tenant = None,
    format: TableFormat = "json",
) -> Any:
    """Closed, yet the customer said unsatisfied (and never satisfied), or called again
    within `days` days of the closure."""
    start, end = period(now, start, end)
    tenant = client(principal, tenant)
    with db.read() as session:
        data = service.false_closures(
            session,
            start=start,
            end=end,
            recall_days=days or get_config().recall_days,
            department=scope(principal, department),
            tz=get_config().tz(),
            tenant=tenant,
        )
    if format == "csv":
        named = ["tenant"] if mixed(tenant) else []
        header = ["reference", "customer", "category", "department", "closed_at", "reasons"]
        rows = [
            [
                c["reference"],
                c["customer"],
                c["category"],
                c["department"],
                c["closed_at"],
                " ".join(c["reasons"]),
                *(c[n] for n in named),
            ]
            for c in data["complaints"]
        ]
        return csv_response(
            render.table_csv([*header, *named], rows), f"false-closures-{start}-{end}"
        )
    return data


@router.get(
    "/departments/{department_id}/report",
    summary="A department's monthly report (json, csv or a printable html page)",
    responses={
        200: {"content": {"text/html": {}, "text/csv": {}}},
        404: {"description": "analytics knows no department of that id"},
    },
)
def get_department_report(
    request: Request,
    db: Db,
    now: Now,
    principal: Reader,
    department_id: Annotated[str, Path(pattern=DEPARTMENT_ID, max_length=64)],
    month: Month = None,
    tenant: Tenant = None,
    format: Literal["json", "csv", "html"] = "json",
) -> Any:
    department = scope(principal, department_id) or department_id
    month = month or this_month(now)
    limited = client(principal, tenant)
    with db.read() as session:
        if not service.department_known(session, department, tenant=limited):
            # Not a page of zeros: a misspelt id would read like a department with no
            # work. Another client's department is not known to this client's reader.
            raise NotFound(f"no department {department!r} in analytics", department=department)
        # A department serves one client: its report counts that client's complaints.
        tenant = limited or service.department_tenant(session, department)
        report = department_report.department_report(
            session,
            department=department,
            month=month,
            now=now,
            tz=get_config().tz(),
            tenant=tenant,
        )
    if tenants().several and tenant is not None and (known := tenants().get(tenant)):
        report["tenant_name"] = f"{known.zh} {known.en}" if known.en != known.zh else known.zh
    # "Your three hot issues": what the department's complaints of the month were about.
    first = date.fromisoformat(f"{month}-01")
    last = date.fromisoformat(f"{department_report.next_month(month)}-01") - timedelta(days=1)
    config = get_config()
    ask = hot.Ask(
        first,
        last,
        department=department,
        weights=Weights.parse(config.hot_issue_weights),
        min_callers=config.hot_issue_min_callers,
        limit=3,
        tenant=tenant,
    )
    report["hot_issues"] = hot_issues(request, db, now, ask)["issues"]
    if format == "csv":
        return csv_response(render.department_csv(report), f"report-{department}-{month}")
    if format == "html":
        # A page that prints and saves on its own: its one <style> is allowed by its hash.
        return page_with_inline(render.department_html(report))
    return report


@router.put(
    "/complaints/{complaint_id}/root-cause",
    response_model=RootCauseRead,
    summary="QA revises a complaint's root cause",
)
def put_root_cause(
    db: Db,
    outbox: OutboxDep,
    now: Now,
    principal: Reviser,
    complaint_id: Annotated[str, Path(max_length=64)],
    data: RootCauseUpdate,
) -> RootCauseRead:
    """Reports use the latest revision from now on; the revision is published, so a
    rebuild from the topics keeps it. The reference (TS…) works in place of the id."""
    return flows.revise_root_cause(
        db,
        outbox,
        complaint_id,
        data,
        staff_id=principal.staff_id,
        role=principal.role.value,
        now=now,
        tenant=principal.tenant,
    )


@router.get(
    "/complaints/{complaint_id}/root-cause",
    response_model=RootCauseRead,
    summary="A complaint's root cause as reports use it",
)
def get_root_cause(
    db: Db, principal: Reader, complaint_id: Annotated[str, Path(max_length=64)]
) -> RootCauseRead:
    return flows.root_cause_of(db, complaint_id, department=own(principal), tenant=principal.tenant)


@router.get("/filters", summary="The months, departments and clients there is data for")
def get_filters(db: Db, now: Now, principal: Reader, tenant: Tenant = None) -> dict[str, Any]:
    """The months with complaints (the caller's department's, for a department user;
    none after this one), latest first, the month a page should open on (the latest with
    data), and the departments with their names; of the client in scope (`tenant`). The
    clients the caller may choose from (a client's token: its own only), the one it is
    bound to (None: the centre's own staff), and whether it reads the centre's views
    across clients (`/analytics/tenants`) and the staffing plan (`/analytics/staffing`)."""
    mine = own(principal)
    limited = client(principal, tenant)
    with db.read() as session:
        departments = service.departments(session, tenant=limited)
        months = service.months(session, department=mine, until=this_month(now), tenant=limited)
        names = service_facts.department_name_map(session)
    if mine is not None:
        departments = [d for d in departments if d == mine]
    choosable = [t for t in tenants().all() if may_see(principal, t.id)]
    return {
        "months": months,
        "default_month": months[0] if months else this_month(now),
        "departments": departments,
        "department_names": {d: names.get(d, d) for d in departments},
        "today": today(now).isoformat(),
        "tenant": limited,
        "own_tenant": principal.tenant,
        "tenants": [{"id": t.id, "zh": t.zh, "en": t.en} for t in choosable],
        "centre_views": centre_wide(principal),
        "staffing_views": principal.role in PLANNERS,
    }


@router.get("/spikes", summary="Category-days far above their trailing baseline", responses=TABLE)
def get_spikes(
    db: Db,
    now: Now,
    principal: Reader,
    start: From = None,
    end: To = None,
    department: Department = None,
    baseline_days: Annotated[int | None, Query(ge=7, le=365)] = None,
    min_count: Annotated[int | None, Query(ge=1)] = None,
    z: Annotated[float | None, Query(gt=0, le=100)] = None,
    tenant: Tenant = None,
    format: TableFormat = "json",
) -> Any:
    config = get_config()
    start, end = period(now, start, end)
    tenant = client(principal, tenant)
    days = baseline_days or config.spike_baseline_days
    with db.read() as session:
        counts = service.daily_counts(
            session,
            start=start - timedelta(days=days),
            end=end,
            department=scope(principal, department),
            tenant=tenant,
        )
    data = find_spikes(
        counts,
        start=start,
        end=end,
        baseline_days=days,
        min_count=min_count or config.spike_min_count,
        threshold=z or config.spike_z,
    )
    data["tenant"] = tenant
    if format == "csv":
        header = ["category", "day", "count", "baseline_mean", "baseline_std", "z"]
        rows = [[s[h] for h in header] for s in data["spikes"]]
        return csv_response(render.table_csv(header, rows), f"spikes-{start}-{end}")
    return data


@router.get("/hotspots", summary="Emerging topics in complaint text, with examples")
def get_hotspots(
    db: Db,
    now: Now,
    principal: Reader,
    start: From = None,
    end: To = None,
    department: Department = None,
    baseline_days: Annotated[
        int | None, Query(ge=1, le=3660, description="default: as long as the window")
    ] = None,
    topics: Annotated[int, Query(ge=1, le=30)] = 8,
    min_count: Annotated[int, Query(ge=2, le=1000)] = 3,
    tenant: Tenant = None,
) -> Any:
    """Words that grew in the window against the baseline before it (Chinese segmented
    into words, English tokenised), grouped into topics with keywords, counts, growth
    and example complaints."""
    start, end = period(now, start, end)
    days = baseline_days or (end - start).days + 1
    limit = get_config().hotspot_max_documents
    department = scope(principal, department)
    mine = {"department": department, "tenant": client(principal, tenant)}
    with db.read() as session:
        window = service.texts(session, start=start, end=end, limit=limit, **mine)
        baseline = service.texts(
            session,
            start=start - timedelta(days=days),
            end=start - timedelta(days=1),
            limit=limit,
            **mine,
        )

    def docs(rows: list[Any]) -> list[Document]:
        return [
            Document(r.complaint_id, r.reference, r.category, r.description, r.customer_name)
            for r in rows
        ]

    found = find_hotspots(docs(window), docs(baseline), topics=topics, min_count=min_count)
    return {
        "tenant": mine["tenant"],
        "from": start.isoformat(),
        "to": end.isoformat(),
        "baseline_from": (start - timedelta(days=days)).isoformat(),
        "baseline_to": (start - timedelta(days=1)).isoformat(),
        "complaints": len(window),
        "baseline_complaints": len(baseline),
        "topics": found,
    }


@router.get(
    "/hot-issues",
    summary="Hot issues: one problem at one place, with callers, growth and departments",
    responses=TABLE,
)
def get_hot_issues(
    request: Request,
    db: Db,
    now: Now,
    principal: Reader,
    start: From = None,
    end: To = None,
    department: Department = None,
    min_callers: Annotated[
        int | None, Query(ge=2, le=1000, description="fewest distinct callers an issue has")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    weights: Annotated[
        str | None,
        Query(
            max_length=80,
            description="heat weights, e.g. callers=1,recency=2,growth=0.5 "
            "(default ANALYTICS_HOT_ISSUE_WEIGHTS)",
        ),
    ] = None,
    tenant: Tenant = None,
    format: TableFormat = "json",
) -> Any:
    """Complaints grouped by the place or organisation they name and the problem they
    describe, each labelled "<place>: <problem>" in its callers' words, with its
    complaints and distinct callers, first and last time, callers in the period before
    (of the same length), the departments it went to and typical complaints; hottest
    first (callers, recent callers and new callers, weighted). An issue is one client's:
    two clients' callers about one place are two issues."""
    config = get_config()
    start, end = period(now, start, end)
    try:
        heat = Weights.parse(weights if weights is not None else config.hot_issue_weights)
    except ValueError as error:
        raise Unprocessable("weights", str(error)) from None
    ask = hot.Ask(
        start,
        end,
        department=scope(principal, department),
        weights=heat,
        min_callers=min_callers or config.hot_issue_min_callers,
        limit=limit,
        tenant=client(principal, tenant),
    )
    data = hot_issues(request, db, now, ask)
    named = ["tenant"] if mixed(ask.tenant) else []
    if format == "csv":
        header = [
            "label",
            "callers",
            "complaints",
            "previous_callers",
            "heat",
            "first_at",
            "last_at",
            "departments",
            "references",
            *named,
        ]
        rows = [
            [
                i["label"],
                i["callers"],
                i["complaints"],
                i["previous_callers"],
                i["heat"],
                i["first_at"],
                i["last_at"],
                " ".join(d["name"] for d in i["departments"]),
                " ".join(e["reference"] for e in i["examples"]),
                *(i.get(n) or DEFAULT_TENANT for n in named),
            ]
            for i in data["issues"]
        ]
        return csv_response(render.table_csv(header, rows), f"hot-issues-{start}-{end}")
    return data


# Who keeps the knowledge base: QA writes the articles, a supervisor approves them too.
KNOWLEDGE_KEEPERS = (Role.QA, Role.SUPERVISOR, Role.ADMIN)


@router.get("/knowledge-gaps", summary="Hot issues no article of the knowledge base answers yet")
def get_knowledge_gaps(
    request: Request,
    db: Db,
    now: Now,
    principal: Annotated[Principal, require_roles(*KNOWLEDGE_KEEPERS)],
    start: From = None,
    end: To = None,
    min_callers: Annotated[
        int | None, Query(ge=2, le=1000, description="fewest distinct callers an issue has")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    tenant: Tenant = None,
) -> Any:
    """The period's hot issues (as /analytics/hot-issues finds them) that no approved
    article of their client valid now answers — the articles to write next, hottest
    first — and those answered, each with its articles. An article answers an issue when
    its question or keywords hold one of the issue's two most telling words."""
    config = get_config()
    start, end = period(now, start, end)
    ask = hot.Ask(
        start,
        end,
        department=None,
        weights=Weights.parse(config.hot_issue_weights),
        min_callers=min_callers or config.hot_issue_min_callers,
        limit=limit,
        tenant=client(principal, tenant),
    )
    issues = hot_issues(request, db, now, ask)["issues"]
    with db.read() as session:
        read = knowledge.read_now(session, now=now, tenant=ask.tenant)
    return {
        "tenant": ask.tenant,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "articles": len(read),
        **knowledge.gaps(issues, read),
    }


def hot_issues(request: Request, db: Database, now: datetime, ask: hot.Ask) -> dict[str, Any]:
    """The answer this process keeps (or another process stored) for the ask, else
    computed now."""
    state = request.app.state
    if getattr(state, "hot_issues", None) is None:
        state.hot_issues = hot.HotIssues()
    found: dict[str, Any] = state.hot_issues.get(db, ask, tz=get_config().tz(), now=now)
    return found


MIN_TAGGED = 20
# One request learns at a time; while it does, the others answer with what there is.
_learning = threading.Lock()


def _learned(request: Request, db: Database, tenant: str) -> evaluation.Learned:
    """The client's suggester, learned from, and measured on, that client's own tagged
    complaints (one client's causes say nothing of another's); learned and measured
    again once enough more are tagged."""
    state = request.app.state
    config = get_config()
    if getattr(state, "suggesters", None) is None:
        state.suggesters = {}
    suggesters: dict[str, evaluation.Learned] = state.suggesters
    with db.read() as session:
        count = service.tagged_count(session, tenant=tenant)

    def fresh() -> evaluation.Learned | None:
        current = suggesters.get(tenant)
        if current is not None and count - current.trained_on < config.suggestion_retrain_after:
            return current
        return None

    if (found := fresh()) is not None:
        return found
    if count < MIN_TAGGED:
        raise Conflict(
            f"only {count} complaints have a root cause; suggestions start at {MIN_TAGGED}",
            tagged=count,
            tenant=tenant,
        )
    current = suggesters.get(tenant)
    if not _learning.acquire(blocking=current is None):
        return cast(evaluation.Learned, current)
    try:
        if (found := fresh()) is not None:
            return found
        with db.read() as session:
            rows = service.tagged(session, limit=config.suggestion_learn_from, tenant=tenant)
        learned = evaluation.for_centre(
            [r.description for r in rows],
            [r.root_cause for r in rows],
            [r.category for r in rows],
            [r.resolution for r in rows],
        )
        learned.trained_on = count
        suggesters[tenant] = learned
        return learned
    finally:
        _learning.release()


SUGGESTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"description": "too few complaints have a root cause to learn from"}
}


@router.get(
    "/complaints/{complaint_id}/root-cause/suggestion",
    summary="The likely root cause of a complaint, learned from those already tagged",
    responses=SUGGESTION_RESPONSES,
)
def get_root_cause_suggestion(
    request: Request, db: Db, principal: Reader, complaint_id: Annotated[str, Path(max_length=64)]
) -> dict[str, Any]:
    """A suggestion only where it has earned one: when, measured on the client's own
    tagged complaints (near duplicates kept on one side of every split), it is right
    more often than the commonest cause and than word matching on the complaints it
    answers, only once the complaint has a written resolution (the suggester reads what
    the department found: from a customer's account alone it cannot tell a root cause)
    and only when it is confident about this one. Otherwise `suggestion` is null and
    `reason` says why; `evaluation` holds the figures either way."""
    return _suggestion(request, db, principal, complaint_id, None)


@router.post(
    "/complaints/{complaint_id}/root-cause/suggestion",
    summary="The likely root cause of a complaint from the resolution being written",
    responses=SUGGESTION_RESPONSES,
)
def post_root_cause_suggestion(
    request: Request,
    db: Db,
    principal: Writer,
    complaint_id: Annotated[str, Path(max_length=64)],
    draft: SuggestionDraft,
) -> dict[str, Any]:
    """As GET, from the resolution the replier is writing rather than the one on
    record: nothing is stored."""
    return _suggestion(request, db, principal, complaint_id, draft.resolution)


def _suggestion(
    request: Request, db: Database, principal: Principal, complaint_id: str, draft: str | None
) -> dict[str, Any]:
    with db.read() as session:
        fact = complaint_of(session, principal, complaint_id)
    names = (fact.get("customer_name"),)
    learned = _learned(request, db, fact["tenant"])
    answer: dict[str, Any] = {
        "complaint_id": fact["complaint_id"],
        "tenant": fact["tenant"],
        "reference": fact["reference"],
        "root_cause": fact["root_cause"],
        "learned_from": learned.learned_from,
        "offered": learned.suggester is not None,
        "suggestion": None,
        "reason": None,
        "evaluation": learned.summary,
    }
    model = learned.suggester
    if model is None:
        answer["reason"] = f"suggestions are off: {learned.reason}"
        return answer
    resolution: str = draft if draft is not None else (fact.get("resolution") or "")
    if not resolution.strip():
        answer["reason"] = (
            "waiting for the resolution: the suggestion reads what the department found "
            "(write it, then ask)"
        )
        return answer
    # The words it names come from the text: masked, as every reader of analytics sees it.
    doc = suggest.features(
        mask_text(fact["description"], names=names),
        fact["category"],
        mask_text(resolution, names=names),
    )
    _, confidence = model.confident(doc)
    best = model.suggest(doc, top=1)[0]
    if not model.answers(confidence):
        answer["reason"] = (
            f"not confident: {best['label']} at {best['probability']:.4f}, "
            f"suggested from {model.threshold:.4f}"
            if confidence
            else "not confident: none of its words appears in the tagged complaints"
        )
        return answer
    answer["suggestion"] = {
        "root_cause": best["label"],
        "label": render.root_cause_label(best["label"]),
        "probability": best["probability"],
        "because_of": [mask_word(word, names=names) for word in best["because_of"]],
    }
    return answer


@router.get("/sla-by-department", summary="Deadlines met per department", responses=TABLE)
def get_sla_by_department(
    db: Db,
    now: Now,
    principal: Reader,
    start: From = None,
    end: To = None,
    department: Department = None,
    tenant: Tenant = None,
    format: TableFormat = "json",
) -> Any:
    start, end = period(now, start, end)
    tenant = client(principal, tenant)
    with db.read() as session:
        rows = service.sla_by_department(
            session, start=start, end=end, department=scope(principal, department), tenant=tenant
        )
        names = _names(session, [r["department"] for r in rows])
    for row in rows:
        row["name"] = names[row["department"]]
    if format == "csv":
        header = [
            "department",
            "name",
            "complaints",
            "acceptance_compliance",
            "resolution_compliance",
        ]
        return csv_response(
            render.table_csv(header, [[r[h] for h in header] for r in rows]),
            f"sla-by-department-{start}-{end}",
        )
    return {"tenant": tenant, "from": start.isoformat(), "to": end.isoformat(), "departments": rows}


@router.get(
    "/arrivals",
    summary="Complaints by hour of the day, for each weekday (for staffing)",
    responses=TABLE,
)
def get_arrivals(
    db: Db,
    now: Now,
    principal: Reader,
    start: From = None,
    end: To = None,
    department: Department = None,
    tenant: Tenant = None,
    format: TableFormat = "json",
) -> Any:
    """How many complaints came in at each hour of the centre's day, Monday to Sunday,
    over the period, with the average per day of that weekday: what the duty roster and
    the agents' shifts are planned against."""
    start, end = period(now, start, end)
    with db.read() as session:
        data = service.arrivals(
            session,
            start=start,
            end=end,
            tz=get_config().tz(),
            department=scope(principal, department),
            tenant=client(principal, tenant),
        )
    data["timezone"] = get_config().timezone
    if format == "csv":
        header = ["weekday", "label_en", *(f"{hour:02d}" for hour in data["hours"])]
        rows = [[w["weekday"], w["label_en"], *w["counts"]] for w in data["weekdays"]]
        return csv_response(render.table_csv(header, rows), f"arrivals-{start}-{end}")
    return data


@router.get(
    "/assists",
    summary="Joint handling (协办): each department as helper and as lead",
    responses=TABLE,
)
def get_assists(
    db: Db,
    now: Now,
    principal: Reader,
    month: Month = None,
    department: Department = None,
    tenant: Tenant = None,
    format: TableFormat = "json",
) -> Any:
    """For the month's joint complaints: each department's parts as an assisting
    department (contributed, in time, late, declined, released, still owed) and how many
    complaints it led with helpers. A department user sees their own department only."""
    month = month or this_month(now)
    with db.read() as session:
        data = service.assists(
            session,
            month=month,
            department=scope(principal, department),
            now=now,
            tenant=client(principal, tenant),
        )
        names = _names(session, [d["department"] for d in data["departments"]])
    for entry in data["departments"]:
        entry["name"] = names[entry["department"]]
    if format == "csv":
        figures = ["parts", "contributed", "on_time", "late", "declined", "released", "owed"]
        header = ["department", "name", *figures, "led_with_helpers"]
        rows = [
            [
                d["department"],
                d["name"],
                *(d["as_assisting"][f] for f in figures),
                d["led_with_helpers"],
            ]
            for d in data["departments"]
        ]
        return csv_response(render.table_csv(header, rows), f"assists-{month}")
    return data


# --- the centre across its clients -------------------------------------------------------


def _outsourcer_only(principal: Principal) -> None:
    if not centre_wide(principal):
        raise Forbidden(
            "the centre's figures across its clients are for the centre's own staff; this "
            f"token belongs to client '{principal.tenant}'",
            tenant=principal.tenant,
        )


def _client_names(rows: list[dict[str, Any]]) -> None:
    for row in rows:
        known = tenants().get(row["tenant"])
        row["name_zh"] = known.zh if known else row["tenant"]
        row["name_en"] = known.en if known else row["tenant"]


@router.get(
    "/tenants",
    summary="Each client's month side by side (the centre's own staff)",
    responses=TABLE,
)
def get_tenants(
    db: Db, now: Now, principal: Outsourcer, month: Month = None, format: TableFormat = "json"
) -> Any:
    """For the outsourcer itself: per client, the month's complaints, distinct callers,
    open, closed, escalated (level 2 and up) and reopened ones, the share of deadlines met
    in each stage, the satisfaction with the first answer and in the end, and the mean
    hours from registration to the answer. Every client the centre serves is listed, one
    without complaints too. A client's token is refused (403)."""
    _outsourcer_only(principal)
    month = month or this_month(now)
    with db.read() as session:
        rows = service.by_tenant(session, month=month, tenants=tenants().ids)
    _client_names(rows)
    if format == "csv":
        figures = ["complaints", "callers", "open", "closed", "escalated", "reopened"]
        rates = ["first_satisfaction_rate", "satisfaction_rate", "mean_resolution_hours"]
        stages = [stage.value for stage in Stage]
        header = ["tenant", "name_zh", "name_en", *figures,
                  *(f"{stage}_met" for stage in stages), *rates]  # fmt: skip
        table = [
            [r["tenant"], r["name_zh"], r["name_en"], *(r[f] for f in figures),
             *(r["sla_met"][stage] for stage in stages), *(r[f] for f in rates)]
            for r in rows
        ]  # fmt: skip
        return csv_response(render.table_csv(header, table), f"tenants-{month}")
    return {"month": month, "tenants": rows}


@router.get(
    "/tenants/staffing",
    summary="Who registered each client's complaints (the centre's own staff)",
    responses=TABLE,
)
def get_tenant_staffing(
    db: Db, now: Now, principal: Outsourcer, month: Month = None, format: TableFormat = "json"
) -> Any:
    """The month's registrations per client per member of staff (the one who registered
    each complaint): for each client the staff who served it and their part of its
    registrations, for each member of staff their registrations per client and each
    client's share of their work. A client's token is refused (403)."""
    _outsourcer_only(principal)
    month = month or this_month(now)
    with db.read() as session:
        data = service.staffing(session, month=month, tenants=tenants().ids)
    _client_names(data["tenants"])
    if format == "csv":
        header = ["agent", "tenant", "registrations", "share_of_agent", "share_of_tenant"]
        of_tenant = {
            (a["agent"], t["tenant"]): a["share"] for t in data["tenants"] for a in t["agents"]
        }
        table = [
            [a["agent"], t["tenant"], t["registrations"], t["share"],
             of_tenant.get((a["agent"], t["tenant"]))]
            for a in data["agents"]
            for t in a["tenants"]
        ]  # fmt: skip
        return csv_response(render.table_csv(header, table), f"tenant-staffing-{month}")
    return data
