"""The outbox, the relay, the inbox and the consumer loop on a real broker and database.

An event written through one service's outbox (intake's real tables) is handled by a
consumer of another (escalation's real tables) exactly once — also when the consumer
is killed between its database commit and its offset commit, and when the broker is
stopped while events are being written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from services.intake.db import outbox as intake_outbox
from shared.db import Database, create_database
from shared.events import Event
from shared.kafka import create_producer
from shared.logs import correlation
from shared.outbox import Outbox, OutboxRelay
from shared.settings import Settings
from shared.topics import dlq
from tests.support.infra import ROOT, kafka_ctl, read_topic, wait_until
from tests.support.ledger import (
    CLERK,
    Posted,
    create_effects_table,
    handle_posted,
    make_consumer,
    registry,
)

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


def write(
    db: Database, topic: str, account: str, seq: int, *, correlation_id: str | None = None
) -> str:
    """One event in its own transaction, as a service writes it with a state change."""
    outbox = Outbox(intake_outbox, lanes=4, registry=registry)
    with correlation(correlation_id), db.transaction() as session:
        event = registry.new(
            "ledger.posted",
            Posted(account=account, seq=seq, amount=seq * 10, written_at=datetime.now(UTC)),
            source="intake",
            tenant="default",
            actor=CLERK,
            complaint_id=account,
        )
        outbox.add(session, event, topic=topic)
    return str(event.event_id)


def effects(db: Database) -> list[Any]:
    with db.engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT event_id, account, seq, correlation_id FROM effects ORDER BY id")
            )
        )


def inbox_count(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.scalar(text("SELECT count(*) FROM inbox"))


def start_consumer(
    pg_url: str, db: Database, topic: str, group: str, log: Path, kill_after: int = 0
) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        "-m",
        "tests.support.ledger",
        "consume",
        "--url",
        pg_url,
        "--schema",
        db.schema or "",
        "--topic",
        topic,
        "--group",
        group,
    ]
    if kill_after:
        argv += ["--kill-after", str(kill_after)]
    return subprocess.Popen(
        argv, cwd=ROOT, env=dict(os.environ), stdout=log.open("ab"), stderr=subprocess.STDOUT
    )


def committed_offsets(bootstrap: str, group: str) -> int:
    from kafka.admin import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        return sum(meta.offset for meta in admin.list_group_offsets(group).get(group, {}).values())
    finally:
        admin.close()


@contextmanager
def running_relay(db: Database, settings: Settings) -> Iterator[OutboxRelay]:
    """The outbox relay polling in a thread, as the worker runs it."""
    producer = create_producer(settings, "test-relay")
    relay = OutboxRelay(db, intake_outbox, producer, lanes=4, poll_seconds=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield relay
    finally:
        stop.set()
        thread.join(timeout=30)
        producer.close()


def assert_one_effect_each_in_order(db: Database, written: list[str], last_seq: int) -> None:
    """Every event written has exactly one effect, and each account's in sequence."""
    rows = effects(db)
    assert sorted(r.event_id for r in rows) == sorted(written)
    order: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        order[r.account].append(r.seq)
    for account, seqs in order.items():
        assert seqs == list(range(1, last_seq + 1)), f"{account} out of order"


@pytest.fixture
def pipeline(migrated: Any) -> tuple[Database, Database]:
    a = migrated("intake")
    b = migrated("escalation")
    create_effects_table(b)
    return a, b


def test_a_consumer_killed_after_its_commit_but_before_the_offset_commit_has_no_second_effect(
    pipeline: tuple[Database, Database],
    new_topic: Any,
    kafka_bootstrap: str,
    kafka_settings: Settings,
    pg_url: str,
    tmp_path: Path,
) -> None:
    a, b = pipeline
    topic = new_topic(3)
    group = f"ledger-{uuid.uuid4().hex[:8]}"
    ids = [
        write(a, topic, f"acct-{n % 6}", n // 6 + 1, correlation_id=f"req-{n}") for n in range(60)
    ]
    producer = create_producer(kafka_settings, "test-relay")
    relay = OutboxRelay(a, intake_outbox, producer, lanes=4)
    assert relay.publish_pending() == 60
    assert relay.backlog() == 0

    log = tmp_path / "consumer.log"
    first = start_consumer(pg_url, b, topic, group, log, kill_after=25)
    assert first.wait(timeout=90) == -9, log.read_text()
    handled_before_kill = len(effects(b))
    assert handled_before_kill >= 25
    # The proof that we killed it in the gap: effects committed, their offsets not.
    assert committed_offsets(kafka_bootstrap, group) < handled_before_kill

    second = start_consumer(pg_url, b, topic, group, log)
    try:
        # The first consumer may have handled all 60 in one transaction before it died:
        # wait for the second to have gone through them too (its offsets say so).
        wait_until(
            lambda: (
                len(effects(b)) >= 60
                and inbox_count(b) >= 60
                and committed_offsets(kafka_bootstrap, group) >= 60
            ),
            timeout=90,
            what="all 60 events handled",
        )
        time.sleep(1.0)  # let any stray redelivery land, so a second effect would show
    finally:
        second.terminate()
        second.wait(timeout=30)
    stats = json.loads(log.read_text().strip().splitlines()[-1])["stats"]
    assert stats["duplicates"] >= 1, "the restarted consumer should have seen redelivered events"

    rows = effects(b)
    assert sorted(r.event_id for r in rows) == sorted(ids)  # each event exactly one effect
    assert inbox_count(b) == 60
    # The correlation id of the writing request arrived with the event and is in the logs.
    assert {r.correlation_id for r in rows} == {f"req-{n}" for n in range(60)}
    assert '"correlation_id": "req-' in log.read_text()
    producer.close()


def test_the_outbox_keeps_events_while_the_broker_is_down_and_all_arrive_in_order_after(
    pipeline: tuple[Database, Database],
    new_topic: Any,
    kafka_settings: Settings,
    pg_url: str,
    tmp_path: Path,
) -> None:
    a, b = pipeline
    topic = new_topic(3)
    group = f"ledger-{uuid.uuid4().hex[:8]}"
    stack = ExitStack()  # the relay, stopped in `finally`
    relay = stack.enter_context(running_relay(a, kafka_settings))
    consumer = start_consumer(pg_url, b, topic, group, tmp_path / "consumer.log")

    accounts = [f"acct-{i}" for i in range(8)]
    per_account = 30
    total = len(accounts) * per_account
    written: list[str] = []
    seqs = iter(range(1, per_account + 1))

    def write_rounds(rounds: int) -> None:
        for _ in range(rounds):
            seq = next(seqs)
            for account in accounts:
                written.append(write(a, topic, account, seq))
                time.sleep(0.002)

    try:
        write_rounds(10)  # broker up: these flow straight through
        wait_until(lambda: len(effects(b)) >= 40, timeout=60, what="the first events handled")
        kafka_ctl("stop")
        write_rounds(10)  # broker down: the service keeps accepting writes
        time.sleep(2)
        backlog_while_down = relay.backlog()
        assert backlog_while_down > 0, "the outbox should hold events while the broker is down"
        kafka_ctl("start")
        write_rounds(10)  # broker back: old and new events both go out, old ones first
        assert len(written) == total
        wait_until(
            lambda: len(effects(b)) >= total,
            timeout=120,
            what=f"all {total} events handled",
            interval=0.5,
        )
        time.sleep(1.0)
    finally:
        stack.close()
        consumer.terminate()
        consumer.wait(timeout=30)

    assert_one_effect_each_in_order(b, written, per_account)  # all arrived, none twice


def test_two_relays_at_once_publish_each_event_once_and_in_order(
    pipeline: tuple[Database, Database],
    new_topic: Any,
    kafka_bootstrap: str,
    kafka_settings: Settings,
) -> None:
    a, _ = pipeline
    topic = new_topic(3)
    accounts = [f"acct-{i}" for i in range(10)]
    for seq in range(1, 31):
        for account in accounts:
            write(a, topic, account, seq)
    total = 300
    relays = [
        OutboxRelay(
            a, intake_outbox, create_producer(kafka_settings, f"relay-{i}"), lanes=4, batch_size=7
        )
        for i in range(2)
    ]
    barrier = threading.Barrier(2)

    def drain(relay: OutboxRelay) -> None:
        barrier.wait()
        while relay.backlog():
            relay.publish_pending()

    threads = [threading.Thread(target=drain, args=(r,)) for r in relays]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sum(r.published for r in relays) == total
    assert all(r.published > 0 for r in relays), "both relays should have had lanes to work"

    records = read_topic(kafka_bootstrap, topic, expect=total)
    events = [registry.decode(r.value) for r in records]
    assert len(events) == total
    assert len({e.envelope.event_id for e in events}) == total
    by_account: dict[str, list[int]] = defaultdict(list)
    for rec, e in sorted(
        zip(records, events, strict=True), key=lambda p: (p[0].partition, p[0].offset)
    ):
        assert rec.key.decode() == e.envelope.complaint_id
        by_account[e.payload.account].append(e.payload.seq)
    for account in accounts:
        assert by_account[account] == list(range(1, 31))
    for r in relays:
        r.producer.close()


def handlers_by_pid(db: Database) -> dict[int, int]:
    with db.engine.connect() as conn:
        rows = conn.execute(text("SELECT handled_by, count(*) FROM effects GROUP BY handled_by"))
        return {pid: n for pid, n in rows}


def test_consumers_of_one_group_share_the_partitions_and_a_killed_ones_share_moves_on(
    pipeline: tuple[Database, Database],
    new_topic: Any,
    kafka_settings: Settings,
    pg_url: str,
    tmp_path: Path,
) -> None:
    """What scaling a worker out relies on: up to one consumer per partition, each
    taking its share; one killed mid-stream and another joining later change who handles
    what, never how often or in which order."""
    a, b = pipeline
    topic = new_topic(6)
    group = f"ledger-{uuid.uuid4().hex[:8]}"
    stack = ExitStack()  # the relay, stopped in `finally`
    relay = stack.enter_context(running_relay(a, kafka_settings))
    consumers = [
        start_consumer(pg_url, b, topic, group, tmp_path / f"consumer-{i}.log") for i in range(3)
    ]
    accounts = [f"acct-{i}" for i in range(12)]
    written: list[str] = []
    seq = 0

    def write_round() -> None:
        nonlocal seq
        seq += 1
        for account in accounts:
            written.append(write(a, topic, account, seq))
        time.sleep(0.05)

    def write_until(condition: Any, what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out: {what}"
            write_round()

    pids = [c.pid for c in consumers]
    try:
        # All three join and each gets partitions of its own.
        write_until(
            lambda: all(handlers_by_pid(b).get(pid, 0) > 0 for pid in pids),
            "each of three consumers handling its share",
        )
        consumers[0].kill()
        assert consumers[0].wait(timeout=30) == -9
        killed_at = len(effects(b))
        # Its partitions move to the other two; a fourth joins and takes some back.
        write_until(lambda: len(effects(b)) > killed_at + 3 * len(accounts), "the group goes on")
        consumers.append(start_consumer(pg_url, b, topic, group, tmp_path / "consumer-3.log"))
        write_until(lambda: handlers_by_pid(b).get(consumers[3].pid, 0) > 0, "the late joiner")
        for _ in range(3):
            write_round()
        wait_until(
            lambda: relay.backlog() == 0 and len(effects(b)) >= len(written),
            timeout=90,
            what=f"all {len(written)} events handled",
            interval=0.5,
        )
        time.sleep(1.0)  # let a stray redelivery land, so a second effect would show
    finally:
        stack.close()
        for consumer in consumers:
            if consumer.poll() is None:
                consumer.terminate()
                consumer.wait(timeout=30)

    assert_one_effect_each_in_order(b, written, seq)
    shares = handlers_by_pid(b)
    assert set(shares) == {c.pid for c in consumers}
    assert all(n > 0 for n in shares.values()), shares


def test_bad_records_go_to_the_dead_letter_topic_with_their_reason_and_the_consumer_moves_on(
    pipeline: tuple[Database, Database],
    new_topic: Any,
    kafka_bootstrap: str,
    kafka_settings: Settings,
) -> None:
    _, b = pipeline
    topic = new_topic(1)
    producer = create_producer(kafka_settings, "test-producer")
    good = registry.new(
        "ledger.posted",
        Posted(account="ok", seq=1, amount=1, written_at=datetime.now(UTC)),
        source="intake",
        tenant="default",
        actor=CLERK,
        complaint_id="ok",
    )
    poison = registry.new(
        "ledger.posted",
        Posted(account="boom", seq=1, amount=1, written_at=datetime.now(UTC)),
        source="intake",
        tenant="default",
        actor=CLERK,
        complaint_id="boom",
    )
    unknown = good.model_dump(mode="json") | {
        "type": "ledger.vanished",
        "event_id": str(uuid.uuid4()),
    }
    from shared.events import encode

    for key, value in [
        (b"k1", b"{this is not json"),
        (b"k2", json.dumps(unknown).encode()),
        (b"boom", encode(poison)),
        (b"ok", encode(good)),
    ]:
        producer.send(topic, key=key, value=value).get(timeout=30)

    def handler(session: Any, event: Event[Posted]) -> None:
        if event.payload.account == "boom":
            raise ValueError("the ledger refuses account boom")
        handle_posted(session, event)

    group = f"dlq-{uuid.uuid4().hex[:8]}"
    consumer = make_consumer(
        db=b, topic=topic, group=group, settings=kafka_settings, producer=producer
    )
    consumer.handlers["ledger.posted"] = handler
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,))
    thread.start()
    try:
        wait_until(
            lambda: len(effects(b)) == 1 and consumer.stats.dead_lettered == 3,
            timeout=60,
            what="the good event handled",
        )
    finally:
        stop.set()
        thread.join(timeout=30)

    assert [r.event_id for r in effects(b)] == [str(good.event_id)]
    dead = read_topic(kafka_bootstrap, dlq(topic), expect=3)
    reasons = {rec.key: dict(rec.headers)["dlq.reason"].decode() for rec in dead}
    assert "not valid JSON" in reasons[b"k1"]
    assert "unknown event type 'ledger.vanished'" in reasons[b"k2"]
    assert "handler failed 3 times: ValueError: the ledger refuses account boom" in reasons[b"boom"]
    assert {rec.value for rec in dead} >= {b"{this is not json", encode(poison)}  # kept untouched
    headers = dict(dead[0].headers)
    assert headers["dlq.original_topic"] == topic.encode()
    assert headers["dlq.consumer"] == group.encode()
    assert committed_offsets(kafka_bootstrap, group) == 4  # went past all of them
    producer.close()


def test_kcat_reads_the_events_as_plain_kafka(
    pipeline: tuple[Database, Database],
    new_topic: Any,
    kafka_bootstrap: str,
    kafka_settings: Settings,
) -> None:
    a, _ = pipeline
    topic = new_topic(1)
    ids = [write(a, topic, "客户-1", seq) for seq in (1, 2, 3)]
    producer = create_producer(kafka_settings, "test-relay")
    assert OutboxRelay(a, intake_outbox, producer, lanes=2).publish_pending() == 3
    producer.close()
    out = subprocess.run(
        ["kcat", "-b", kafka_bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-J", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [r["key"] for r in records] == ["客户-1"] * 3
    envelopes = [json.loads(r["payload"]) for r in records]
    assert [e["event_id"] for e in envelopes] == ids
    assert [e["payload"]["seq"] for e in envelopes] == [1, 2, 3]
    assert all(e["type"] == "ledger.posted" for e in envelopes)
    headers = records[0]["headers"]
    assert headers[headers.index("event_type") + 1] == "ledger.posted"


def test_the_relay_works_from_sqlite_too(
    tmp_path: Path, new_topic: Any, kafka_bootstrap: str, kafka_settings: Settings
) -> None:
    from shared.migrations import upgrade

    url = f"sqlite:///{tmp_path / 'intake.db'}"
    upgrade("intake", url=url)
    db = create_database(url, schema="intake")
    topic = new_topic(1)
    ids = [write(db, topic, "acct", seq) for seq in range(1, 6)]
    producer = create_producer(kafka_settings, "sqlite-relay")
    relay = OutboxRelay(db, intake_outbox, producer, lanes=4)
    assert relay.publish_pending() == 5
    assert relay.backlog() == 0
    records = read_topic(kafka_bootstrap, topic, expect=5)
    assert [str(registry.decode(r.value).envelope.event_id) for r in records] == ids
    producer.close()
    db.dispose()
