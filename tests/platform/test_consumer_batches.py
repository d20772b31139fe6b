"""The records of one poll share a database transaction: each event still has its effect
once, a failing handler is retried and dead-lettered on its own, and the others count."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import text

from shared.consumer import EventConsumer, Refused, Together
from shared.db import Database
from shared.events import Envelope, Event, encode, kafka_headers
from shared.outbox import Outbox
from shared.settings import Settings
from tests.support.ledger import (
    CLERK,
    OWNERS,
    Posted,
    create_effects_table,
    handle_posted,
    registry,
)

pytestmark = pytest.mark.postgres


@dataclass
class Record:
    value: bytes
    headers: list[tuple[str, bytes]]
    offset: int
    topic: str = "ledger"
    partition: int = 0
    key: bytes = b"k"


@dataclass
class CapturingProducer:
    sent: list[tuple[str, dict[str, bytes]]] = field(default_factory=list)

    def send(self, topic: str, **kw: Any) -> Any:
        self.sent.append((topic, dict(kw["headers"])))

        class Done:
            def get(self, timeout: float) -> None:
                return None

        return Done()


def posted(account: str, seq: int) -> Envelope:
    return registry.new(
        "ledger.posted",
        Posted(account=account, seq=seq, amount=seq, written_at=datetime.now(UTC)),
        source="intake",
        tenant="default",
        actor=CLERK,
        complaint_id=account,
    )


def records(events: list[Envelope]) -> list[Record]:
    return [Record(encode(e), list(kafka_headers(e)), offset=n) for n, e in enumerate(events)]


def effects(db: Database) -> list[tuple[str, int]]:
    with db.engine.connect() as conn:
        return [
            tuple(r) for r in conn.execute(text("SELECT account, seq FROM effects ORDER BY id"))
        ]


@pytest.fixture
def ledger(migrated: Callable[[str], Database]) -> Database:
    db = migrated("escalation")
    create_effects_table(db)
    return db


def consumer(db: Database, producer: CapturingProducer, **kwargs: Any) -> EventConsumer:
    from services.escalation.db import inbox

    return EventConsumer(
        name="ledger",
        topics=["ledger"],
        db=db,
        inbox=inbox,
        handlers={"ledger.posted": handle_posted},
        settings=Settings(),
        producer=producer,
        registry=registry,
        owners=OWNERS,
        **kwargs,
    )


def test_a_batch_has_each_event_once_in_order_even_an_event_delivered_twice_in_it(
    ledger: Database,
) -> None:
    events = [posted("a", n) for n in range(1, 6)]
    batch = records([*events, events[1]])  # the relay published one of them twice
    loop = consumer(ledger, CapturingProducer())
    loop._process_many(batch, threading.Event())
    assert effects(ledger) == [("a", n) for n in range(1, 6)]
    assert (loop.stats.handled, loop.stats.duplicates) == (5, 1)

    loop._process_many(batch, threading.Event())  # the whole poll again, after a crash
    assert len(effects(ledger)) == 5
    assert (loop.stats.handled, loop.stats.duplicates) == (5, 7)


def test_a_handler_failing_in_a_batch_is_dead_lettered_alone_and_the_others_take_effect(
    ledger: Database,
) -> None:
    producer = CapturingProducer()
    loop = consumer(ledger, producer)
    seen: list[str] = []

    def handler(session: Any, event: Event[Posted]) -> None:
        seen.append(event.payload.account)
        if event.payload.account == "boom":
            raise ValueError("the ledger refuses account boom")
        handle_posted(session, event)

    loop.handlers["ledger.posted"] = handler
    batch = records([posted("a", 1), posted("boom", 1), posted("b", 1)])
    loop._process_many(batch, threading.Event())
    assert effects(ledger) == [("a", 1), ("b", 1)]
    assert (loop.stats.handled, loop.stats.dead_lettered) == (2, 1)
    ((topic, headers),) = producer.sent
    assert topic == "ledger.dlq"
    assert b"handler failed 3 times" in headers["dlq.reason"]
    # Together once (rolled back at "boom"), then one by one: "boom" three times.
    assert seen == ["a", "boom", "a", "boom", "boom", "boom", "b"]


def test_a_transaction_takes_at_most_transaction_size_records(ledger: Database) -> None:
    loop = consumer(ledger, CapturingProducer(), transaction_size=2)
    commits: list[int] = []
    original = loop._handle_all_once

    def counting(work: Any) -> list[bool]:
        commits.append(len(work))
        return original(work)

    loop._handle_all_once = counting  # type: ignore[method-assign]

    class Polled:
        def __init__(self) -> None:
            self.sought: list[tuple[Any, int]] = []

        def seek(self, tp: Any, offset: int) -> None:
            self.sought.append((tp, offset))

    polled = Polled()
    batch = records([posted("a", n) for n in range(1, 6)])
    loop.process_batch(polled, {"ledger-0": batch}, threading.Event())
    assert commits == [2, 2]  # and the fifth on its own, in a transaction of its own
    assert len(effects(ledger)) == 5
    assert polled.sought == []
    assert loop._uncommitted["ledger-0"].offset == 5


def test_events_read_together_go_to_their_handler_at_once_in_order(ledger: Database) -> None:
    """A handler that takes several events in one go is given the poll's events together,
    in order, the second copy of one left out."""
    runs: list[list[int]] = []

    def many(session: Any, events: Sequence[Event[Any]]) -> None:
        runs.append([event.payload.seq for event in events])
        for event in events:
            handle_posted(session, event)

    def one(session: Any, event: Event[Any]) -> None:
        raise AssertionError("each event was to go with the others")

    loop = consumer(ledger, CapturingProducer())
    loop.handlers["ledger.posted"] = Together(one, many)
    events = [posted("a", n) for n in range(1, 6)]
    loop._process_many(records([*events, events[1]]), threading.Event())
    assert runs == [[1, 2, 3, 4, 5]]
    assert effects(ledger) == [("a", n) for n in range(1, 6)]
    assert (loop.stats.handled, loop.stats.duplicates) == (5, 1)


def test_a_refused_event_among_others_handled_together_is_dead_lettered_alone(
    ledger: Database,
) -> None:
    """The run is rolled back whole; then each event goes on its own: the refused one to
    the dead letters with its reason, the others take effect once."""
    producer = CapturingProducer()
    loop = consumer(ledger, producer)
    alone: list[str] = []

    def refuse(event: Event[Any]) -> None:
        if event.payload.account == "forged":
            raise Refused("account forged belongs to another client", error_class="tenant")

    def many(session: Any, events: Sequence[Event[Any]]) -> None:
        for event in events:
            handle_posted(session, event)  # written, then rolled back with the rest
        for event in events:
            refuse(event)

    def one(session: Any, event: Event[Any]) -> None:
        alone.append(event.payload.account)
        refuse(event)
        handle_posted(session, event)

    loop.handlers["ledger.posted"] = Together(one, many)
    loop._process_many(
        records([posted("a", 1), posted("forged", 1), posted("b", 1)]), threading.Event()
    )
    assert effects(ledger) == [("a", 1), ("b", 1)]
    assert alone == ["a", "forged", "b"]
    assert (loop.stats.handled, loop.stats.refused, loop.stats.dead_lettered) == (2, 1, 1)
    ((topic, headers),) = producer.sent
    assert topic == "ledger.dlq"
    assert headers["dlq.error_class"] == b"tenant"
    assert b"another client" in headers["dlq.reason"]


def test_the_events_a_batchs_handlers_announce_go_in_one_insert_in_their_order(
    ledger: Database,
) -> None:
    from services.escalation.db import outbox as outbox_table

    announced = Outbox(outbox_table, lanes=4, registry=registry)

    def handler(session: Any, event: Event[Posted]) -> None:
        handle_posted(session, event)
        payload = event.payload
        follow = posted(payload.account, payload.seq + 100)
        announced.add(session, follow)

    inserts: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().replace('"', "").startswith("INSERT INTO OUTBOX"):
            inserts.append(statement)

    loop = consumer(ledger, CapturingProducer())
    loop.handlers["ledger.posted"] = handler
    sqlalchemy.event.listen(ledger.engine, "before_cursor_execute", seen)
    try:
        loop._process_many(records([posted("a", n) for n in range(1, 6)]), threading.Event())
    finally:
        sqlalchemy.event.remove(ledger.engine, "before_cursor_execute", seen)
    assert len(inserts) == 1
    with ledger.engine.connect() as conn:
        values = conn.execute(text("SELECT value FROM outbox ORDER BY id")).scalars().all()
    assert [registry.decode(v.encode()).payload.seq for v in values] == [101, 102, 103, 104, 105]
    # A handler's transaction of its own writes them too.
    loop._process_many(records([posted("b", 1)]), threading.Event())
    with ledger.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM outbox")).scalar() == 6
