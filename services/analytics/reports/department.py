"""The monthly department report: what the department received, how fast it accepted
and resolved, what it returned and why, its top root causes with examples, reopened
complaints, satisfaction, and the month against the month before."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.orm import Session

from services.analytics.config import get_config
from services.analytics.reports import service
from services.analytics.reports.service import _hours, _pareto, _ratio, percentile
from shared.privacy import mask_text
from shared.vocabulary import FeedbackResult, ReturnReason, Stage, State

EXAMPLES = 3
# Figures compared with the previous month, and which direction is the good one.
COMPARED = {
    "received": None,
    "complaints": None,
    "accepted": None,
    "acceptance_median_hours": "down",
    "acceptance_compliance": "up",
    "resolved": None,
    "resolution_median_hours": "down",
    "resolution_compliance": "up",
    "returned": "down",
    "reopened": "down",
    "overdue": "down",
    "satisfaction_rate": "up",
    "first_satisfaction_rate": "up",
    "ever_unsatisfied": "down",
}


def previous_month(month: str) -> str:
    year, mon = (int(part) for part in month.split("-"))
    return f"{year - 1:04d}-12" if mon == 1 else f"{year:04d}-{mon - 1:02d}"


def next_month(month: str) -> str:
    year, mon = (int(part) for part in month.split("-"))
    return f"{year + 1:04d}-01" if mon == 12 else f"{year:04d}-{mon + 1:02d}"


def snippet(text: str | None, size: int = 80, *, name: str | None = None) -> str:
    # Masked before it is cut: a cut through a phone number leaves a part no rule finds.
    # (Texts projected before analytics masked them come here as they were written.)
    line = " ".join(mask_text(text or "", names=(name,)).split())
    return line if len(line) <= size else line[: size - 1] + "…"


def _summary(rows: list[Any], events: dict[str, Any], now: datetime) -> dict[str, Any]:
    def stage(name: str) -> tuple[float | None, float | None, float | None]:
        seconds = [getattr(r, f"{name}_seconds") for r in rows]
        seconds = [s for s in seconds if s is not None]
        met = [getattr(r, f"{name}_met") for r in rows]
        ok, late = sum(m is True for m in met), sum(m is False for m in met)
        return (
            _hours(percentile(seconds, 0.5)),
            _hours(percentile(seconds, 0.9)),
            _ratio(ok, ok + late),
        )

    acc50, acc90, acc_ok = stage(Stage.ACCEPTANCE)
    res50, res90, res_ok = stage(Stage.RESOLUTION)

    def verdicts(column: str) -> tuple[int, int]:
        said = [getattr(r, column) for r in rows]
        return said.count(FeedbackResult.SATISFIED), said.count(FeedbackResult.UNSATISFIED)

    unreached = [r.final_verdict is None and r.feedback == FeedbackResult.UNREACHABLE for r in rows]
    happy = service.satisfaction(
        first=verdicts("first_verdict"),
        final=verdicts("final_verdict"),
        unreachable=sum(unreached),
        ever_unsatisfied=sum(r.unsatisfied > 0 for r in rows),
    )
    open_rows = [r for r in rows if r.state != State.CLOSED]
    return {
        "received": events["received"],
        "complaints": len(rows),
        "accepted": sum(r.accepted_at is not None for r in rows),
        "acceptance_median_hours": acc50,
        "acceptance_p90_hours": acc90,
        "acceptance_compliance": acc_ok,
        "resolved": sum(r.replied_at is not None for r in rows),
        "resolution_median_hours": res50,
        "resolution_p90_hours": res90,
        "resolution_compliance": res_ok,
        "returned": sum(events["returned"].values()),
        "reopened": sum(r.reopens > 0 for r in rows),
        "open": len(open_rows),
        "overdue": sum(r.due_at is not None and r.due_at < now for r in open_rows),
        "satisfied": happy["satisfied"],
        "unsatisfied": happy["unsatisfied"],
        "unreachable": happy["unreachable"],
        "satisfaction_rate": happy["rate"],
        "first_satisfaction_rate": happy["first_rate"],
        "ever_unsatisfied": happy["ever_unsatisfied"],
        "root_causes_revised": sum(r.root_cause_revisions > 0 for r in rows),
    }


def _change(now: Any, before: Any) -> float | None:
    if isinstance(now, int | float) and isinstance(before, int | float):
        return round(now - before, 4)
    return None


def department_report(
    session: Session,
    *,
    department: str,
    month: str,
    now: datetime,
    tz: tzinfo | None = None,
    tenant: str | None = None,
) -> dict[str, Any]:
    """The report's figures and lists; times are the centre's (`tz`, by default
    ANALYTICS_TIMEZONE), as the department reads them on the wall clock. `tenant`: the
    client whose complaints it counts (the department's; None: whoever's they are)."""
    tz = tz or get_config().tz()

    def local(at: datetime) -> str:
        return at.astimezone(tz).isoformat(timespec="minutes")

    rows = service.department_facts(session, department=department, month=month, tenant=tenant)
    events = service.event_counts(session, department=department, month=month, tenant=tenant)
    before_month = previous_month(month)
    before_rows = service.department_facts(
        session, department=department, month=before_month, tenant=tenant
    )
    before_events = service.event_counts(
        session, department=department, month=before_month, tenant=tenant
    )
    summary = _summary(rows, events, now)
    previous = _summary(before_rows, before_events, now)

    causes: dict[str, int] = defaultdict(int)
    examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r.root_cause is None:
            continue
        causes[r.root_cause] += 1
        if len(examples[r.root_cause]) < EXAMPLES:
            examples[r.root_cause].append(
                {
                    "reference": r.reference,
                    "category": r.category,
                    "description": snippet(r.description, name=r.customer_name),
                    "resolution": snippet(r.resolution, name=r.customer_name),
                    "revised": r.root_cause_revisions > 0,
                }
            )
    pareto = _pareto(causes)
    for cause in pareto:
        cause["examples"] = examples[cause["root_cause"]]

    returned = service.returns(session, department=department, month=month, tenant=tenant)
    return {
        "tenant": tenant,
        # The client's name, where the centre serves several (the API fills it in).
        "tenant_name": None,
        "department": department,
        "department_name": service.department_name(session, department),
        "month": month,
        "previous_month": before_month,
        "generated_at": now.astimezone(tz).isoformat(timespec="seconds"),
        "summary": summary,
        "previous": previous,
        "changes": [
            {
                "figure": name,
                "value": summary[name],
                "previous": previous[name],
                "change": _change(summary[name], previous[name]),
                "better": better,
            }
            for name, better in COMPARED.items()
        ],
        "returned": {
            "total": summary["returned"],
            "by_reason": dict(sorted(events["returned"].items(), key=lambda kv: -kv[1])),
            "examples": [
                {
                    "reference": r.reference,
                    "category": r.category,
                    "reason_code": r.reason_code,
                    "reason": snippet(r.reason, name=r.customer_name),
                    "at": local(r.occurred_at),
                }
                for r in returned
            ],
        },
        "root_causes": {
            "total": sum(causes.values()),
            "revised": summary["root_causes_revised"],
            "causes": pareto,
        },
        "reopened": [
            {
                "reference": r.reference,
                "category": r.category,
                "reopens": r.reopens,
                "feedback": r.feedback,
                "state": r.state,
                "description": snippet(r.description, name=r.customer_name),
            }
            for r in rows
            if r.reopens > 0
        ],
        "overdue": [
            {
                "reference": r.reference,
                "category": r.category,
                "stage": r.stage,
                "due_at": local(r.due_at),
                "escalation_level": r.escalation_level,
            }
            for r in rows
            if r.state != State.CLOSED and r.due_at is not None and r.due_at < now
        ],
        "actions": _actions(summary, pareto, events),
        # Filled in by the API from the hot issues of the department's month.
        "hot_issues": [],
    }


def _both(zh: str, en: str) -> str:
    return f"{zh} {en}"


def _complaints(n: int) -> str:
    return f"{n} complaint" if n == 1 else f"{n} complaints"


def _actions(summary: dict[str, Any], pareto: list[dict[str, Any]], events: Any) -> list[str]:
    """The few sentences a department head reads first, each in Chinese and English."""
    points = []
    if pareto:
        top = pareto[0]
        n, share = top["count"], f"{top['share']:.0%}"
        points.append(
            _both(
                f"首要根因：{top['label_zh']}，{n} 件，占已分类投诉的 {share}。",
                f"Top root cause: {top['label_en']}, {_complaints(n)}, {share} of those "
                "classified.",
            )
        )
    for stage in (Stage.ACCEPTANCE, Stage.RESOLUTION):
        rate = summary[f"{stage}_compliance"]
        if rate is not None and rate < 0.9:
            points.append(
                _both(
                    f"{stage.zh}按时率 {rate:.0%}。",
                    f"{stage.en} deadlines met in {rate:.0%} of cases.",
                )
            )
    if events["returned"]:
        reason, n = max(events["returned"].items(), key=lambda kv: kv[1])
        word = ReturnReason.of(reason)
        zh, en = (word.zh, word.en) if word else (reason, reason)
        points.append(
            _both(
                f"{n} 件以“{zh}”退单：请与值班台核对派单规则。",
                f"{n} returned as '{en}': check the dispatch rules with the duty desk.",
            )
        )
    first, final = summary["first_satisfaction_rate"], summary["satisfaction_rate"]
    if first is not None and final is not None and first < 0.8:
        points.append(
            _both(
                f"首次答复满意率仅 {first:.0%}（最终 {final:.0%}）：第一次答复要答到点上。",
                f"Only {first:.0%} satisfied with the first answer ({final:.0%} in the end): "
                "get the first answer right.",
            )
        )
    if summary["reopened"]:
        n = summary["reopened"]
        points.append(
            _both(
                f"{n} 件因客户不满意重办。",
                f"{_complaints(n)} reopened after the customer's answer.",
            )
        )
    if summary["overdue"]:
        n = summary["overdue"]
        points.append(_both(f"{n} 件现已超时。", f"{_complaints(n)} past the deadline now."))
    return points
