"""A service's background process: its outbox relay, its Kafka consumer and any
periodic loops (timers, schedulers), stopped cleanly by SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Table

from shared.consumer import AfterCommit, EventConsumer, Handler
from shared.db import Database, database_for
from shared.kafka import client_config, create_producer
from shared.logs import configure_logging
from shared.loops import Backoff, Stop, Stopped, retry
from shared.migrations import pending_migrations
from shared.outbox import OutboxRelay
from shared.settings import Settings

log = logging.getLogger(__name__)

Loop = Callable[[threading.Event], None]


@dataclass
class WorkerSpec:
    service: str
    outbox: Table
    inbox: Table
    topics: Sequence[str] = ()
    # Built once the database is there, so handlers can hold what they need.
    handlers: Callable[[Database, Settings], Mapping[str, Handler]] = lambda db, s: {}
    loops: Callable[[Database, Settings], Sequence[Loop]] = lambda db, s: ()
    after_commit: AfterCommit | None = None
    relays: int = 1
    consumer_kwargs: dict[str, Any] = field(default_factory=dict)


def wait_for(what: str, attempt: Callable[[], Any], stop: threading.Event) -> Any:
    """Retry until it works or we are told to stop: dependencies start in any order."""
    if stop.is_set():
        raise SystemExit(0)
    try:
        return retry(attempt, stop, Backoff(f"waiting for {what}", first=0.5, ceiling=5.0))
    except Stopped:
        raise SystemExit(0) from None


def run_worker(spec: WorkerSpec, settings: Settings | None = None) -> None:
    settings = settings or Settings()
    configure_logging(f"{spec.service}-worker", level=settings.log_level, fmt=settings.log_format)
    # Kafka settings that could never connect stop the worker here, not in a retry loop.
    client_config(settings)
    stop = Stop()

    def _signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)

    db = database_for(spec.service, settings)

    def _migrated() -> None:
        missing = pending_migrations(db, spec.service)
        if missing:
            raise RuntimeError(f"migrations pending: {', '.join(missing)}")

    wait_for("the database", _migrated, stop)
    producer = wait_for("Kafka", lambda: create_producer(settings, f"{spec.service}-worker"), stop)
    threads: list[threading.Thread] = []
    for i in range(spec.relays):
        relay = OutboxRelay(
            db,
            spec.outbox,
            producer,
            lanes=settings.outbox_lanes,
            batch_size=settings.outbox_batch_size,
            poll_seconds=settings.outbox_poll_seconds,
            linger_seconds=settings.outbox_linger_seconds,
            retention=timedelta(days=settings.outbox_retention_days),
        )
        threads.append(_start(f"outbox-relay-{i}", relay.run, stop))
    for n, loop in enumerate(spec.loops(db, settings)):
        threads.append(_start(f"loop-{n}", loop, stop))
    try:
        if spec.topics:
            consumer = EventConsumer(
                name=spec.service,
                topics=spec.topics,
                db=db,
                inbox=spec.inbox,
                handlers=spec.handlers(db, settings),
                settings=settings,
                producer=producer,
                after_commit=spec.after_commit,
                **spec.consumer_kwargs,
            )
            consumer.run(stop)
        else:
            while not stop.is_set():
                stop.wait(1.0)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        producer.close(timeout=10)
        db.dispose()
        log.info("worker stopped")


def _start(name: str, target: Loop, stop: threading.Event) -> threading.Thread:
    def guarded() -> None:
        # A loop that dies takes the whole worker down, so a supervisor restarts it
        # instead of it limping on without its relay.
        try:
            target(stop)
        except Exception:
            log.exception("%s crashed; stopping the worker", name)
            stop.set()
        finally:
            if not stop.is_set():
                log.error("%s ended unexpectedly; stopping the worker", name)
                stop.set()

    thread = threading.Thread(target=guarded, name=name, daemon=True)
    thread.start()
    time.sleep(0)
    return thread
