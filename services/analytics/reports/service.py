"""The report queries over the read models: each one statement (or a few), portable
between PostgreSQL and SQLite, returning plain dicts ready for JSON, CSV or HTML.

Every period is a range of the centre's local days of registration (`registered_day`),
and a month is `registered_month`: a complaint belongs to the month it came in, whatever
month it was closed in. Durations are reported in hours.

`tenant` limits a report to one client of the centre (shared.tenants); None reads every
client's complaints, a customer of two clients being two customers.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from services.analytics.facts.service import assist_parts, department_names, fact_events, facts
from shared.logs import mask_phone
from shared.vocabulary import (
    ASSIST_OUTSTANDING,
    AssistStatus,
    EventName,
    FeedbackResult,
    Role,
    RootCause,
    Stage,
    State,
)

HOUR = 3600.0
VERDICTS = (FeedbackResult.SATISFIED, FeedbackResult.UNSATISFIED)


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / HOUR, 2)


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def percentile(values: Sequence[float], p: float) -> float | None:
    """Linear interpolation between closest ranks, as PostgreSQL's percentile_cont."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def mask_customer(key: str | None) -> str:
    """A phone as 138****5678; an older system's id with its middle hidden."""
    if not key:
        return ""
    if key.startswith("ref:"):
        ref = key[4:]
        keep = max(len(ref) // 4, 1)
        return "ref:" + ref[:keep] + "*" * max(len(ref) - 2 * keep, 1) + ref[-keep:]
    return mask_phone(key)


def _period(
    c: Any,
    start: date,
    end: date,
    department: str | None,
    *,
    duplicates: bool = False,
    tenant: str | None = None,
) -> list[Any]:
    """The period's complaints; a duplicate merged into its master is the master's, so it
    is left out unless asked for (to count every caller)."""
    where = [c.registered_day >= start, c.registered_day <= end]
    if department is not None:
        where.append(c.department_id == department)
    if tenant is not None:
        where.append(c.tenant == tenant)
    if not duplicates:
        where.append(c.merged_into.is_(None))
    return where


# --- overview ---------------------------------------------------------------------------


def _caller(c: Any) -> Any:
    """A caller as the reports count them: of one client (the same phone calling about
    two clients is a caller of each)."""
    return c.tenant + "|" + c.customer_key


def overview(
    session: Session,
    *,
    start: date,
    end: date,
    department: str | None,
    now: datetime,
    tenant: str | None = None,
) -> dict[str, Any]:
    """Volume, open, overdue, SLA compliance and time per stage, satisfaction, reopen
    rate, escalations: one pass over the period's facts."""
    c = facts.c
    where = _period(c, start, end, department, tenant=tenant)
    is_open = c.state != State.CLOSED
    count = func.count
    columns = [
        count().label("volume"),
        count().filter(is_open).label("open"),
        count().filter(and_(is_open, c.due_at < now)).label("overdue"),
        count().filter(c.state == State.CLOSED).label("closed"),
        count().filter(c.replied_at.is_not(None)).label("answered"),
        *(count().filter(c.final_verdict == v).label(f"final_{v}") for v in VERDICTS),
        *(count().filter(c.first_verdict == v).label(f"first_{v}") for v in VERDICTS),
        # Followed up, never reached: no verdict at all, so never counted as satisfied.
        count()
        .filter(c.final_verdict.is_(None), c.feedback == FeedbackResult.UNREACHABLE)
        .label("unreachable"),
        count().filter(c.unsatisfied > 0).label("ever_unsatisfied"),
        count().filter(c.reopens > 0).label("reopened"),
        count().filter(c.returns > 0).label("returned"),
        count().filter(c.escalation_level >= 1).label("breached"),
        count().filter(c.escalation_level >= 2).label("escalated"),
        func.coalesce(func.sum(c.escalations), 0).label("escalations"),
        count().filter(c.root_cause_revisions > 0).label("revised"),
        count().filter(c.first_contact_resolved.is_(True)).label("first_contact_resolved"),
        count().filter(c.answered_from_article.is_not(None)).label("answered_from_knowledge"),
    ]
    for stage in Stage:
        met = getattr(c, f"{stage}_met")
        columns += [
            count().filter(met.is_(True)).label(f"{stage}_met"),
            count().filter(met.is_(False)).label(f"{stage}_missed"),
        ]
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        for stage in Stage:
            seconds = getattr(c, f"{stage}_seconds")
            columns += [
                func.percentile_cont(0.5).within_group(seconds).label(f"{stage}_p50"),
                func.percentile_cont(0.9).within_group(seconds).label(f"{stage}_p90"),
            ]
    row: dict[str, Any] = dict(session.execute(select(*columns).where(*where)).one()._mapping)
    # Every caller, those of merged duplicates too: a problem rung in by five people is
    # one complaint to handle and five people waiting for it.
    everyone = _period(c, start, end, department, duplicates=True, tenant=tenant)
    callers, merged = session.execute(
        select(
            func.count(func.distinct(_caller(c))), count().filter(c.merged_into.is_not(None))
        ).where(*everyone)
    ).one()
    if not postgres:
        seconds_columns = [getattr(c, f"{stage}_seconds") for stage in Stage]
        values: dict[str, list[float]] = defaultdict(list)
        for seconds_row in session.execute(select(*seconds_columns).where(*where)):
            for stage, value in zip(Stage, seconds_row, strict=True):
                if value is not None:
                    values[stage].append(value)
        for stage in Stage:
            row[f"{stage}_p50"] = percentile(values[stage], 0.5)
            row[f"{stage}_p90"] = percentile(values[stage], 0.9)
    stages = []
    for stage in Stage:
        met, missed = row[f"{stage}_met"], row[f"{stage}_missed"]
        label = stage
        stages.append(
            {
                "stage": stage,
                "label_zh": label.zh,
                "label_en": label.en,
                "met": met,
                "missed": missed,
                "compliance": _ratio(met, met + missed),
                "median_hours": _hours(row[f"{stage}_p50"]),
                "p90_hours": _hours(row[f"{stage}_p90"]),
            }
        )
    volume, answered = row["volume"], row["answered"]
    return {
        "tenant": tenant,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "department": department,
        "volume": volume,
        "callers": int(callers),
        "merged_duplicates": int(merged),
        "open": row["open"],
        "overdue": row["overdue"],
        "closed": row["closed"],
        "answered": answered,
        "sla": stages,
        "satisfaction": satisfaction(
            first=(row["first_satisfied"], row["first_unsatisfied"]),
            final=(row["final_satisfied"], row["final_unsatisfied"]),
            unreachable=row["unreachable"],
            ever_unsatisfied=row["ever_unsatisfied"],
        ),
        "reopened": row["reopened"],
        "reopen_rate": _ratio(row["reopened"], answered),
        "returned": row["returned"],
        "breached": row["breached"],
        "escalated": row["escalated"],
        "escalations": int(row["escalations"]),
        "root_causes_revised": row["revised"],
        # 当场解答: closed on the line, the caller content, and not reopened since.
        "first_contact_resolved": row["first_contact_resolved"],
        "first_contact_rate": _ratio(row["first_contact_resolved"], volume),
        # Registered as answered from an article of the knowledge base.
        "answered_from_knowledge": row["answered_from_knowledge"],
    }


def satisfaction(
    *,
    first: tuple[int, int],
    final: tuple[int, int],
    unreachable: int,
    ever_unsatisfied: int,
) -> dict[str, Any]:
    """Satisfaction as it was, not as it ended up looking: the verdict on the first
    answer beside the final one (a complaint reopened until the customer gave in counts
    as unsatisfied first), how many were ever unsatisfied, and those never reached
    counted apart, never as satisfied. `rate` is the final rate among those who gave a
    verdict; `rate_of_followed_up` counts the unreached as not satisfied.
    (first and final: satisfied and unsatisfied counts.)"""
    rated = sum(final)
    followed_up = rated + unreachable
    return {
        "satisfied": final[0],
        "unsatisfied": final[1],
        "unreachable": unreachable,
        "rate": _ratio(final[0], rated),
        "first_satisfied": first[0],
        "first_unsatisfied": first[1],
        "first_rate": _ratio(first[0], sum(first)),
        "ever_unsatisfied": ever_unsatisfied,
        "ever_unsatisfied_rate": _ratio(ever_unsatisfied, rated),
        "followed_up": followed_up,
        "rate_of_followed_up": _ratio(final[0], followed_up),
    }


# --- Pareto of root causes ------------------------------------------------------------


def _pareto(counts: dict[str, int]) -> list[dict[str, Any]]:
    total = sum(counts.values())
    rows, running = [], 0
    for cause, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        share_before = running / total if total else 0
        running += n
        label = RootCause.of(cause)
        rows.append(
            {
                "root_cause": cause,
                "label_zh": label.zh if label else cause,
                "label_en": label.en if label else cause,
                "count": n,
                "share": round(n / total, 4) if total else 0,
                "cumulative": round(running / total, 4) if total else 0,
                # The vital few: the causes that together make up the first 80 %.
                "vital": share_before < 0.8,
            }
        )
    return rows


def root_causes(
    session: Session, *, month: str, department: str | None, tenant: str | None = None
) -> dict[str, Any]:
    """Pareto of the month's root causes (QA's revisions applied), overall and per
    department; `unclassified` counts answered complaints without a root cause."""
    c = facts.c
    where = [c.registered_month == month]
    if department is not None:
        where.append(c.department_id == department)
    if tenant is not None:
        where.append(c.tenant == tenant)
    rows = session.execute(
        select(
            c.department_id,
            c.root_cause,
            func.count().label("n"),
            func.count().filter(c.root_cause_revisions > 0).label("revised"),
        )
        .where(*where, or_(c.root_cause.is_not(None), c.replied_at.is_not(None)))
        .group_by(c.department_id, c.root_cause)
    ).all()
    overall: dict[str, int] = defaultdict(int)
    per_department: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    revised = unclassified = 0
    for row in rows:
        revised += row.revised
        if row.root_cause is None:
            unclassified += row.n
            continue
        overall[row.root_cause] += row.n
        per_department[row.department_id or "duty_desk"][row.root_cause] += row.n
    return {
        "tenant": tenant,
        "month": month,
        "department": department,
        "total": sum(overall.values()),
        "revised": revised,
        "unclassified": unclassified,
        "causes": _pareto(overall),
        "by_department": [
            {"department": dept, "total": sum(counts.values()), "causes": _pareto(counts)}
            for dept, counts in sorted(per_department.items(), key=lambda kv: -sum(kv[1].values()))
        ],
    }


# --- trends ---------------------------------------------------------------------------

DIMENSIONS = ("category", "channel", "department", "severity")


def trends(
    session: Session,
    *,
    start: date,
    end: date,
    by: str,
    interval: str,
    department: str | None = None,
    tenant: str | None = None,
) -> dict[str, Any]:
    """Complaints registered per day (or month) and per category, channel, department or
    severity, with every bucket present (zeros included) so charts line up."""
    c = facts.c
    key = c.department_id if by == "department" else getattr(c, by)
    bucket = c.registered_day if interval == "day" else c.registered_month
    rows = session.execute(
        select(bucket.label("bucket"), key.label("key"), func.count().label("n"))
        .where(*_period(c, start, end, department, tenant=tenant))
        .group_by(bucket, key)
    ).all()
    buckets = _buckets(start, end, interval)
    series: dict[str, list[int]] = {}
    index = {b: i for i, b in enumerate(buckets)}
    for row in rows:
        label = row.key or ("duty_desk" if by == "department" else "unknown")
        name = row.bucket.isoformat() if isinstance(row.bucket, date) else str(row.bucket)
        series.setdefault(label, [0] * len(buckets))[index[name]] += row.n
    ordered = sorted(series.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    return {
        "tenant": tenant,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "by": by,
        "interval": interval,
        "buckets": buckets,
        "series": [{"key": k, "total": sum(v), "counts": v} for k, v in ordered],
    }


def _buckets(start: date, end: date, interval: str) -> list[str]:
    if interval == "day":
        return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    months, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


# --- customers ----------------------------------------------------------------------


def repeat_complainants(
    session: Session,
    *,
    end: date,
    days: int,
    minimum: int,
    limit: int = 200,
    tz: tzinfo = UTC,
    tenant: str | None = None,
) -> dict[str, Any]:
    """Customers with at least `minimum` complaints registered in the `days` days up to
    and including `end`; phones masked, times in `tz` (the centre's). A customer is one
    client's: complaints about two clients count apart."""
    c = facts.c
    start = end - timedelta(days=days - 1)
    where = [c.registered_day >= start, c.registered_day <= end, c.customer_key.is_not(None)]
    if tenant is not None:
        where.append(c.tenant == tenant)
    found = session.execute(
        select(
            c.tenant,
            c.customer_key,
            func.count().label("n"),
            func.min(c.registered_at).label("first"),
            func.max(c.registered_at).label("last"),
        )
        .where(*where)
        .group_by(c.tenant, c.customer_key)
        .having(func.count() >= minimum)
        .order_by(func.count().desc(), func.max(c.registered_at).desc(), c.tenant)
        .limit(limit)
    ).all()
    keys = [row.customer_key for row in found]
    details: dict[tuple[str, str], list[Any]] = defaultdict(list)
    if keys:
        for row in session.execute(
            select(c.tenant, c.customer_key, c.reference, c.category, c.state, c.registered_at)
            .where(*where, c.customer_key.in_(keys))
            .order_by(c.registered_at)
        ):
            details[(row.tenant, row.customer_key)].append(row)
    customers = []
    for row in found:
        mine = details[(row.tenant, row.customer_key)]
        categories: dict[str, int] = defaultdict(int)
        for one in mine:
            categories[one.category] += 1
        customers.append(
            {
                "tenant": row.tenant,
                "customer": mask_customer(row.customer_key),
                "complaints": row.n,
                "first": row.first.astimezone(tz).isoformat(),
                "last": row.last.astimezone(tz).isoformat(),
                "open": sum(one.state != State.CLOSED for one in mine),
                "categories": dict(sorted(categories.items(), key=lambda kv: -kv[1])),
                "references": [one.reference for one in mine],
            }
        )
    return {
        "tenant": tenant,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "days": days,
        "min": minimum,
        "customers": customers,
    }


def false_closures(
    session: Session,
    *,
    start: date,
    end: date,
    recall_days: int,
    department: str | None = None,
    tz: tzinfo = UTC,
    tenant: str | None = None,
) -> dict[str, Any]:
    """Closed complaints that may not really be solved: the customer said unsatisfied
    and never satisfied, or the same customer complained again to the same client
    within `recall_days` days of the closure."""
    c = facts.c
    closed = session.execute(
        select(
            c.complaint_id,
            c.tenant,
            c.reference,
            c.customer_key,
            c.category,
            c.department_id,
            c.closed_at,
            c.closure_reason,
            c.feedback,
            c.unsatisfied,
            c.root_cause,
        )
        .where(*_period(c, start, end, department, tenant=tenant), c.state == State.CLOSED)
        .order_by(c.closed_at)
    ).all()
    keys = {row.customer_key for row in closed if row.customer_key}
    later: dict[tuple[str, str], list[Any]] = defaultdict(list)
    if keys:
        first_close = min(row.closed_at for row in closed)
        for again in session.execute(
            select(c.tenant, c.customer_key, c.reference, c.category, c.registered_at)
            .where(c.customer_key.in_(keys), c.registered_at > first_close)
            .order_by(c.registered_at)
        ):
            later[(again.tenant, again.customer_key)].append(again)
    window = timedelta(days=recall_days)
    suspects = []
    for row in closed:
        reasons = []
        if row.unsatisfied and row.feedback != FeedbackResult.SATISFIED:
            reasons.append("unsatisfied")
        returned = [
            one
            for one in later.get((row.tenant, row.customer_key or ""), [])
            if row.closed_at < one.registered_at <= row.closed_at + window
        ]
        if returned:
            reasons.append("called_again")
        if reasons:
            suspects.append(
                {
                    "complaint_id": row.complaint_id,
                    "tenant": row.tenant,
                    "reference": row.reference,
                    "customer": mask_customer(row.customer_key),
                    "category": row.category,
                    "department": row.department_id,
                    "closed_at": row.closed_at.astimezone(tz).isoformat(),
                    "closure_reason": row.closure_reason,
                    "feedback": row.feedback,
                    "root_cause": row.root_cause,
                    "reasons": reasons,
                    "called_again": [
                        {
                            "reference": one.reference,
                            "category": one.category,
                            "same_category": one.category == row.category,
                            "registered_at": one.registered_at.astimezone(tz).isoformat(),
                        }
                        for one in returned
                    ],
                }
            )
    return {
        "tenant": tenant,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "recall_days": recall_days,
        "closed": len(closed),
        "suspected": len(suspects),
        "complaints": suspects,
    }


# --- daily counts, for spikes ----------------------------------------------------------


def daily_counts(
    session: Session,
    *,
    start: date,
    end: date,
    department: str | None = None,
    tenant: str | None = None,
) -> dict[str, dict[date, int]]:
    """Complaints per category and registration day."""
    c = facts.c
    rows = session.execute(
        select(c.category, c.registered_day, func.count().label("n"))
        .where(*_period(c, start, end, department, tenant=tenant))
        .group_by(c.category, c.registered_day)
    )
    counts: dict[str, dict[date, int]] = defaultdict(dict)
    for row in rows:
        counts[row.category][row.registered_day] = row.n
    return counts


def texts(
    session: Session,
    *,
    start: date,
    end: date,
    limit: int,
    department: str | None = None,
    tenant: str | None = None,
) -> list[Any]:
    """The period's complaint texts, newest first, for topic finding."""
    c = facts.c
    return list(
        session.execute(
            select(
                c.complaint_id,
                c.reference,
                c.category,
                c.description,
                c.customer_name,
                c.registered_at,
            )
            .where(*_period(c, start, end, department, tenant=tenant), c.description.is_not(None))
            .order_by(c.registered_at.desc())
            .limit(limit)
        )
    )


# --- lifecycle events -----------------------------------------------------------------


def event_counts(
    session: Session, *, department: str, month: str, tenant: str | None = None
) -> dict[str, Any]:
    """A department's dispatches and returns in a month, from the event log."""
    e = fact_events.c
    mine = [] if tenant is None else [e.tenant == tenant]
    rows = session.execute(
        select(
            e.event_type,
            e.reason_code,
            func.count().label("n"),
            func.count(func.distinct(e.complaint_id)).label("complaints"),
        )
        .where(
            e.department_id == department,
            e.month == month,
            e.event_type.in_((EventName.DISPATCHED, EventName.RETURNED)),
            *mine,
        )
        .group_by(e.event_type, e.reason_code)
    ).all()
    received = sum(r.complaints for r in rows if r.event_type == EventName.DISPATCHED)
    returned = {r.reason_code or "other": r.n for r in rows if r.event_type == EventName.RETURNED}
    return {"received": received, "returned": returned}


def returns(
    session: Session, *, department: str, month: str, limit: int = 20, tenant: str | None = None
) -> list[Any]:
    e, c = fact_events.c, facts.c
    mine = [] if tenant is None else [e.tenant == tenant]
    return list(
        session.execute(
            select(
                c.reference,
                c.category,
                e.reason_code,
                e.reason,
                e.occurred_at,
                c.description,
                c.customer_name,
            )
            .join(facts, c.complaint_id == e.complaint_id)
            .where(
                e.department_id == department,
                e.month == month,
                e.event_type == EventName.RETURNED,
                *mine,
            )
            .order_by(e.occurred_at)
            .limit(limit)
        )
    )


def department_facts(
    session: Session, *, department: str, month: str, tenant: str | None = None
) -> list[Any]:
    """The month's complaints that are (or ended) with the department."""
    c = facts.c
    mine = [] if tenant is None else [c.tenant == tenant]
    return list(
        session.execute(
            select(facts)
            .where(
                c.registered_month == month,
                c.department_id == department,
                c.merged_into.is_(None),  # a duplicate is its master's
                *mine,
            )
            .order_by(c.registered_at)
        )
    )


def revision_count(session: Session, *, complaint_ids: Sequence[str]) -> int:
    c = facts.c
    if not complaint_ids:
        return 0
    return int(
        session.execute(
            select(func.count()).where(
                c.complaint_id.in_(list(complaint_ids)), c.root_cause_revisions > 0
            )
        ).scalar_one()
    )


def departments(session: Session, *, tenant: str | None = None) -> list[str]:
    """Every department the facts know (of one client), for the dashboard's filter."""
    c = facts.c
    query = select(c.department_id).where(c.department_id.is_not(None))
    if tenant is not None:
        query = query.where(c.tenant == tenant)
    return sorted(session.execute(query.distinct()).scalars())


def department_name(session: Session, department: str) -> str | None:
    """The department's latest name, if an event carried one."""
    c = department_names.c
    query = select(c.name).where(c.department_id == department)
    return session.execute(query).scalar_one_or_none()


def department_tenant(session: Session, department: str) -> str | None:
    """The client the department works for, as its events said (None: never heard of)."""
    for table in (department_names, facts, fact_events):
        query = select(table.c.tenant).where(table.c.department_id == department).limit(1)
        found = session.execute(query).scalar_one_or_none()
        if found is not None:
            return str(found)
    return None


def department_known(session: Session, department: str, *, tenant: str | None = None) -> bool:
    """Whether analytics has heard of the department at all (as one of `tenant`'s): a
    complaint with it, an event about it (dispatched there, returned by it) or its name."""
    for table in (department_names, facts, fact_events):
        column = table.c.department_id
        query = select(column).where(column == department)
        if tenant is not None:
            query = query.where(table.c.tenant == tenant)
        if session.execute(query.limit(1)).first():
            return True
    return False


def months(
    session: Session,
    *,
    department: str | None = None,
    until: str | None = None,
    tenant: str | None = None,
) -> list[str]:
    """The months with complaints, latest first: of one department, up to a month."""
    c = facts.c
    query = select(c.registered_month).distinct()
    if department is not None:
        query = query.where(c.department_id == department)
    if tenant is not None:
        query = query.where(c.tenant == tenant)
    if until is not None:
        query = query.where(c.registered_month <= until)
    return sorted(session.execute(query).scalars(), reverse=True)


# --- when complaints arrive -------------------------------------------------------------

WEEKDAYS = (
    ("周一", "Mon"),
    ("周二", "Tue"),
    ("周三", "Wed"),
    ("周四", "Thu"),
    ("周五", "Fri"),
    ("周六", "Sat"),
    ("周日", "Sun"),
)


def arrivals(
    session: Session,
    *,
    start: date,
    end: date,
    tz: tzinfo,
    department: str | None = None,
    tenant: str | None = None,
) -> dict[str, Any]:
    """Complaints by hour of the (centre's) day, for each weekday: the profile a rota is
    planned against. Averages are per day of that weekday in the period, so a period
    with five Mondays and four Sundays compares fairly."""
    c = facts.c
    counts = [[0] * 24 for _ in WEEKDAYS]
    query = select(c.registered_at).where(*_period(c, start, end, department, tenant=tenant))
    for (at,) in session.execute(query.execution_options(yield_per=5000)):
        local = at.astimezone(tz)
        counts[local.weekday()][local.hour] += 1
    days = [0] * 7
    for offset in range((end - start).days + 1):
        days[(start + timedelta(days=offset)).weekday()] += 1
    by_weekday = [
        {
            "weekday": index + 1,
            "label_zh": zh,
            "label_en": en,
            "days": days[index],
            "total": sum(counts[index]),
            "counts": counts[index],
            "average": [round(n / days[index], 2) if days[index] else 0.0 for n in counts[index]],
        }
        for index, (zh, en) in enumerate(WEEKDAYS)
    ]
    by_hour = [sum(row[hour] for row in counts) for hour in range(24)]
    return {
        "tenant": tenant,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "department": department,
        "hours": list(range(24)),
        "total": sum(by_hour),
        "by_hour": by_hour,
        "weekdays": by_weekday,
    }


def tagged(session: Session, *, limit: int = 50_000, tenant: str | None = None) -> list[Any]:
    """Complaints with a root cause (QA's revision where there is one), newest first:
    what root-cause suggestions learn from (of one client: each learns from its own)."""
    c = facts.c
    mine = [] if tenant is None else [c.tenant == tenant]
    return list(
        session.execute(
            select(c.description, c.category, c.resolution, c.root_cause)
            .where(c.root_cause.is_not(None), c.description.is_not(None), *mine)
            .order_by(c.registered_at.desc())
            .limit(limit)
        )
    )


def tagged_count(session: Session, *, tenant: str | None = None) -> int:
    c = facts.c
    mine = [] if tenant is None else [c.tenant == tenant]
    query = select(func.count()).where(c.root_cause.is_not(None), *mine)
    return int(session.execute(query).scalar_one())


def sla_by_department(
    session: Session,
    *,
    start: date,
    end: date,
    department: str | None = None,
    tenant: str | None = None,
) -> list[dict[str, Any]]:
    """Acceptance and resolution deadlines met, per department, for the period."""
    c = facts.c
    columns = [c.department_id, func.count().label("complaints")]
    for stage in (Stage.ACCEPTANCE, Stage.RESOLUTION):
        met = getattr(c, f"{stage}_met")
        columns += [
            func.count().filter(met.is_(True)).label(f"{stage}_met"),
            func.count().filter(met.is_(False)).label(f"{stage}_missed"),
        ]
    rows = session.execute(
        select(*columns)
        .where(*_period(c, start, end, department, tenant=tenant), c.department_id.is_not(None))
        .group_by(c.department_id)
        .order_by(c.department_id)
    )
    return [
        {
            "department": row.department_id,
            "complaints": row.complaints,
            "acceptance_compliance": _ratio(
                row.acceptance_met, row.acceptance_met + row.acceptance_missed
            ),
            "resolution_compliance": _ratio(
                row.resolution_met, row.resolution_met + row.resolution_missed
            ),
        }
        for row in rows
    ]


# --- joint handling (主办/协办) -----------------------------------------------------------


def assists(
    session: Session,
    *,
    month: str,
    department: str | None,
    now: datetime,
    tenant: str | None = None,
) -> dict[str, Any]:
    """Each department's figures as a helper on joint complaints (协办) asked of it in
    the month: parts, contributed, in time, late (contributed after its deadline, or
    still owed past it), declined, released, still owed; and as the lead, how many of its
    complaints had helpers."""

    a = assist_parts.c
    owed = a.status.in_([s.value for s in ASSIST_OUTSTANDING])
    count = func.count
    where = [a.month == month]
    if tenant is not None:
        where.append(a.tenant == tenant)
    rows = session.execute(
        select(
            a.department_id,
            count().label("parts"),
            count().filter(a.status == AssistStatus.CONTRIBUTED).label("contributed"),
            count().filter(a.met.is_(True)).label("on_time"),
            count().filter(or_(a.met.is_(False), and_(owed, a.due_at < now))).label("late"),
            count().filter(a.status == AssistStatus.DECLINED).label("declined"),
            count().filter(a.status == AssistStatus.RELEASED).label("released"),
            count().filter(owed).label("owed"),
        )
        .where(*where, *([a.department_id == department] if department else []))
        .group_by(a.department_id)
    ).all()
    led: dict[str | None, int] = dict(
        session.execute(
            select(a.lead_department_id, func.count(func.distinct(a.complaint_id)))
            .where(*where, *([a.lead_department_id == department] if department else []))
            .group_by(a.lead_department_id)
        ).all()
    )
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        values = dict(row._mapping)
        name = values.pop("department_id")
        found[name] = {"department": name, "as_assisting": values, "led_with_helpers": 0}
    for name, n in led.items():
        if name is None:
            continue
        found.setdefault(
            name,
            {
                "department": name,
                "as_assisting": dict.fromkeys(
                    ("parts", "contributed", "on_time", "late", "declined", "released", "owed"), 0
                ),
                "led_with_helpers": 0,
            },
        )["led_with_helpers"] = int(n)
    return {
        "tenant": tenant,
        "month": month,
        "departments": sorted(found.values(), key=lambda d: d["department"]),
    }


# --- the centre across its clients ---------------------------------------------------------


def by_tenant(session: Session, *, month: str, tenants: Sequence[str]) -> list[dict[str, Any]]:
    """Each client's month side by side, for the outsourcer itself: complaints (a merged
    duplicate is its master's), distinct callers (every caller, those of duplicates
    too), open, closed, escalated, reopened, the share of deadlines met per stage, the
    satisfaction with the first answer and in the end, and the mean hours from
    registration to the (latest) answer. `tenants`: the clients to list, in order, each
    whether or not it had a complaint; a client not among them that has complaints comes
    after them."""
    c = facts.c
    count = func.count
    kept = c.merged_into.is_(None)
    columns = [
        c.tenant,
        count().filter(kept).label("complaints"),
        func.count(func.distinct(c.customer_key)).label("callers"),
        count().filter(kept, c.state != State.CLOSED).label("open"),
        count().filter(kept, c.state == State.CLOSED).label("closed"),
        count().filter(kept, c.escalation_level >= 2).label("escalated"),
        count().filter(kept, c.reopens > 0).label("reopened"),
        *(count().filter(kept, c.first_verdict == v).label(f"first_{v}") for v in VERDICTS),
        *(count().filter(kept, c.final_verdict == v).label(f"final_{v}") for v in VERDICTS),
        count()
        .filter(kept, c.final_verdict.is_(None), c.feedback == FeedbackResult.UNREACHABLE)
        .label("unreachable"),
        count().filter(kept, c.unsatisfied > 0).label("ever_unsatisfied"),
    ]
    for stage in Stage:
        met = getattr(c, f"{stage}_met")
        columns += [
            count().filter(kept, met.is_(True)).label(f"{stage}_met"),
            count().filter(kept, met.is_(False)).label(f"{stage}_missed"),
        ]
    found = {
        row.tenant: dict(row._mapping)
        for row in session.execute(
            select(*columns).where(c.registered_month == month).group_by(c.tenant)
        )
    }
    # The time to answer, in Python: a difference of times is written differently by
    # each database, and a month is small.
    answered: dict[str, list[float]] = defaultdict(list)
    for row in session.execute(
        select(c.tenant, c.registered_at, c.replied_at).where(
            c.registered_month == month, kept, c.replied_at.is_not(None)
        )
    ):
        answered[row.tenant].append((row.replied_at - row.registered_at).total_seconds())
    order = [*tenants, *sorted(t for t in found if t not in tenants)]
    rows = []
    for tenant in order:
        counts: dict[str, Any] = found.get(tenant) or {}

        def n(name: str, counts: dict[str, Any] = counts) -> int:
            return int(counts.get(name) or 0)

        happy = satisfaction(
            first=(n("first_satisfied"), n("first_unsatisfied")),
            final=(n("final_satisfied"), n("final_unsatisfied")),
            unreachable=n("unreachable"),
            ever_unsatisfied=n("ever_unsatisfied"),
        )
        seconds = answered.get(tenant, [])
        rows.append(
            {
                "tenant": tenant,
                "complaints": n("complaints"),
                "callers": n("callers"),
                "open": n("open"),
                "closed": n("closed"),
                "escalated": n("escalated"),
                "reopened": n("reopened"),
                "sla_met": {
                    stage.value: _ratio(n(f"{stage}_met"), n(f"{stage}_met") + n(f"{stage}_missed"))
                    for stage in Stage
                },
                "first_satisfaction_rate": happy["first_rate"],
                "satisfaction_rate": happy["rate"],
                "satisfied": happy["satisfied"],
                "unsatisfied": happy["unsatisfied"],
                "unreachable": happy["unreachable"],
                "answered": len(seconds),
                "mean_resolution_hours": _hours(sum(seconds) / len(seconds)) if seconds else None,
            }
        )
    return rows


# Who registers is staff; a complaint filed by the system (an import's) or by the
# customer themselves is nobody's work.
NOT_STAFF = (Role.SYSTEM.value, Role.CUSTOMER.value)


def staffing(session: Session, *, month: str, tenants: Sequence[str]) -> dict[str, Any]:
    """The month's registrations per client per member of staff (who registered each
    complaint: its `complaint.received` actor): for each client the staff who served it
    and their part of its registrations; for each member of staff their registrations
    per client and each client's share of their work. Imported complaints are no one's
    registration."""
    c = facts.c
    rows = session.execute(
        select(c.tenant, c.registered_by, func.count().label("n"))
        .where(
            c.registered_month == month,
            c.registered_by.is_not(None),
            c.imported.is_(False),
            or_(c.registered_by_role.is_(None), c.registered_by_role.not_in(NOT_STAFF)),
        )
        .group_by(c.tenant, c.registered_by)
    ).all()
    per_tenant: dict[str, dict[str, int]] = defaultdict(dict)
    per_agent: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        per_tenant[row.tenant][row.registered_by] = row.n
        per_agent[row.registered_by][row.tenant] = row.n
    order = [*tenants, *sorted(t for t in per_tenant if t not in tenants)]
    by_client = []
    for tenant in order:
        served = per_tenant.get(tenant, {})
        total = sum(served.values())
        by_client.append(
            {
                "tenant": tenant,
                "registrations": total,
                "agents": [
                    {"agent": agent, "registrations": n, "share": _ratio(n, total)}
                    for agent, n in sorted(served.items(), key=lambda kv: (-kv[1], kv[0]))
                ],
            }
        )
    agents = []
    for agent, work in sorted(per_agent.items(), key=lambda kv: (-sum(kv[1].values()), kv[0])):
        total = sum(work.values())
        agents.append(
            {
                "agent": agent,
                "registrations": total,
                "tenants": [
                    {"tenant": tenant, "registrations": n, "share": _ratio(n, total)}
                    for tenant, n in sorted(work.items(), key=lambda kv: order.index(kv[0]))
                ],
            }
        )
    return {"month": month, "tenants": by_client, "agents": agents}
