"""GET /analytics/staffing: the calls forecast per half-hour and the agents it needs.

For the centre's planners (supervisors, QA, administrators): who sits at the phones is
the centre's business, not a client's. A client-bound token reads its own client's
calls; the centre's own staff read the whole centre's (its agents answer every client)
or narrow to one client with `tenant`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.analytics.config import get_config
from services.analytics.reports import render
from services.analytics.reports.views import (
    PLANNERS,
    TABLE,
    Now,
    TableFormat,
    Tenant,
    centre_wide,
    client,
    csv_response,
)
from services.analytics.staffing import flows
from shared.auth.deps import require_roles
from shared.auth.principal import Principal
from shared.deps import Db

router = APIRouter(prefix="/analytics", tags=["analytics"])

Planner = Annotated[Principal, require_roles(*PLANNERS)]

CSV_COLUMNS = [
    "start",
    "day",
    "time",
    "day_type",
    "arrivals",
    "traffic",
    "agents",
    "scheduled",
    "service_level",
    "asa_seconds",
    "occupancy",
    "wait_probability",
    "abandon_probability",
]


@router.get(
    "/staffing",
    summary="Calls forecast per half-hour and the agents needed (Erlang C or A)",
    responses=TABLE,
)
def get_staffing(
    db: Db,
    now: Now,
    principal: Planner,
    weeks: Annotated[int, Query(ge=1, le=8, description="weeks to plan, from today")] = 2,
    service_level: Annotated[
        float,
        Query(gt=0, le=0.995, description="share of calls to answer within answer_seconds"),
    ] = 0.8,
    answer_seconds: Annotated[
        float, Query(ge=0, le=3600, description="the service level's answer time")
    ] = 20,
    handling_seconds: Annotated[
        float | None,
        Query(
            ge=1,
            le=7200,
            description="what-if handling time per call; left out: measured from the "
            "registrations (an upper bound, see the README)",
        ),
    ] = None,
    shrinkage: Annotated[
        float,
        Query(ge=0, le=0.9, description="share of paid time away from the phones"),
    ] = 0.3,
    max_occupancy: Annotated[
        float, Query(gt=0, le=1, description="the busiest an agent may be kept")
    ] = 0.85,
    patience_seconds: Annotated[
        float | None,
        Query(
            ge=1,
            le=3600,
            description="callers' mean patience: given, Erlang A (callers hang up); "
            "left out, Erlang C (everyone waits)",
        ),
    ] = None,
    max_abandon: Annotated[
        float | None,
        Query(gt=0, le=1, description="with patience: the most callers who may hang up"),
    ] = None,
    holdout_weeks: Annotated[
        int | None,
        Query(ge=1, le=12, description="weeks held out to measure the forecast"),
    ] = None,
    tenant: Tenant = None,
    format: TableFormat = "json",
) -> Any:
    """For each half-hour of the weeks ahead: the calls forecast, the traffic in
    Erlangs, the agents needed at the phones and those to schedule once shrinkage is
    allowed for, with the service level, average speed of answer and occupancy they
    achieve. Beside it: the forecast's error on the last weeks held out, against the
    same half-hour a week before, and the handling time used (measured or given)."""
    config = get_config()
    limited = client(principal, tenant)
    targets = flows.Targets(
        service_level=service_level,
        answer_seconds=answer_seconds,
        shrinkage=shrinkage,
        max_occupancy=max_occupancy,
        handling_seconds=handling_seconds,
        patience_seconds=patience_seconds,
        max_abandon=max_abandon,
    )
    with db.read() as session:
        data = flows.plan(
            session,
            now=now,
            tz=config.tz(),
            calendar=config.calendar,
            tenant=limited,
            weeks=weeks,
            history_weeks=config.staffing_history_weeks,
            holdout_weeks=holdout_weeks or config.staffing_holdout_weeks,
            targets=targets,
            configured_handling=config.staffing_handling_seconds,
        )
    # Who took which calls is the centre's own knowledge.
    if not centre_wide(principal):
        data["handling"]["agents"] = []
    if format == "csv":
        rows = [[i[c] for c in CSV_COLUMNS] for i in data["intervals"]]
        name = f"staffing-{limited or 'centre'}-{data['from']}-{data['to']}"
        return csv_response(render.table_csv(CSV_COLUMNS, rows), name)
    return data
