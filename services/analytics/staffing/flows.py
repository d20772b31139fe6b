"""A staffing plan: the calls history per half-hour, the forecast and its holdout check,
the handling time measured, and the agents each half-hour needs for the service level.

Handling time, as the facts can tell it: the facts know when each complaint was
registered and by whom, not when the call began or when the agent was free again (the
hand-off to the duty manager is made by escalation's worker within seconds, whoever
the agent is, so it says nothing of the agent's work). An agent's next registration
follows their last after the next call's talk and wrap-up, plus any wait for that call:
the median of those intervals (no longer than half an hour, beyond which the agent was
away) is the handling time measured. It is an upper bound — it includes the agents'
idle time between calls, and any call that did not become a complaint — so a centre
whose telephony reports its average handling time gives that instead (the what-if
`handling_seconds`).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy.orm import Session

from services.analytics.staffing import erlang, forecast
from services.analytics.staffing import service as staffing_service
from shared.calendar import WorkingCalendar

HALF_HOUR = 1800.0
# Intervals between one agent's registrations longer than this are a break, a meeting
# or the end of a shift, not a call.
LONGEST_INTERVAL = timedelta(minutes=30)
# Fewer intervals than this and the handling time is the configured one.
FEWEST_INTERVALS = 30
# Registrations read to measure the handling time: the recent weeks.
HANDLING_WEEKS = 8

MODEL_NAME = (
    "day types (weekday, holiday, make-up workday) × damped-trend level × half-hour profile"
)
BASELINE_NAME = "the same half-hour of the last week before the weeks held out"


@dataclass(frozen=True)
class Targets:
    """What the plan is for, and the what-ifs a planner may try."""

    service_level: float  # answered within answer_seconds, of all calls offered
    answer_seconds: float
    shrinkage: float  # the share of paid time not at the phones (breaks, training, leave)
    max_occupancy: float
    handling_seconds: float | None = None  # None: measured
    patience_seconds: float | None = None  # given: Erlang A (callers hang up)
    max_abandon: float | None = None


@dataclass(frozen=True)
class Handling:
    seconds: float  # what the plan uses
    source: str  # given, measured or configured
    measured_seconds: float | None
    intervals: int
    agents: list[dict[str, Any]]

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 1),
            "source": self.source,
            "measured_seconds": None
            if self.measured_seconds is None
            else round(self.measured_seconds, 1),
            "intervals": self.intervals,
            "agents": self.agents,
        }


def measure_handling(
    rows: list[Any], *, tenant: str | None, given: float | None, configured: float
) -> Handling:
    """The median interval between one agent's consecutive registrations (each counted
    for the client of the later one), per agent and in all; see the module docstring."""
    mine: dict[str, list[float]] = defaultdict(list)
    last: tuple[str, datetime] | None = None
    for agent, client, at in rows:
        if last is not None and last[0] == agent:
            gap = at - last[1]
            if gap <= LONGEST_INTERVAL and (tenant is None or client == tenant):
                mine[agent].append(gap.total_seconds())
        last = (agent, at)
    every = [s for gaps in mine.values() for s in gaps]
    measured = statistics.median(every) if len(every) >= FEWEST_INTERVALS else None
    agents = [
        {"agent": agent, "intervals": len(gaps), "median_seconds": round(statistics.median(gaps))}
        for agent, gaps in sorted(mine.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]
    if given is not None:
        return Handling(given, "given", measured, len(every), agents)
    if measured is not None and measured > 0:
        return Handling(measured, "measured", measured, len(every), agents)
    return Handling(configured, "configured", measured, len(every), agents)


def history(
    session: Session, *, today: date, weeks: int, tz: ZoneInfo, tenant: str | None
) -> tuple[list[date], np.ndarray]:
    """Calls per half-hour of the centre's day, from the first day with a call within
    the last `weeks` weeks up to yesterday (today is not over)."""
    start = today - timedelta(weeks=weeks)
    counts = np.zeros(((today - start).days, forecast.SLOTS), dtype=np.int64)
    for at in staffing_service.arrival_times(session, start=start, end=today, tenant=tenant):
        local = at.astimezone(tz)
        index = (local.date() - start).days
        if 0 <= index < len(counts):
            counts[index, local.hour * 2 + local.minute // 30] += 1
    busy = np.flatnonzero(counts.sum(axis=1))
    first = int(busy[0]) if len(busy) else len(counts)
    days = [start + timedelta(days=n) for n in range(first, len(counts))]
    return days, counts[first:]


def _errors(found: forecast.Errors) -> dict[str, float | None]:
    return found.rounded()


def _holdout(days: list[date], check: forecast.Holdout | None) -> dict[str, Any] | None:
    if check is None:
        return None
    held = days[-check.weeks * forecast.WEEK :]
    return {
        "weeks": check.weeks,
        "from": held[0].isoformat(),
        "to": held[-1].isoformat(),
        "arrivals": int(check.actual.sum()),
        "model": _errors(check.model),
        "baseline": _errors(check.baseline),
        "baseline_name": BASELINE_NAME,
        "skill": None if check.skill is None else round(check.skill, 4),
        "days": [
            {"day": day.isoformat(), "arrivals": int(actual), "forecast": round(float(made), 1)}
            for day, actual, made in zip(
                held, check.actual.sum(axis=1), check.forecast.sum(axis=1), strict=True
            )
        ],
    }


def plan(
    session: Session,
    *,
    now: datetime,
    tz: ZoneInfo,
    calendar: WorkingCalendar | None,
    tenant: str | None,
    weeks: int,
    history_weeks: int,
    holdout_weeks: int,
    targets: Targets,
    configured_handling: float,
) -> dict[str, Any]:
    """The forecast and the agents needed for each half-hour of `weeks` weeks from today."""
    today = now.astimezone(tz).date()
    days, counts = history(session, today=today, weeks=history_weeks, tz=tz, tenant=tenant)
    handling = measure_handling(
        staffing_service.registrations(session, since=now - timedelta(weeks=HANDLING_WEEKS)),
        tenant=tenant,
        given=targets.handling_seconds,
        configured=configured_handling,
    )
    ahead = [today + timedelta(days=n) for n in range(weeks * forecast.WEEK)]
    answer: dict[str, Any] = {
        "tenant": tenant,
        "timezone": str(tz),
        "from": ahead[0].isoformat(),
        "to": ahead[-1].isoformat(),
        "history": {
            "from": days[0].isoformat() if days else None,
            "to": days[-1].isoformat() if days else None,
            "days": len(days),
            "arrivals": int(counts.sum()),
            "holidays": bool(calendar and calendar.holidays),
        },
        "targets": {
            "service_level": targets.service_level,
            "answer_seconds": targets.answer_seconds,
            "shrinkage": targets.shrinkage,
            "max_occupancy": targets.max_occupancy,
            "patience_seconds": targets.patience_seconds,
            "max_abandon": targets.max_abandon,
            "queue_model": "erlang_a" if targets.patience_seconds else "erlang_c",
        },
        "handling": handling.as_dict(),
        "model": None,
        "holdout": None,
        "intervals": [],
        "days": [],
        "note": None,
    }
    if len(days) < forecast.MIN_HISTORY_DAYS:
        answer["note"] = (
            f"a forecast needs at least {forecast.MIN_HISTORY_DAYS} days of calls; "
            f"there are {len(days)}"
        )
        return answer
    types = forecast.day_types(days, calendar)
    answer["holdout"] = _holdout(days, forecast.holdout(counts, types, holdout_weeks, calendar))
    model = forecast.fit(counts, types, calendar)
    answer["model"] = {
        "name": MODEL_NAME,
        "alpha": model.alpha,
        "beta": model.beta,
        "damping": forecast.DAMPING,
        "level": round(model.level, 2),
        "trend": round(model.trend, 3),
        "day_factors": dict(
            zip(forecast.TYPE_NAMES, (round(float(f), 3) for f in model.factors), strict=True)
        ),
    }
    kinds = forecast.day_types(ahead, calendar)
    calls = model.forecast(kinds)
    answer["intervals"], answer["days"] = _staff(ahead, kinds, calls, tz, targets, handling)
    return answer


def _staff(
    ahead: list[date],
    kinds: np.ndarray,
    calls: np.ndarray,
    tz: ZoneInfo,
    targets: Targets,
    handling: Handling,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    known: dict[float, erlang.Performance] = {}
    intervals: list[dict[str, Any]] = []
    days: list[dict[str, Any]] = []
    for day, kind, row in zip(ahead, kinds, calls, strict=True):
        peak = scheduled_hours = 0.0
        for slot, expected in enumerate(row):
            traffic = round(float(expected) * handling.seconds / HALF_HOUR, 4)
            if traffic not in known:
                known[traffic] = erlang.agents_needed(
                    traffic,
                    handling_seconds=handling.seconds,
                    answer_seconds=targets.answer_seconds,
                    service_level=targets.service_level,
                    max_occupancy=targets.max_occupancy,
                    patience_seconds=targets.patience_seconds,
                    max_abandon=targets.max_abandon,
                )
            found = known[traffic]
            scheduled = math.ceil(found.agents / (1 - targets.shrinkage) - 1e-9)
            starts = datetime.combine(day, time(slot // 2, 30 * (slot % 2)), tz)
            intervals.append(
                {
                    "start": starts.isoformat(),
                    "day": day.isoformat(),
                    "time": starts.strftime("%H:%M"),
                    "day_type": forecast.TYPE_NAMES[kind],
                    "arrivals": round(float(expected), 2),
                    "traffic": traffic,
                    "agents": found.agents,
                    "scheduled": scheduled,
                    "service_level": round(found.service_level, 4),
                    "asa_seconds": None
                    if found.asa_seconds is None
                    else round(found.asa_seconds, 1),
                    "occupancy": round(found.occupancy, 4),
                    "wait_probability": round(found.wait_probability, 4),
                    "abandon_probability": None
                    if found.abandon_probability is None
                    else round(found.abandon_probability, 4),
                }
            )
            peak = max(peak, scheduled)
            scheduled_hours += scheduled / 2
        days.append(
            {
                "day": day.isoformat(),
                "day_type": forecast.TYPE_NAMES[kind],
                "arrivals": round(float(row.sum()), 1),
                "peak_scheduled": int(peak),
                "scheduled_hours": scheduled_hours,
            }
        )
    return intervals, days
