"""Analytics: overview and Pareto latency over 1,000,000 complaint facts, root-cause
suggestion quality against two baselines, and rebuild speed from the topics.

    make bench            (or: python -m bench analytics [--quick])

The facts are generated from the real data files (data/): texts and classes of the
hotline messages, the dispute appeals and the incident reports, spread over 24 months,
eight departments and the six root causes (skewed, as real Pareto charts are), loaded
with COPY into a fresh schema of the real migrations. The queries are the API's own
(`reports.service`), timed in the database session the API would use.
"""

from __future__ import annotations

import functools
import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.common import Context, Figure, fresh_schema, fresh_topic, percentile, say
from shared.vocabulary import State

_OPEN_AT_DEPARTMENT = (State.DISPATCHED, State.IN_PROGRESS, State.REPLIED)

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
CHANNELS = ("phone", "phone", "phone", "web", "wechat", "sms", "email")
SEVERITIES = ("normal", "normal", "normal", "high", "low", "urgent")
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


def generate_facts(count: int, *, seed: int = 20261123) -> Iterator[dict[str, Any]]:
    """`count` complaint facts as the projection would hold them."""
    from services.analytics.config import get_config
    from services.analytics.facts import projection

    tz = get_config().tz()
    rng = random.Random(seed)
    pool = text_pool()
    causes, weights = list(CAUSE_WEIGHTS), list(CAUSE_WEIGHTS.values())
    span = MONTHS * 30 * 86400
    for n in range(count):
        text, category = pool[rng.randrange(len(pool))]
        # In registration order, as the projection inserts them: a month's facts sit
        # together in the table, as they do in a live system.
        at = START + timedelta(seconds=int(span * (n + rng.random()) / count))
        fact = projection.new_fact(str(uuid.UUID(int=rng.getrandbits(128))), f"TS{n:09d}", at, tz)
        closed = rng.random() < 0.85
        department = rng.choice(DEPARTMENTS) if rng.random() < 0.8 else None
        fact.update(
            customer_key=f"+86138{rng.randrange(10**8):08d}",
            category=category,
            severity=rng.choice(SEVERITIES),
            channel=rng.choice(CHANNELS),
            description=text,
            state=State.CLOSED if closed else rng.choice(_OPEN_AT_DEPARTMENT),
            department_id=department,
            escalation_level=rng.choice((0, 0, 0, 0, 1, 2)),
            returns=rng.choice((0, 0, 0, 0, 0, 1)),
            reopens=rng.choice((0, 0, 0, 0, 0, 0, 0, 1)),
            unsatisfied=rng.choice((0, 0, 0, 0, 0, 1)),
        )
        stages = ["acknowledgement", "handling"]
        stages += ["acceptance", "resolution"] if department else []
        stages += ["follow_up"] if closed else []
        missed = 0
        for stage in stages:
            allowed = STAGE_HOURS[stage] * 3600
            spent = int(rng.lognormvariate(0, 0.8) * allowed * 0.6)
            fact[f"{stage}_seconds"] = spent
            fact[f"{stage}_met"] = spent <= allowed
            missed += spent > allowed
        fact["deadlines_missed"] = missed
        if closed or fact["state"] == "replied":
            fact["replied_at"] = at + timedelta(days=2)
            fact["root_cause"] = fact["root_cause_reported"] = rng.choices(causes, weights)[0]
            fact["feedback"] = rng.choice(
                ("satisfied", "satisfied", "satisfied", "unsatisfied", "unreachable")
            )
            if fact["feedback"] != "unreachable":
                fact["final_verdict"] = fact["feedback"]
                fact["first_verdict"] = "unsatisfied" if fact["unsatisfied"] else fact["feedback"]
        if closed:
            fact["closed_at"] = at + timedelta(days=3)
            fact["closure_reason"] = "satisfied"
        else:
            fact["stage"] = stages[-1]
            fact["due_at"] = at + timedelta(days=rng.choice((1, 5, 30)))
        if rng.random() < 0.02:
            fact["root_cause_revisions"] = 1
        fact["updated_at"] = at + timedelta(days=3)
        yield fact


def copy_facts(db: Any, facts: Iterator[dict[str, Any]], *, batch: int = 50_000) -> int:
    """Load facts with PostgreSQL's COPY; returns how many."""
    from services.analytics.facts.service import facts as table

    columns = [c.name for c in table.columns]
    sql = f"COPY complaint_facts ({', '.join(columns)}) FROM STDIN"
    loaded = 0
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        rows: list[dict[str, Any]] = []

        def flush() -> None:
            with cursor.copy(sql) as copy:
                for row in rows:
                    copy.write_row([row[c] for c in columns])
            raw.commit()

        for fact in facts:
            rows.append(fact)
            if len(rows) >= batch:
                flush()
                loaded += len(rows)
                rows.clear()
        if rows:
            flush()
            loaded += len(rows)
        cursor.execute("ANALYZE complaint_facts")
        raw.commit()
    finally:
        raw.close()
    return loaded


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


def queries(month: str, department: str) -> dict[str, Callable[[Any], Any]]:
    from services.analytics.reports import service

    year, mon = (int(p) for p in month.split("-"))
    first = date(year, mon, 1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    quarter = first - timedelta(days=61)
    now = datetime.now(UTC)
    return {
        "overview, one month": lambda s: service.overview(
            s, start=first, end=last, department=None, now=now
        ),
        "overview, one month, one department": lambda s: service.overview(
            s, start=first, end=last, department=department, now=now
        ),
        "overview, three months": lambda s: service.overview(
            s, start=quarter, end=last, department=None, now=now
        ),
        "Pareto, one month": lambda s: service.root_causes(s, month=month, department=None),
        "Pareto, one month, one department": lambda s: service.root_causes(
            s, month=month, department=department
        ),
    }


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


def suggestion_figures() -> Iterator[Figure]:
    """Per data set: the suggester, the majority baseline and the keyword baseline
    (accuracy and macro-F1, mean over grouped folds, spread in the note), then the
    suggester abstaining where not confident (coverage, precision and macro-F1 where it
    answers, the baselines' precision on the same complaints, and whether a centre with
    this history would be offered suggestions). Only after the folds pass the integrity
    check: no group of near duplicates in two folds, fold sizes adding up to the rows."""
    for name, report in suggestion_reports().items():
        problems = [report] if isinstance(report, str) else report.problems()
        if problems:
            say(f"suggestions, {name}: integrity check failed, no figures: {'; '.join(problems)}")
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


def run(ctx: Context) -> Iterator[Figure]:
    from services.analytics import rebuild
    from services.analytics.config import get_config
    from shared.topics import COMPLAINTS_LIFECYCLE, INTAKE_EVENTS

    total = 100_000 if ctx.quick else 1_000_000
    runs = 5 if ctx.quick else 20
    with fresh_schema(ctx, "analytics") as db:
        say(f"generating and loading {total:,} complaint facts")
        started = time.monotonic()
        loaded = copy_facts(db, generate_facts(total))
        say(f"loaded {loaded:,} facts in {time.monotonic() - started:.0f}s")
        month = (START + timedelta(days=30 * (MONTHS - 1) + 15)).strftime("%Y-%m")
        for name, query in queries(month, "network").items():
            times = timed(db, query, runs=runs)
            p50, p95 = percentile(times, 50), percentile(times, 95)
            note = f"{loaded:,} facts, {month}; goal < 200 ms" + ("" if p95 < 200 else " (MISSED)")
            yield Figure(NAME, f"{name} p50", round(p50, 1), "ms", note)
            yield Figure(NAME, f"{name} p95", round(p95, 1), "ms")

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
    note = f"{result.events:,} events of {complaints:,} complaints, batches of 500"
    yield Figure(
        NAME, "rebuild from offset zero", round(result.events_per_second), "events/s", note
    )
