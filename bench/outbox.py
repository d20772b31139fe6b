"""The outbox path on the real bench PostgreSQL and Kafka.

1. Relay throughput: N `complaint.note_added` events (many complaints) wait in intake's
   real outbox table; the clock runs from the moment the relays are told to start until
   every row is published (acks=all) and marked sent. Measured with one relay, two
   relays in one worker process (threads sharing a producer, as `WorkerSpec.relays=2`
   runs them) and two worker processes (two replicas of a service's worker).
2. End to end: events written one per transaction at a steady rate (steady load, then a
   trickle) while a relay runs in its own process and another service's consumer
   (escalation's real inbox, the platform's consumer loop) handles them in a third:
   latency from the writer's commit to the consumer's commit of the handled event, and
   how much of it is the relay's (up to the moment it hands the event to Kafka).

Relays and consumers run in processes of their own, as they do in production, so the
benchmark's own bookkeeping does not compete with them for the GIL. Their timestamps
come from CLOCK_MONOTONIC, which every process on the machine shares.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from bench.common import (
    BenchError,
    Check,
    Context,
    Figure,
    fresh_schema,
    fresh_topic,
    percentile,
    rate,
    say,
    topic_size,
    wait_for,
)
from services.escalation.db import inbox as escalation_inbox
from services.intake.db import outbox as intake_outbox
from shared.contracts import NOTE_ADDED, NoteAdded
from shared.db import Database, create_database
from shared.events import Actor, Envelope, registry
from shared.kafka import create_producer
from shared.outbox import Outbox, OutboxRelay
from shared.settings import Settings
from shared.topics import INTAKE_EVENTS

NAME = "outbox"
DESCRIPTION = "outbox relay throughput and write-to-handled latency through Kafka"

AGENT = Actor(id="A001", role="agent")
NOTE = "客户来电补充：上月账单多扣 30 元，已提供缴费凭证截图，要求三个工作日内回电。"
PARTITIONS = 6  # as complaints.lifecycle
SPAWN = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class Plan:
    events: int  # rows waiting for the relay in each throughput run
    complaints: int  # distinct complaint ids (Kafka keys) they are spread over
    fill_batch: int  # events per transaction when filling the outbox
    # End to end: (events per second, seconds) written one by one, phase after phase.
    e2e: tuple[tuple[float, float], ...]
    warmup: int  # events through the whole path before anything is measured


FULL = Plan(
    events=50_000,
    complaints=2_000,
    fill_batch=500,
    # Steady load, then a trickle: at a trickle, latency has other causes than load.
    e2e=((200, 20), (20, 15)),
    warmup=50,
)
QUICK = Plan(events=5_000, complaints=500, fill_batch=500, e2e=((100, 4), (20, 4)), warmup=20)


def now() -> float:
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def run(ctx: Context) -> Iterator[Figure | Check]:
    plan = QUICK if ctx.quick else FULL
    settings = ctx.settings()
    say(
        f"outbox: {plan.events:,} events over {plan.complaints:,} complaints; "
        f"lanes {settings.outbox_lanes}, batch {settings.outbox_batch_size}, "
        f"linger {settings.outbox_linger_seconds * 1000:.0f} ms"
    )
    for label, processes, threads in (
        ("1 relay", 1, 1),
        ("2 relays, 1 process", 1, 2),
        ("2 relays, 2 processes", 2, 1),
    ):
        yield from relay_throughput(ctx, plan, label, processes=processes, threads=threads)
    yield from end_to_end(ctx, plan)


# -- events ---------------------------------------------------------------------------


def note_event(complaint: int, seq: int) -> Envelope:
    complaint_id = f"00000000-0000-4000-8000-{complaint:012d}"
    return registry.new(
        NOTE_ADDED.name,
        NoteAdded(
            complaint_id=complaint_id,
            reference=f"TS20261122-{complaint:06d}",
            text=f"{NOTE}（第 {seq} 条）",
            source="agent",
            added_by=AGENT.id,
        ),
        source="intake",
        tenant="default",
        actor=AGENT,
        complaint_id=complaint_id,
    )


def fill(db: Database, outbox: Outbox, topic: str, plan: Plan) -> float:
    """Write plan.events events, round-robin over the complaints; return seconds taken."""
    started = time.perf_counter()
    n = 0
    while n < plan.events:
        size = min(plan.fill_batch, plan.events - n)
        events = [note_event(i % plan.complaints, i // plan.complaints) for i in range(n, n + size)]
        with db.transaction() as session:
            outbox.add_many(session, events, topic=topic)
        n += size
    return time.perf_counter() - started


def unsent(db: Database) -> int:
    with db.engine.connect() as conn:
        t = intake_outbox
        return conn.scalar(select(func.count()).select_from(t).where(t.c.sent_at.is_(None))) or 0


# -- relay processes ------------------------------------------------------------------


def _quiet_logs() -> None:
    logging.basicConfig(level=logging.WARNING, format="[bench %(processName)s] %(message)s")
    # kafka-python warns about routine things (a new group's coordinator still loading);
    # a real problem shows as a timeout or a count that does not add up.
    logging.getLogger("kafka").setLevel(logging.ERROR)


def make_relay(db: Database, producer: Any, settings: Settings) -> OutboxRelay:
    """As shared/worker.py builds it."""
    return OutboxRelay(
        db,
        intake_outbox,
        producer,
        lanes=settings.outbox_lanes,
        batch_size=settings.outbox_batch_size,
        poll_seconds=settings.outbox_poll_seconds,
        linger_seconds=settings.outbox_linger_seconds,
        retention=timedelta(days=settings.outbox_retention_days),
    )


def relay_process(
    url: str,
    schema: str,
    bootstrap: str,
    topic: str,
    threads: int,
    ready: Any,
    go: Any,
    stop: Any,
    published: Any,
) -> None:
    """A worker's relays (and nothing else): publish until told to stop."""
    _quiet_logs()
    settings = Settings(database_url=url, kafka_bootstrap_servers=bootstrap)
    db = create_database(
        url, schema=schema, pool_size=settings.db_pool_size, max_overflow=settings.db_max_overflow
    )
    producer = create_producer(settings, f"{schema}-worker")
    try:
        producer.partitions_for(topic)  # metadata now, not on the clock
        db.ping()
        relays = [make_relay(db, producer, settings) for _ in range(threads)]
        halt = threading.Event()
        ready.put("ready")
        go.wait()
        workers = [
            threading.Thread(target=r.run, args=(halt,), name=f"outbox-relay-{i}", daemon=True)
            for i, r in enumerate(relays)
        ]
        for w in workers:
            w.start()
        reported = 0
        while not stop.is_set():
            total = sum(r.published for r in relays)
            if total != reported:
                with published.get_lock():
                    published.value += total - reported
                reported = total
            stop.wait(0.002)
        halt.set()
        for w in workers:
            w.join(timeout=30)
    finally:
        producer.close(timeout=10)
        db.dispose()


def start_processes(target: Any, argsets: list[tuple[Any, ...]], ready: Any) -> list[Any]:
    procs = [SPAWN.Process(target=target, args=a, daemon=True) for a in argsets]
    for p in procs:
        p.start()
    deadline = time.monotonic() + 60
    for _ in procs:
        while True:
            try:
                ready.get(timeout=0.2)
                break
            except queue.Empty:
                if any(p.exitcode not in (None, 0) for p in procs):
                    stop_processes(procs)
                    raise BenchError("a benchmark process failed while starting") from None
                if time.monotonic() > deadline:
                    stop_processes(procs)
                    raise BenchError("benchmark processes not ready within 60s") from None
    return procs


def stop_processes(procs: list[Any], timeout: float = 30) -> None:
    for p in procs:
        p.join(timeout=timeout)
        if p.is_alive():
            p.terminate()
            p.join(timeout=5)


# -- 1. relay throughput ----------------------------------------------------------------


def relay_throughput(
    ctx: Context, plan: Plan, label: str, *, processes: int, threads: int
) -> Iterator[Figure | Check]:
    settings = ctx.settings()
    with fresh_schema(ctx, "intake") as db:
        topic = fresh_topic(ctx, partitions=PARTITIONS)
        outbox = Outbox(intake_outbox, lanes=settings.outbox_lanes)
        fill_seconds = fill(db, outbox, topic, plan)
        yield Check(NAME, f"relay ({label}): rows waiting = events written", plan.events,
                    unsent(db))  # fmt: skip
        if label == "1 relay":
            yield Figure(
                NAME,
                f"outbox write, {plan.fill_batch} per transaction",
                rate(plan.events, fill_seconds),
                "events/s",
                f"{plan.events:,} NOTE_ADDED envelopes built, encoded and inserted",
            )
        ready, go, stop = SPAWN.Queue(), SPAWN.Event(), SPAWN.Event()
        published = SPAWN.Value("q", 0)
        args = (ctx.database_url, db.schema, ctx.kafka_bootstrap, topic, threads)
        procs = start_processes(
            relay_process, [(*args, ready, go, stop, published)] * processes, ready
        )
        try:
            started = time.perf_counter()
            go.set()
            wait_for(
                lambda: published.value >= plan.events,
                timeout=300,
                what=f"{plan.events:,} events relayed",
                interval=0.001,
            )
            seconds = time.perf_counter() - started
        finally:
            stop.set()
            stop_processes(procs)
        left, on_topic = unsent(db), topic_size(ctx, topic)
        yield Check(NAME, f"relay ({label}): events published = rows written", plan.events,
                    published.value)  # fmt: skip
        yield Check(NAME, f"relay ({label}): rows left unsent", 0, left)
        yield Check(NAME, f"relay ({label}): events on the topic = rows written", plan.events,
                    on_topic)  # fmt: skip
        yield Figure(
            NAME,
            f"relay throughput, {label}",
            rate(plan.events, seconds),
            "events/s",
            f"{plan.events:,} rows drained to a {PARTITIONS}-partition topic in {seconds:.2f}s",
        )


# -- 2. end to end ----------------------------------------------------------------------


def consumer_process(
    url: str,
    schema: str,
    bootstrap: str,
    topic: str,
    ready: Any,
    stop: Any,
    handled: Any,
    results: Any,
) -> None:
    """Another service's worker: the platform's consumer loop with a real inbox."""
    from shared.consumer import EventConsumer

    _quiet_logs()
    settings = Settings(database_url=url, kafka_bootstrap_servers=bootstrap)
    db = create_database(url, schema=schema, pool_size=5)
    producer = create_producer(settings, f"{schema}-worker")
    received: dict[str, float] = {}
    committed: dict[str, tuple[float, float]] = {}

    def on_note(_session: Any, event: Any) -> None:
        received[str(event.envelope.event_id)] = now()

    def after_commit(record: Any, event: Any) -> None:
        # The record's timestamp is when the relay handed it to its producer (wall clock).
        committed[str(event.envelope.event_id)] = (now(), record.timestamp / 1000)
        with handled.get_lock():
            handled.value += 1

    consumer = EventConsumer(
        name=schema,
        topics=[topic],
        stand_for={topic: INTAKE_EVENTS},  # the run's topic carries intake's notes
        db=db,
        inbox=escalation_inbox,
        handlers={NOTE_ADDED.name: on_note},
        settings=settings,
        producer=producer,
        after_commit=after_commit,
    )
    halt = threading.Event()
    worker = threading.Thread(target=consumer.run, args=(halt,), daemon=True)
    try:
        db.ping()
        worker.start()
        ready.put("ready")
        stop.wait()
        halt.set()
        worker.join(timeout=30)
        results.put(
            {
                "stats": vars(consumer.stats),
                "times": {k: (received[k], *v) for k, v in committed.items() if k in received},
            }
        )
    finally:
        producer.close(timeout=10)
        db.dispose()


def end_to_end(ctx: Context, plan: Plan) -> Iterator[Figure | Check]:
    settings = ctx.settings()
    with fresh_schema(ctx, "intake") as writer, fresh_schema(ctx, "escalation") as reader:
        topic = fresh_topic(ctx, partitions=PARTITIONS)
        outbox = Outbox(intake_outbox, lanes=settings.outbox_lanes)
        ready, go, stop = SPAWN.Queue(), SPAWN.Event(), SPAWN.Event()
        published, handled, results = SPAWN.Value("q", 0), SPAWN.Value("q", 0), SPAWN.Queue()
        relay_args = (ctx.database_url, writer.schema, ctx.kafka_bootstrap, topic, 1)
        procs = start_processes(relay_process, [(*relay_args, ready, go, stop, published)], ready)
        go.set()
        consumer_args = (ctx.database_url, reader.schema, ctx.kafka_bootstrap, topic)
        phases: list[tuple[float, float, dict[str, tuple[float, float]]]] = []
        data: dict[str, Any] = {}

        def write_one(complaint: int, seq: int) -> tuple[str, tuple[float, float]]:
            event = note_event(complaint, seq)
            with writer.transaction() as session:
                outbox.add(session, event, topic=topic)
            return str(event.event_id), (now(), time.time())

        try:
            procs += start_processes(
                consumer_process, [(*consumer_args, ready, stop, handled, results)], ready
            )
            # Warm up: group joined, partitions assigned, connections open.
            for i in range(plan.warmup):
                write_one(i % plan.complaints, 0)
            expected = plan.warmup
            wait_for(lambda: handled.value >= expected, timeout=60, what="warm-up events handled")

            for per_second, seconds in plan.e2e:
                count = int(per_second * seconds)
                say(
                    f"outbox end to end: {count:,} events, one per transaction, "
                    f"{per_second:.0f}/s for {seconds:.0f}s"
                )
                written: dict[str, tuple[float, float]] = {}
                started = now()
                for i in range(count):
                    delay = started + i / per_second - now()
                    if delay > 0:
                        time.sleep(delay)
                    event_id, at = write_one(i % plan.complaints, i // plan.complaints)
                    written[event_id] = at
                phases.append((per_second, now() - started, written))
                expected += count
                wait_for(
                    lambda n=expected: handled.value >= n,
                    timeout=60,
                    what=f"{count:,} events handled",
                )
            stop.set()
            data = results.get(timeout=60)
        finally:
            stop.set()
            stop_processes(procs)

    times = data.get("times", {})
    stats = data.get("stats", {})
    yield Check(NAME, "end to end: events dead-lettered", 0, stats.get("dead_lettered", 0))
    for per_second, seconds, written in phases:
        missing = [e for e in written if e not in times]
        yield Check(
            NAME,
            f"end to end at {per_second:.0f}/s: events written = events handled",
            len(written),
            len(written) - len(missing),
        )
        if missing:
            continue
        # times[e] = (handler started, consumer committed, relay sent [wall clock])
        handled_ms = [(times[e][1] - w[0]) * 1000 for e, w in written.items()]
        sent_ms = [(times[e][2] - w[1]) * 1000 for e, w in written.items()]
        label = f"end to end at {per_second:.0f}/s"
        yield Figure(
            NAME,
            f"{label}, written→handled p50",
            percentile(handled_ms, 50),
            "ms",
            f"{len(written):,} events written at {rate(len(written), seconds):.0f}/s; "
            "writer's commit → consumer's commit",
        )
        for p in (95, 99):
            yield Figure(NAME, f"{label}, written→handled p{p}", percentile(handled_ms, p), "ms")
        yield Figure(NAME, f"{label}, written→handled max", max(handled_ms), "ms")
        for p in (50, 99):
            yield Figure(
                NAME,
                f"{label}, written→relay sent p{p}",
                percentile(sent_ms, p),
                "ms",
                "the relay's share (Kafka record timestamp, 1 ms steps)" if p == 50 else "",
            )
