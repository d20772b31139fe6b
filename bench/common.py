"""What every benchmark shares: the figures it reports and the integrity checks that must
pass before any of them is shown, where the bench stack is, a fresh schema and topic per
run, percentiles, and printing."""

from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from shared.db import Database, create_database
from shared.settings import Settings, normalise_database_url

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run" / "bench"
RESULTS = RUN_DIR / "results.json"

# A benchmark drives an API as one machine client, far past any person's pace: with the
# abuse limits (shared.ratelimit) on, it would measure them rather than the service.
UNLIMITED = {
    "RATE_LIMIT_TOKEN_WRITES_PER_MINUTE": "0",
    "RATE_LIMIT_ADDRESS_WRITES_PER_MINUTE": "0",
    "RATE_LIMIT_AUTH_FAILURES_PER_MINUTE": "0",
}


@dataclass
class Figure:
    """One measured number, e.g. ("outbox", "relay, 1 process", 9500.0, "events/s")."""

    bench: str
    name: str
    value: float
    unit: str
    note: str = ""


def bench_token(db: Database, staff_id: str, role: str, department_id: str | None = None) -> str:
    """A bearer token for a benchmark's caller. Tokens go only to people the directory
    grants them to; a benchmark's callers stand outside it (a bootstrap grant), unless the
    benchmark's directory has them, whose word then counts."""
    from shared.auth.store import grant_outside_directory, issue_token

    with db.transaction() as session:
        grant_outside_directory(session, staff_id, role, department_id)
        token, _ = issue_token(session, staff_id=staff_id, role=role, department_id=department_id)
    return token


@dataclass
class Check:
    """One integrity check of a benchmark: a count it expects and the count it found,
    e.g. ("intake", "rows written = requests acknowledged", 41230, 41230). `expected` may
    be a range where a count can honestly vary (requests in flight when a load generator
    stopped), never wider than that."""

    bench: str
    name: str
    expected: Any
    actual: Any

    @property
    def passed(self) -> bool:
        if isinstance(self.expected, range):
            # Where a count can honestly be off by what was in flight when a load stopped.
            return self.actual in self.expected
        return bool(self.expected == self.actual)

    def __str__(self) -> str:
        verdict = "ok" if self.passed else "FAILED"
        span = self.expected
        wanted = f"{span.start}–{span.stop - 1}" if isinstance(span, range) else repr(span)
        return f"{self.name}: expected {wanted}, found {self.actual!r} ({verdict})"


class BenchError(RuntimeError):
    """A benchmark could not produce trustworthy figures (lost events, a timeout …)."""


@dataclass
class Outcome:
    """What one benchmark produced. Its figures are held here until it has finished and
    every check has been judged: a benchmark whose checks fail, which stops with an
    error, or which checked nothing at all, has no figures to show."""

    bench: str
    figures: list[Figure] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def problems(self) -> list[str]:
        found = [f"check failed: {c}" for c in self.checks if not c.passed]
        if self.error:
            found.append(f"stopped: {self.error}")
        elif not self.checks:
            found.append("no integrity check ran, so no figure can be trusted")
        return found

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def shown(self) -> list[Figure]:
        """The figures that may be printed or saved: none unless every check passed."""
        return list(self.figures) if self.passed else []


def execute(name: str, results: Iterable[Figure | Check]) -> Outcome:
    """Run one benchmark to its end, collecting its figures and checks; print nothing of
    them (progress goes to stderr through `say`)."""
    outcome = Outcome(name)
    started = time.monotonic()
    try:
        for item in results:
            if isinstance(item, Check):
                outcome.checks.append(item)
                say(f"{name}: check {item}")
            elif isinstance(item, Figure):
                outcome.figures.append(item)
            else:
                raise TypeError(f"a benchmark yields Figure or Check, not {item!r}")
    except Exception as exc:
        traceback.print_exc()
        outcome.error = f"{type(exc).__name__}: {exc}"
    outcome.seconds = time.monotonic() - started
    return outcome


@dataclass
class Context:
    """Where the bench stack is, and how long to run. Passed to every `run(ctx)`."""

    database_url: str
    pg_super_url: str
    kafka_bootstrap: str
    quick: bool = False
    run_dir: Path = RUN_DIR
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, *, quick: bool) -> Context:
        def need(var: str) -> str:
            value = os.environ.get(var)
            if not value:
                raise SystemExit(
                    f"{var} is not set: run the benchmarks with `make bench` "
                    "(scripts/bench.sh), which starts the bench PostgreSQL and Kafka"
                )
            return value

        # Never point benchmarks at a development or test stack by accident.
        if os.environ.get("BENCH_STACK") != "bench":
            need("BENCH_STACK")
        return cls(
            database_url=normalise_database_url(need("BENCH_DATABASE_URL")),
            pg_super_url=normalise_database_url(need("BENCH_PG_SUPER_URL")),
            kafka_bootstrap=need("KAFKA_BOOTSTRAP_SERVERS"),
            quick=quick,
        )

    def settings(self, **overrides: Any) -> Settings:
        """The platform's settings for this stack; OUTBOX_* etc. still come from the
        environment, so `OUTBOX_LANES=8 make bench` measures another configuration."""
        values: dict[str, Any] = {
            "database_url": self.database_url,
            "kafka_bootstrap_servers": self.kafka_bootstrap,
        }
        values.update(overrides)
        return Settings(**values)


# -- numbers ------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0–100), interpolated between the two nearest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else math.nan


# -- a fresh place to work ---------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@contextmanager
def fresh_schema(ctx: Context, store: str, *, pool_size: int = 10) -> Iterator[Database]:
    """A service's (or the auth store's) real migrations in a new schema, dropped after."""
    from shared.migrations import upgrade

    schema = unique(f"b_{store}")
    upgrade(store, url=ctx.database_url, schema=schema)
    db = create_database(ctx.database_url, schema=schema, pool_size=pool_size)
    try:
        yield db
    finally:
        db.dispose()
        drop_schema(ctx, schema)


def drop_schema(ctx: Context, schema: str) -> None:
    engine = create_engine(ctx.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        engine.dispose()


def fresh_topic(ctx: Context, *, partitions: int = 6) -> str:
    """A new topic (and its dead-letter topic) nobody else writes to."""
    from shared.topics import TopicSpec, dlq, ensure_topics

    name = unique("bench").replace("_", ".")
    ensure_topics(ctx.settings(), [TopicSpec(name, partitions), TopicSpec(dlq(name), 1)])
    return name


def topic_size(ctx: Context, topic: str) -> int:
    """How many records a topic holds (sum of its partitions' end offsets)."""
    from kafka import KafkaConsumer, TopicPartition

    from shared.kafka import client_config

    consumer = KafkaConsumer(**client_config(ctx.settings()), enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return sum(ends.values())
    finally:
        consumer.close()


def wait_for(predicate: Any, *, timeout: float, what: str, interval: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# -- output -------------------------------------------------------------------------


def say(message: str) -> None:
    """Progress, on stderr, so stdout carries only the table of figures."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def format_value(value: float) -> str:
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(figures: Sequence[Figure]) -> str:
    rows = [("benchmark", "figure", "value", "unit", "note")]
    rows += [(f.bench, f.name, format_value(f.value), f.unit, f.note) for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for n, r in enumerate(rows):
        cells = [r[0].ljust(widths[0]), r[1].ljust(widths[1]), r[2].rjust(widths[2])]
        lines.append("  ".join([*cells, r[3].ljust(widths[3]), r[4]]).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 4)
    return "\n".join(lines)


def _json(value: Any) -> Any:
    return value if isinstance(value, bool | int | float | str | None) else repr(value)


def write_results(path: Path, outcomes: Sequence[Outcome], meta: dict[str, Any]) -> None:
    """The figures that passed their checks, and every check (failed ones too)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [asdict(f) for outcome in outcomes for f in outcome.shown]
    for row in rows:  # JSON has no NaN
        if math.isnan(row["value"]):
            row["value"] = None
    checks = [
        {**asdict(c), "expected": _json(c.expected), "actual": _json(c.actual), "passed": c.passed}
        for outcome in outcomes
        for c in outcome.checks
    ]
    data = {**meta, "checks": checks, "figures": rows}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
