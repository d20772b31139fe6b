"""A tiny event pipeline on the platform's real plumbing, for tests and benchmarks.

"Service A" writes `ledger.posted` events through its outbox (intake's real tables and
migrations, in a schema of their own); "service B" (escalation's real tables) consumes
them with the platform's consumer loop and records one `effects` row per event it
handles — so a second effect of one event is visible as a second row.

Run as a process (so a test can kill -9 it):

    python -m tests.support.ledger consume --url … --schema … --topic … [--kill-after N]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from services.escalation.db import inbox as escalation_inbox
from shared.consumer import EventConsumer
from shared.db import Database, create_database
from shared.events import Actor, Event, EventRegistry, Payload
from shared.kafka import create_producer
from shared.logs import configure_logging
from shared.settings import Settings


class Posted(Payload):
    account: str
    seq: int
    amount: int
    written_at: datetime


registry = EventRegistry()
# A topic of its own, written by one service as each of the platform's is; a test's
# topic stands for it.
LEDGER = "ledger"
OWNERS = {LEDGER: "intake"}
POSTED = registry.register("ledger.posted", Posted, topic=LEDGER)
CLERK = Actor(id="A001", role="agent")


def create_effects_table(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS effects ("
                " id BIGSERIAL PRIMARY KEY, event_id TEXT NOT NULL, account TEXT NOT NULL,"
                " seq INT NOT NULL, correlation_id TEXT, latency_ms DOUBLE PRECISION,"
                " handled_by INT, handled_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())"
            )
        )


def handle_posted(session: Session, event: Event[Posted]) -> None:
    # No unique constraint on purpose: a second effect must be countable, not refused.
    latency = (datetime.now(UTC) - event.payload.written_at).total_seconds() * 1000
    session.execute(
        text(
            "INSERT INTO effects (event_id, account, seq, correlation_id, latency_ms, handled_by)"
            " VALUES (:e, :a, :s, :c, :l, :p)"
        ),
        {
            "e": str(event.envelope.event_id),
            "a": event.payload.account,
            "s": event.payload.seq,
            "c": event.envelope.correlation_id,
            "l": latency,
            "p": os.getpid(),  # which consumer process had the effect
        },
    )


def make_consumer(
    *,
    db: Database,
    topic: str,
    group: str,
    settings: Settings,
    producer: Any,
    after_commit: Any = None,
) -> EventConsumer:
    return EventConsumer(
        name=group,
        topics=[topic],
        stand_for={topic: LEDGER},
        owners=OWNERS,
        db=db,
        inbox=escalation_inbox,
        handlers={"ledger.posted": handle_posted},
        settings=settings,
        producer=producer,
        registry=registry,
        after_commit=after_commit,
    )


def consume_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--schema", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument(
        "--kill-after", type=int, default=0, help="kill -9 self after N handled events"
    )
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging("ledger-consumer", level="INFO")
    db = create_database(args.url, schema=args.schema)
    producer = create_producer(settings, "ledger-dlq")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    handled = 0

    def after_commit(record: Any, event: Event[Any]) -> None:
        nonlocal handled
        handled += 1
        if args.kill_after and handled >= args.kill_after:
            # The database transaction has committed; the Kafka offset has not.
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)

    consumer = make_consumer(
        db=db,
        topic=args.topic,
        group=args.group,
        settings=settings,
        producer=producer,
        after_commit=after_commit,
    )
    consumer.run(stop)
    print(json.dumps({"stats": consumer.stats.__dict__}), flush=True)
    producer.close()
    db.dispose()
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["consume"]:
        sys.exit(consume_main(sys.argv[2:]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
