"""Analytics: overview and Pareto latency over 1,000,000 complaint facts, root-cause
suggestion quality against two baselines, and rebuild speed from the topics.

    make bench            (or: python -m bench analytics [--quick])

The complaints are generated from the real data files (data/): texts and classes of the
hotline messages, the dispute appeals and the incident reports, registered over 24 whole
months, sent to eight departments, answered with the six root causes (skewed, as real
Pareto charts are), and live their lives (see `life_of`): their facts are inserted at
registration and updated through their stages by analytics' own projection and
statements, in a fresh schema of the real migrations, with autovacuum left to do what it
does in production. The queries are the API's own (`reports.service`) over whole months,
timed in the database session the API would use, after their counts have been checked
against the generator's own tally.
"""

from __future__ import annotations

import functools
import heapq
import multiprocessing
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import text as sql

from bench.common import Check, Context, Figure, fresh_schema, fresh_topic, percentile, say
from shared.vocabulary import (
    Action,
    Channel,
    ClosureReason,
    EventName,
    FeedbackResult,
    Nature,
    ReturnReason,
    Severity,
    State,
)

NAME = "analytics"
DESCRIPTION = "overview and Pareto over 1,000,000 facts; suggestions vs baselines; rebuild events/s"

MONTHS = 24
DEPARTMENTS = ("billing", "network", "service", "product", "delivery", "it", "sales", "logistics")
CAUSE_WEIGHTS = {
    "process": 38,
    "system": 24,
    "service": 16,
    "business": 11,
    "management": 7,
    "external": 4,
}
CHANNELS = (Channel.PHONE,) * 3 + (Channel.WEB, Channel.WECHAT, Channel.SMS, Channel.EMAIL)
SEVERITIES = (Severity.NORMAL,) * 3 + (Severity.HIGH, Severity.LOW, Severity.URGENT)
STAGE_HOURS = {
    "acknowledgement": 0.5,
    "handling": 4,
    "acceptance": 2,
    "resolution": 48,
    "follow_up": 24,
}
START = datetime(2024, 1, 1, tzinfo=UTC)


def text_pool() -> list[tuple[str, str]]:
    """(text, intake category) from the real data files."""
    from services.analytics.text import datasets
    from shared.taxonomy import taxonomy

    pool = []
    gov = datasets.gov_categories()
    for text, label in zip(gov.texts, gov.labels, strict=True):
        found = taxonomy().find(label)
        pool.append((text[:600], found.id if found else "other"))
    appeal_category = {"物流异常": "delivery", "超期发货": "delivery", "发票": "billing",
                       "运费": "billing", "维修": "product", "退换货": "product"}  # fmt: skip
    for text, label in datasets.appeal_texts():
        pool.append((text[:600], appeal_category.get(label, "service")))
    ict = datasets.ict_root_causes()
    pool += [(text[:600], "network") for text in ict.texts]
    return pool


# -- facts that have lived -------------------------------------------------------------
#
# Each complaint is registered, assigned, acknowledged, dispatched (sometimes returned and
# dispatched again, or answered by the desk itself), accepted, replied to, followed up
# and closed, some reopened by an unsatisfied customer, some never reached; a few stay
# long at a department. Its events are those escalation and intake publish, with the
# times and deadlines they carry, and reach the fact rows through analytics' own
# projection (facts.projection) and its own statements (facts.service: one read of the
# batch's facts, the new ones inserted, the changed ones updated), a consumer batch per
# transaction. Thousands of complaints are open at once; their events arrive interleaved
# from six partitions of two topics, each running a little behind the other, so the
# order rows are written is neither the complaints' id order nor their time order, and
# every update leaves a dead row behind for autovacuum, as in production.


@dataclass
class Life:
    """What the generator made of one complaint, by its own bookkeeping (not read back
    from the projection): what the reports must count."""

    month: str
    department: str | None = None
    state: State = State.RECEIVED
    answered: bool = False
    returned: bool = False
    reopened: bool = False
    breached: bool = False
    feedback: str | None = None
    first_verdict: str | None = None
    final_verdict: str | None = None
    ever_unsatisfied: bool = False
    root_cause: str | None = None


@dataclass
class Tally:
    """The generator's own counts per (month, department): the overview and the Pareto
    must equal them."""

    counts: Counter[tuple[str, str | None, str]] = field(default_factory=Counter)
    complaints: int = 0
    events: int = 0

    def add(self, life: Life) -> None:
        self.complaints += 1
        key = (life.month, life.department)
        closed = life.state == State.CLOSED
        for name, counted in (
            ("volume", True),
            ("open", not closed),
            ("closed", closed),
            ("answered", life.answered),
            ("reopened", life.reopened),
            ("returned", life.returned),
            ("breached", life.breached),
            ("satisfied", life.final_verdict == FeedbackResult.SATISFIED),
            ("unsatisfied", life.final_verdict == FeedbackResult.UNSATISFIED),
            ("first_satisfied", life.first_verdict == FeedbackResult.SATISFIED),
            ("first_unsatisfied", life.first_verdict == FeedbackResult.UNSATISFIED),
            (
                "unreachable",
                life.final_verdict is None and life.feedback == FeedbackResult.UNREACHABLE,
            ),
            ("ever_unsatisfied", life.ever_unsatisfied),
        ):
            self.counts[(*key, name)] += counted
        if life.root_cause:
            self.counts[(*key, f"cause:{life.root_cause}")] += 1

    def count(self, name: str, months: set[str], department: str | None = None) -> int:
        return sum(
            n
            for (month, dept, what), n in self.counts.items()
            if what == name and month in months and (department is None or dept == department)
        )

    def causes(self, month: str, department: str | None = None) -> dict[str, int]:
        found: Counter[str] = Counter()
        for (m, dept, what), n in self.counts.items():
            if m == month and what.startswith("cause:") and department in (None, dept):
                found[what.removeprefix("cause:")] += n
        return {cause: n for cause, n in found.items() if n}


# Two topics (intake's, escalation's) of six partitions each; a consumer reads each
# partition a little behind or ahead of the others.
LAGS = {
    (topic, partition): timedelta(seconds=37 * partition + (150 if topic else 0))
    for topic in (0, 1)
    for partition in range(6)
}


def months_of(first: date, count: int) -> list[str]:
    return [
        f"{first.year + (first.month - 1 + i) // 12:04d}-{(first.month - 1 + i) % 12 + 1:02d}"
        for i in range(count)
    ]


def _month_start(month: str, tz: tzinfo) -> datetime:
    year, mon = (int(p) for p in month.split("-"))
    return datetime(year, mon, 1, tzinfo=tz)


def timeline(tz: tzinfo) -> tuple[datetime, datetime, datetime]:
    """Registrations over MONTHS whole local months; "now", when the reports are read, ten
    days after the last of them, so the latest complaints are still open."""
    start = _month_start(f"{START.year:04d}-{START.month:02d}", tz)
    end = _month_start(months_of(start.date(), MONTHS + 1)[-1], tz)
    return start, end, end + timedelta(days=10)


@functools.cache
def _templates() -> tuple[Any, Any]:
    """An intake registration and a lifecycle change with what every generated one has in
    common; each event is a copy with its own values (building each from scratch would
    cost more than the rest of the load)."""
    from shared.contracts import ComplaintReceived, LifecycleChanged

    received = ComplaintReceived.model_construct(
        complaint_id="",
        reference="",
        customer_phone=None,
        customer_ref=None,
        customer_name=None,
        channel=Channel.PHONE,
        category="",
        severity=Severity.NORMAL,
        nature=Nature.GENUINE,
        strong_emotion=False,
        description="",
        registered_at=START,
        registered_by="A001",
        imported=False,
    )
    changed = LifecycleChanged.model_construct(
        complaint_id="",
        reference="",
        action=Action.ASSIGN,
        from_state=State.RECEIVED,
        to_state=State.RECEIVED,
        history_seq=1,
        nature=Nature.GENUINE,
        anonymous=False,
        details={},
        recipients=[],
    )
    return received, changed


def life_of(
    n: int, rng: random.Random, pool: list[tuple[str, str]], at: datetime, now: datetime, tz: Any
) -> tuple[Life, list[tuple[datetime, int, str, Any]]]:
    """One complaint's events up to `now` as (time, topic, event type, payload), and the
    generator's own account of where they leave it."""
    received_, changed = _templates()
    cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    reference = f"TS{n:09d}"
    text, category = pool[rng.randrange(len(pool))]
    severity = rng.choice(SEVERITIES)
    local = at.astimezone(tz)
    life = Life(month=f"{local.year:04d}-{local.month:02d}")
    registered = {
        "complaint_id": cid,
        "reference": reference,
        "customer_phone": f"+86138{rng.randrange(10**8):08d}",
        "channel": rng.choice(CHANNELS),
        "category": category,
        "severity": severity,
        "description": text,
        "registered_at": at,
    }
    events: list[tuple[datetime, int, str, Any]] = [
        (at, 0, EventName.COMPLAINT_RECEIVED, received_.model_copy(update=registered))
    ]
    mine = changed.model_copy(
        update={
            "complaint_id": cid,
            "reference": reference,
            "category": category,
            "severity": severity,
        }
    )
    # The lifecycle as escalation keeps it.
    s: dict[str, Any] = {"seq": 0, "t": at, "due": None, "bounce": 0, "reopen": 0, "urge": 0}
    s["level"] = 0
    slow = 20 if rng.random() < 0.03 else 1  # a few wait weeks at a department

    def spend(stage: str, factor: float = 1.0) -> None:
        s["t"] += timedelta(seconds=rng.lognormvariate(0, 0.8) * STAGE_HOURS[stage] * 2160 * factor)

    def change(kind: str, action: Action, to: State, stage: str | None, **extra: Any) -> bool:
        """Record one lifecycle event at the current time; False once it is past `now`."""
        at_ = s["t"]
        if at_ > now:
            return False
        s["seq"] += 1
        if s["due"] is not None and at_ > s["due"] and not life.breached:
            life.breached = rng.random() < 0.5  # the sweep caught some of the late ones
            s["level"] = 1 if life.breached else 0
        if stage is not None:
            s["due"] = at_ + timedelta(hours=STAGE_HOURS[stage])
        payload = mine.model_copy(
            update={
                "action": action,
                "from_state": life.state,
                "to_state": to,
                "history_seq": s["seq"],
                "department_id": life.department,
                "bounce_count": s["bounce"],
                "reopen_count": s["reopen"],
                "urge_count": s["urge"],
                "escalation_level": s["level"],
                "due_at": s["due"] if to != State.CLOSED else None,
                **extra,
            }
        )
        events.append((at_, 1, kind, payload))
        life.state = to
        return True

    def feedback(result: str) -> None:
        life.feedback = result
        if result in (FeedbackResult.SATISFIED, FeedbackResult.UNSATISFIED):
            life.first_verdict = life.first_verdict or result
            life.final_verdict = result
        life.ever_unsatisfied |= result == FeedbackResult.UNSATISFIED

    s["t"] += timedelta(seconds=rng.randint(2, 60))
    if not change(EventName.ASSIGNED, Action.ASSIGN, State.WITH_DUTY_MANAGER, "acknowledgement"):
        return life, events
    to_department = rng.random() < 0.8
    while True:  # one round: from the desk to an answer
        spend("acknowledgement")
        if not change(EventName.ACKNOWLEDGED, Action.ACKNOWLEDGE, life.state, "handling"):
            return life, events
        if rng.random() < 0.1:
            spend("acknowledgement", 2)
            s["urge"] += 1
            if not change(EventName.URGED, Action.URGE, life.state, None):
                return life, events
        spend("handling")
        if to_department:
            # What an action changes counts only once its event is recorded (before `now`).
            department = rng.choice(DEPARTMENTS)
            sent = change(
                EventName.DISPATCHED,
                Action.DISPATCH,
                State.DISPATCHED,
                "acceptance",
                department_id=department,
            )
            if not sent:
                return life, events
            life.department = department
            spend("acceptance")
            if rng.random() < 0.12:  # not ours: back to the desk, then elsewhere
                s["bounce"] += 1
                back = change(
                    EventName.RETURNED,
                    Action.RETURN,
                    State.WITH_DUTY_MANAGER,
                    "acknowledgement",
                    department_id=None,
                    details={"reason_code": ReturnReason.NOT_OURS},
                )
                if not back:
                    return life, events
                life.department, life.returned = None, True
                continue
            break
        break
    while True:  # at the department (or the desk), until the customer's last word
        if to_department:
            if life.state == State.DISPATCHED:
                if not change(EventName.ACCEPTED, Action.ACCEPT, State.IN_PROGRESS, "resolution"):
                    return life, events
                spend("resolution", slow)
            kind, action = EventName.REPLIED, Action.REPLY
        else:
            kind, action = EventName.REPLIED, Action.RESOLVE
        cause = rng.choices(list(CAUSE_WEIGHTS), list(CAUSE_WEIGHTS.values()))[0]
        answer = change(
            kind,
            action,
            State.REPLIED,
            "follow_up",
            root_cause=cause,
            resolution="已处理并回复客户",
        )
        if not answer:
            return life, events
        life.answered, life.root_cause = True, cause
        spend("follow_up")
        verdict = rng.random()
        if verdict < 0.14 and s["reopen"] < 2:
            s["reopen"] += 1
            to = State.DISPATCHED if to_department else State.WITH_DUTY_MANAGER
            stage = "acceptance" if to_department else "acknowledgement"
            result = FeedbackResult.UNSATISFIED
            if not change(
                EventName.REOPENED, Action.FEEDBACK, to, stage, details={"result": result}
            ):
                return life, events
            life.reopened = True
            feedback(result)
            spend(stage)
            if not to_department:
                if not change(EventName.ACKNOWLEDGED, Action.ACKNOWLEDGE, life.state, "handling"):
                    return life, events
                spend("handling")
            continue
        if verdict < 0.86:
            result, reason = FeedbackResult.SATISFIED, ClosureReason.SATISFIED
            ok = change(
                EventName.CLOSED,
                Action.FEEDBACK,
                State.CLOSED,
                None,
                details={"result": result},
                closure_reason=reason,
            )
            if ok:
                feedback(result)
            return life, events
        result = FeedbackResult.UNREACHABLE
        for attempt in range(3):
            last = attempt == 2
            ok = change(
                EventName.CLOSED if last else EventName.FOLLOW_UP_FAILED,
                Action.FEEDBACK,
                State.CLOSED if last else State.REPLIED,
                None,
                details={"result": result},
                closure_reason=ClosureReason.UNREACHED if last else None,
            )
            if not ok:
                return life, events
            feedback(result)
            s["t"] += timedelta(hours=rng.uniform(2, 30))
        return life, events


@dataclass
class Load:
    tally: Tally
    batches: int = 0
    inserted: int = 0
    updated: int = 0
    seconds: float = 0.0
    most_open: int = 0


def live_load(db: Any, count: int, *, batch: int, workers: int = 2) -> Load:
    """Register `count` complaints over the timeline and apply their events, interleaved
    as consumers would read them, in batches of `batch` events a transaction. The
    complaints are shared out among `workers` processes (as partitions are among a
    consumer group's members), writing to the same table at the same time."""
    from concurrent.futures import ProcessPoolExecutor

    started = time.monotonic()
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=spawn) as pool:
        url = db.engine.url.render_as_string(hide_password=False)
        parts = [
            pool.submit(_live_part, url, db.schema, count, batch, part, workers)
            for part in range(workers)
        ]
        done = [part.result() for part in parts]
    load = Load(Tally(), seconds=time.monotonic() - started)
    for part in done:
        load.tally.counts.update(part.tally.counts)
        load.tally.complaints += part.tally.complaints
        load.tally.events += part.tally.events
        load.batches += part.batches
        load.inserted += part.inserted
        load.updated += part.updated
        load.most_open += part.most_open
    return load


def _live_part(
    url: str, schema: str, count: int, batch: int, part: int, parts: int, seed: int = 20261123
) -> Load:
    """The complaints n with n % parts == part: their lives, written in time order."""
    from services.analytics.config import get_config
    from shared.db import create_database

    db = create_database(url, schema=schema, pool_size=2)
    tz = get_config().tz()
    start, end, now = timeline(tz)
    rng = random.Random(seed + part)
    pool = text_pool()
    load = Load(Tally())
    waiting: list[tuple[datetime, int, datetime, str, Any]] = []
    pending: list[tuple[datetime, str, Any]] = []
    open_complaints: Counter[str] = Counter()  # events still to come, per complaint
    counter = 0
    started = time.monotonic()
    span = (end - start).total_seconds()

    def flush() -> None:
        inserted, updated = apply_batch(db, pending, tz)
        load.inserted += inserted
        load.updated += updated
        load.batches += 1
        pending.clear()

    for n in range(part, count, parts):
        at = start + timedelta(seconds=span * (n + rng.random()) / count)
        life, events = life_of(n, rng, pool, at, now, tz)
        load.tally.add(life)
        load.tally.events += len(events)
        partition = int(events[0][3].complaint_id[:8], 16) % 6
        for when, topic, kind, payload in events:
            counter += 1
            heapq.heappush(waiting, (when + LAGS[(topic, partition)], counter, when, kind, payload))
        open_complaints[events[0][3].complaint_id] = len(events)
        while waiting and waiting[0][0] <= at:
            _, _, when, kind, payload = heapq.heappop(waiting)
            pending.append((when, kind, payload))
            left = open_complaints[payload.complaint_id] - 1
            if left:
                open_complaints[payload.complaint_id] = left
            else:
                del open_complaints[payload.complaint_id]
            if len(pending) >= batch:
                load.most_open = max(load.most_open, len(open_complaints))
                flush()
        if part == 0 and n and n % 100_000 < parts:
            say(f"{n:,} complaints registered, {time.monotonic() - started:.0f}s")
    while waiting:
        _, _, when, kind, payload = heapq.heappop(waiting)
        pending.append((when, kind, payload))
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    db.dispose()
    load.seconds = time.monotonic() - started
    return load


def apply_batch(db: Any, batch: list[tuple[datetime, str, Any]], tz: tzinfo) -> tuple[int, int]:
    """One consumer batch in one transaction, as facts.flows.apply_events does it: the
    batch's facts read in one query, each event applied by the projection, the new facts
    inserted and the changed ones updated (facts.service.save_facts). The event log
    (fact_events), which none of the timed reports reads, is left out to keep the load
    within minutes. Returns (inserted, updated)."""
    from services.analytics.facts import projection, service

    with db.transaction() as session:
        stored = service.get_facts(session, (payload.complaint_id for _, _, payload in batch))
        current = dict(stored)
        for at, kind, payload in batch:
            before = current.get(payload.complaint_id)
            if kind == EventName.COMPLAINT_RECEIVED:
                after = projection.received(before, payload, at, tz)
            else:
                lived = projection.lifecycle(before, payload, kind, at, tz)
                if lived is None:
                    continue
                after = lived
            current[payload.complaint_id] = after
        service.save_facts(session, before=stored, after=current)
    inserted = len(current) - len(stored)
    updated = sum(1 for cid, fact in stored.items() if current[cid] != fact)
    return inserted, updated


def table_health(db: Any) -> dict[str, Any]:
    """What autovacuum has done to complaint_facts by now, as PostgreSQL counts it."""
    with db.engine.connect() as conn:
        row = conn.execute(
            sql(
                "SELECT n_live_tup, n_dead_tup, n_tup_upd, n_tup_hot_upd, last_autovacuum, "
                "last_autoanalyze, last_vacuum, last_analyze, autovacuum_count, "
                "autoanalyze_count FROM pg_stat_user_tables "
                "WHERE schemaname = :schema AND relname = 'complaint_facts'"
            ),
            {"schema": db.schema},
        ).one()
        correlation = conn.execute(
            sql(
                "SELECT correlation FROM pg_stats WHERE schemaname = :schema "
                "AND tablename = 'complaint_facts' AND attname = 'registered_day'"
            ),
            {"schema": db.schema},
        ).scalar()
    health = dict(row._mapping)
    health["registered_day_correlation"] = correlation
    return health


def _when(value: Any) -> str:
    return value.strftime("%H:%M:%S") if value else "never"


def timed(db: Any, query: Callable[[Any], Any], *, runs: int, warmup: int = 2) -> list[float]:
    """Milliseconds per call, each in its own read session as the API's."""
    times = []
    for i in range(warmup + runs):
        started = time.perf_counter()
        with db.read() as session:
            query(session)
        if i >= warmup:
            times.append((time.perf_counter() - started) * 1000)
    return times


@dataclass
class Query:
    """One report as the API asks for it, and what the generator says it must count."""

    months: list[str]
    department: str | None
    call: Callable[[Any], Any]
    counted: Callable[[Any], dict[str, Any]]  # the report's counts, from its answer
    expected: dict[str, Any]


OVERVIEW_COUNTS = ("volume", "open", "closed", "answered", "reopened", "returned", "breached")
SATISFACTION_COUNTS = (
    "satisfied",
    "unsatisfied",
    "unreachable",
    "first_satisfied",
    "first_unsatisfied",
    "ever_unsatisfied",
)


def _overview_counts(result: dict[str, Any]) -> dict[str, Any]:
    found = {name: result[name] for name in OVERVIEW_COUNTS}
    found.update({name: result["satisfaction"][name] for name in SATISFACTION_COUNTS})
    return found


def _pareto_counts(result: dict[str, Any]) -> dict[str, Any]:
    causes = {row["root_cause"]: row["count"] for row in result["causes"]}
    return {"causes": causes, "unclassified": result["unclassified"]}


def queries(tally: Tally, tz: tzinfo, department: str) -> dict[str, Query]:
    """Whole local months, the latest just ended when the reports are read: that month,
    the quarter and the twelve months it ends, overall and for one department; the
    Pareto of that month."""
    from services.analytics.reports import service

    start, _, now = timeline(tz)
    months = months_of(start.date(), MONTHS)
    found: dict[str, Query] = {}
    for label, count in (("one month", 1), ("a quarter", 3), ("12 months", 12)):
        chosen = months[-count:]
        first = _month_start(chosen[0], tz).date()
        last = (_month_start(months_of(first, count + 1)[-1], tz) - timedelta(days=1)).date()
        for dept in (None, department):

            def overview(s: Any, first: date = first, last: date = last, dept: Any = dept) -> Any:
                return service.overview(s, start=first, end=last, department=dept, now=now)

            expected: dict[str, Any] = {
                name: tally.count(name, set(chosen), dept)
                for name in (*OVERVIEW_COUNTS, *SATISFACTION_COUNTS)
            }
            name = f"overview, {label}" + (", one department" if dept else "")
            found[name] = Query(chosen, dept, overview, _overview_counts, expected)
    month = months[-1]
    for dept in (None, department):

        def pareto(s: Any, dept: Any = dept) -> Any:
            return service.root_causes(s, month=month, department=dept)

        expected = {"causes": tally.causes(month, dept), "unclassified": 0}
        name = "Pareto, one month" + (", one department" if dept else "")
        found[name] = Query([month], dept, pareto, _pareto_counts, expected)
    return found


# The real labelled data the suggester is measured on. The incident reports' label is a
# root cause: read from the symptom alone (what a customer's account holds), then with
# the written cause analysis as the resolution (what the replier and QA hold when they
# choose the cause). The hotline messages' label is the category a message is filed
# under, so that figure is about the same suggester as a category classifier.
SUGGESTION_DATA = {
    "IT incidents, symptom alone → 形成原因 (root cause)": "ict_root_causes",
    "IT incidents, symptom + written analysis → 形成原因 (root cause)": (
        "ict_root_causes_with_analysis"
    ),
    "hotline messages → 一级分类 (category, not root cause)": "gov_categories",
}


@functools.cache
def suggestion_reports() -> dict[str, Any]:
    """Each data set's grouped, nested evaluation (a Report), or why there is none."""
    from services.analytics.text import datasets, evaluation

    reports: dict[str, Any] = {}
    for name, loader in SUGGESTION_DATA.items():
        data = getattr(datasets, loader)()
        try:
            reports[name] = evaluation.evaluate(
                data.texts, data.labels, data.categories, resolutions=data.resolutions
            )
        except evaluation.FoldsUnfit as exc:
            reports[name] = str(exc)
    return reports


def spread(found: dict[str, float]) -> str:
    return f"± {found['sd']:.2f} over the folds ({found['min']:.2f}–{found['max']:.2f})"


def suggestion_figures() -> Iterator[Figure | Check]:
    """Per data set: the suggester, the majority baseline and the keyword baseline
    (accuracy and macro-F1, mean over grouped folds, spread in the note), then the
    suggester abstaining where not confident (coverage, precision and macro-F1 where it
    answers, the baselines' precision on the same complaints, and whether a centre with
    this history would be offered suggestions). Only after the folds pass the integrity
    check: no group of near duplicates in two folds, fold sizes adding up to the rows."""
    for name, report in suggestion_reports().items():
        problems = [report] if isinstance(report, str) else report.problems()
        yield Check(NAME, f"suggestions, {name}: the folds' integrity problems", [], problems)
        if problems:
            continue
        f = report.figures()
        sizes = f["fold_sizes"]
        say(
            f"suggestions, {name}: integrity check passed ({f['rows']} complaints in "
            f"{f['groups']} groups of near duplicates, folds of {sizes} adding up to "
            f"{sum(sizes)}, no group in two folds)"
        )
        for who, label in (
            ("model", "suggester"),
            ("majority", "majority"),
            ("keyword", "keyword"),
        ):
            for measure, title in (("accuracy", "accuracy"), ("macro_f1", "macro-F1")):
                yield Figure(
                    NAME,
                    f"{label} {title}, {name}",
                    f[who][measure]["mean"],
                    "",
                    spread(f[who][measure]),
                )
        where = f["abstaining"]
        answered = where["answered"]
        yield Figure(
            NAME,
            f"suggester coverage, {name}",
            where["coverage"]["mean"],
            "",
            f"{spread(where['coverage'])}; {answered} of {f['rows']} answered, from a "
            f"threshold chosen on the training folds for precision ≥ {where['target_precision']}",
        )
        nan = float("nan")
        yield Figure(
            NAME,
            f"suggester precision where it answers, {name}",
            where["precision"] if answered else nan,
            "",
            f"{spread(where['precision_by_fold'])}; majority "
            f"{where['majority']['precision']:.2f}, keyword {where['keyword']['precision']:.2f} "
            "on the same complaints"
            if answered
            else "",
        )
        yield Figure(
            NAME,
            f"suggester macro-F1 where it answers, {name}",
            where["macro_f1"] if answered else nan,
            "",
        )
        yield Figure(NAME, f"suggestions offered, {name}", float(f["offered"]), "", f["reason"])


def lifecycle_events(complaints: int, *, seed: int = 7) -> list[Any]:
    """A realistic stream: each complaint received, assigned, acknowledged, dispatched,
    accepted, answered and closed (about 7 events each)."""
    from tests.analytics.story import P1, Story

    rng = random.Random(seed)
    pool = text_pool()
    story = Story()
    for n in range(complaints):
        name = f"B{n}"
        at = START + timedelta(minutes=7 * n)
        text, category = pool[rng.randrange(len(pool))]
        story.received(name, at, category=category, phone=P1, description=text)
        hour = timedelta(hours=1)
        department = rng.choice(DEPARTMENTS)
        story.act(name, "acknowledged", "acknowledge", at + hour / 6, stage="handling")
        story.act(name, "dispatched", "dispatch", at + hour, to="dispatched",
                  stage="acceptance", department=department)  # fmt: skip
        story.act(
            name, "accepted", "accept", at + 2 * hour, to=State.IN_PROGRESS, stage="resolution"
        )
        story.act(name, "replied", "reply", at + 20 * hour, to="replied", stage="follow_up",
                  root_cause=rng.choice(list(CAUSE_WEIGHTS)), resolution="已处理")  # fmt: skip
        story.act(name, "closed", "feedback", at + 22 * hour, to="closed",
                  closure_reason="satisfied", details={"result": "satisfied"})  # fmt: skip
    return story.events


def publish(ctx: Context, topics: dict[str, str], events: list[Any]) -> None:
    """Each event on the run's topic for its type's (intake's or the lifecycle's)."""
    from shared.events import encode, kafka_headers, registry
    from shared.kafka import create_producer

    producer = create_producer(ctx.settings(), "bench-analytics", linger_ms=20)
    try:
        for envelope in events:
            producer.send(
                topics[registry.get(envelope.type).topic],
                key=envelope.key.encode(),
                value=encode(envelope),
                headers=kafka_headers(envelope),
            )
        producer.flush()
    finally:
        producer.close()


def run(ctx: Context) -> Iterator[Figure | Check]:
    from services.analytics import rebuild
    from services.analytics.config import get_config
    from shared.topics import COMPLAINTS_LIFECYCLE, INTAKE_EVENTS

    total = 100_000 if ctx.quick else 1_000_000
    runs = 5 if ctx.quick else 20
    batch = 2_000
    tz = get_config().tz()
    with fresh_schema(ctx, "analytics") as db:
        say(f"registering {total:,} complaints and applying their lives, {batch:,} events a batch")
        load = live_load(db, total, batch=batch)
        tally = load.tally
        say(
            f"{tally.events:,} events applied to {tally.complaints:,} facts in "
            f"{load.seconds:.0f}s ({load.batches:,} batches, {load.updated:,} rows updated, "
            f"up to {load.most_open:,} complaints open at once)"
        )
        with db.engine.connect() as conn:
            rows = conn.scalar(sql("SELECT count(*) FROM complaint_facts"))
        yield Check(NAME, "fact rows = complaints registered (plain SQL count)", total, rows)
        yield Check(NAME, "fact rows inserted by the batches = complaints registered", total,
                    load.inserted)  # fmt: skip
        health = table_health(db)
        reports = queries(tally, tz, "network")
        for name, query in reports.items():
            with db.read() as session:
                counted = query.counted(query.call(session))
            yield Check(NAME, f"{name}: counts = the generator's tally", query.expected, counted)
        lived = (
            f"{total:,} facts that lived: {tally.events:,} events, {load.updated:,} updates; "
            f"at query time {health['n_dead_tup']:,} dead rows, autovacuum "
            f"{health['autovacuum_count']}× (last {_when(health['last_autovacuum'])}), "
            f"autoanalyze {health['autoanalyze_count']}× "
            f"(last {_when(health['last_autoanalyze'])})"
        )
        say(f"complaint_facts at query time: {health}")
        for name, query in reports.items():
            times = timed(db, query.call, runs=runs)
            p50, p95 = percentile(times, 50), percentile(times, 95)
            span = query.months[0] + ("" if len(query.months) == 1 else f"…{query.months[-1]}")
            note = f"{span}; goal < 200 ms" + ("" if p95 < 200 else " (MISSED)")
            yield Figure(NAME, f"{name} p50", round(p50, 1), "ms", note)
            yield Figure(NAME, f"{name} p95", round(p95, 1), "ms")
        yield Figure(NAME, "facts' load, events applied", round(tally.events / load.seconds),
                     "events/s", lived)  # fmt: skip
        yield Figure(NAME, "dead rows in complaint_facts at query time",
                     float(health["n_dead_tup"]), "rows",
                     f"correlation of registered_day with the heap order: "
                     f"{health['registered_day_correlation']}")  # fmt: skip

    yield from suggestion_figures()

    complaints = 2_000 if ctx.quick else 20_000
    events = lifecycle_events(complaints)
    topics = {t: fresh_topic(ctx, partitions=6) for t in (INTAKE_EVENTS, COMPLAINTS_LIFECYCLE)}
    say(f"publishing {len(events):,} events for the rebuild")
    publish(ctx, topics, events)
    with fresh_schema(ctx, "analytics") as db:
        result = rebuild.replay(
            db,
            settings=ctx.settings(),
            topics=list(topics.values()),
            stand_for={mine: platform for platform, mine in topics.items()},
            tz=get_config().tz(),
            progress=False,
            result=rebuild.RebuildResult(schema=db.schema or ""),
        )
    yield Check(NAME, "rebuild: events read = events published", len(events), result.events)
    yield Check(
        NAME, "rebuild: events undecodable or refused", 0, result.undecodable + result.refused
    )
    note = f"{result.events:,} events of {complaints:,} complaints, batches of 500"
    yield Figure(
        NAME, "rebuild from offset zero", round(result.events_per_second), "events/s", note
    )
