"""Kafka as the platform runs in production: three brokers, every partition on all three,
min.insync.replicas 2, unclean leader election off (scripts/kafka-cluster.sh).

Under load — a service's real outbox relay publishing (intake's outbox), a real consumer
applying (escalation's inbox, the platform's consumer loop) — the broker leading every
partition in use is killed with SIGKILL and started again later. Then what the producing
side was told was acknowledged (the outbox rows marked sent, and the producer's own
callbacks) is held against the topic and the consumer's effects: nothing acknowledged is
lost, nothing is applied twice.

The accounting is shown to notice both: a lost write, in a cluster configured as so many
are (acks=1, min.insync.replicas 1), whose followers hang while the leader acknowledges
writes alone and then dies; and doubled effects, fabricated.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from services.intake.db import outbox as intake_outbox
from shared.db import Database
from shared.kafka import create_producer
from shared.outbox import Outbox, OutboxRelay
from shared.settings import Settings
from shared.topics import dlq, topic_specs
from tests.support.cluster import (
    Accounting,
    Cluster,
    LeaderWatch,
    RecordingProducer,
    account,
    read_event_ids,
)
from tests.support.infra import consume_until, wait_until
from tests.support.ledger import CLERK, Posted, create_effects_table, make_consumer, registry

NODES = (1, 2, 3)
PARTITIONS = 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Started for this module, on KAFKA_CLUSTER_PORT (or the script's ports for the
    stack), and gone with its data afterwards."""
    if not os.environ.get("TEST_STACK"):
        pytest.fail("TEST_STACK is not set: run the suite with `make test`")
    port = os.environ.get("KAFKA_CLUSTER_PORT")
    made = Cluster(tmp_path_factory.mktemp("kafka-cluster"), int(port) if port else None)
    try:
        made.ctl("start")
        yield made
    finally:
        made.ctl("reset")


def cluster_topic(cluster: Cluster, *, leader: int, min_insync: int) -> str:
    """A topic of this test whose partitions all have `leader` as their preferred leader
    and a replica on every node, and its .dlq."""
    from kafka.admin import KafkaAdminClient, NewTopic

    name = f"test.cluster.{uuid.uuid4().hex[:10]}"
    a, b = (n for n in NODES if n != leader)
    config = {"min.insync.replicas": str(min_insync), "unclean.leader.election.enable": "false"}
    admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap, client_id="test-topics")
    try:
        admin.create_topics(
            [
                NewTopic(
                    name,
                    replica_assignments={
                        p: [leader, a, b] if p % 2 else [leader, b, a] for p in range(PARTITIONS)
                    },
                    topic_configs=config,
                ),
                NewTopic(dlq(name), 1, len(NODES), topic_configs=config),
            ],
            timeout_ms=30_000,
        )
    finally:
        admin.close()
    wait_until(
        lambda: set(cluster.leaders(name).values()) == {leader},
        timeout=30,
        what=f"node {leader} leading every partition of {name}",
    )
    return name


@pytest.fixture
def pipeline(migrated: Any) -> tuple[Database, Database]:
    a = migrated("intake")
    b = migrated("escalation")
    create_effects_table(b)
    return a, b


class Writer:
    """Writes one event for each account per round, each round in one transaction, as
    a service writes events with its state changes; keeps the ids it committed."""

    def __init__(self, db: Database, topic: str, accounts: int = 12) -> None:
        self.db = db
        self.topic = topic
        self.accounts = [f"acct-{i}" for i in range(accounts)]
        self.outbox = Outbox(intake_outbox, lanes=4, registry=registry)
        self.written: list[str] = []
        self.rounds = 0

    def round(self) -> None:
        seq = self.rounds + 1
        events = [
            registry.new(
                "ledger.posted",
                Posted(account=a, seq=seq, amount=seq, written_at=datetime.now(UTC)),
                source="intake",
                tenant="default",
                actor=CLERK,
                complaint_id=a,
            )
            for a in self.accounts
        ]
        with self.db.transaction() as session:
            self.outbox.add_many(session, events, topic=self.topic)
        self.rounds = seq
        self.written += [str(e.event_id) for e in events]

    @contextmanager
    def running(self, pause: float = 0.05) -> Iterator[Writer]:
        stop = threading.Event()

        def loop() -> None:
            while not stop.is_set():
                self.round()
                stop.wait(pause)

        thread = threading.Thread(target=loop, name="writer", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join(timeout=30)


@contextmanager
def in_thread(target: Callable[[threading.Event], None], name: str) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=target, args=(stop,), name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=60)


def sent_ids(db: Database) -> list[str]:
    """The outbox's own record of what the broker acknowledged."""
    with db.engine.connect() as conn:
        return list(conn.scalars(text("SELECT event_id FROM outbox WHERE sent_at IS NOT NULL")))


def retried(db: Database) -> int:
    with db.engine.connect() as conn:
        return conn.scalar(text("SELECT count(*) FROM outbox WHERE attempts > 0")) or 0


def effects(db: Database) -> list[Any]:
    with db.engine.connect() as conn:
        return list(conn.execute(text("SELECT event_id, account, seq FROM effects ORDER BY id")))


def settings_for(cluster: Cluster, **changes: Any) -> Settings:
    return Settings(
        kafka_bootstrap_servers=cluster.bootstrap,
        kafka_request_timeout_ms=changes.pop("kafka_request_timeout_ms", 5000),
        **changes,
    )


@pytest.mark.kafka
@pytest.mark.cluster
@pytest.mark.timeout(240)
def test_the_leader_killed_under_load_loses_no_acknowledged_event_and_doubles_no_effect(
    cluster: Cluster,
    pipeline: tuple[Database, Database],
) -> None:
    a, b = pipeline
    leader = 2
    topic = cluster_topic(cluster, leader=leader, min_insync=2)
    settings = settings_for(cluster)
    producer = RecordingProducer(create_producer(settings, "cluster-relay"))
    relay = OutboxRelay(a, intake_outbox, producer, lanes=4, poll_seconds=0.05)
    dlq_producer = create_producer(settings, "cluster-dlq")
    consumer = make_consumer(
        db=b,
        topic=topic,
        group=f"ledger-{uuid.uuid4().hex[:8]}",
        settings=settings,
        producer=dlq_producer,
    )
    writer = Writer(a, topic)
    watch = LeaderWatch(cluster.bootstrap, topic).start()
    started = time.monotonic()
    with ExitStack() as running:
        running.enter_context(in_thread(relay.run, "relay"))
        running.enter_context(in_thread(consumer.run, "consumer"))
        with writer.running():
            wait_until(lambda: len(effects(b)) >= 300, timeout=60, what="events flowing")
            assert cluster.leaders(topic) == dict.fromkeys(range(PARTITIONS), leader)
            applied_before = len(effects(b))
            killed_at = time.monotonic()
            cluster.ctl("kill", str(leader))
            # Two nodes of three: still a quorum and an in-sync set of two, so the
            # service goes on publishing and the consumer on applying.
            wait_until(
                lambda: len(effects(b)) >= applied_before + 600,
                timeout=60,
                what="events applied with the leader dead",
            )
            down_for = time.monotonic() - killed_at
            cluster.ctl("start", str(leader))
            time.sleep(3)
        wait_until(
            lambda: (
                relay.backlog() == 0
                and len({r.event_id for r in effects(b)}) >= len(writer.written)
            ),
            timeout=90,
            what=f"all {len(writer.written)} events published and applied",
            interval=0.5,
        )
        time.sleep(1.0)  # a stray redelivery lands now, so a second effect would show
    watch.stop()
    load_seconds = time.monotonic() - started

    acknowledged = sent_ids(a)
    result = account(
        written=writer.written,
        acknowledged=acknowledged,
        on_topic=read_event_ids(cluster.bootstrap, topic),
        applied=[r.event_id for r in effects(b)],
    )
    assert result.ok, result.problems()
    assert result.acknowledged == result.written, "every event written was published in the end"
    # The outbox marks a row sent only on the broker's acknowledgement.
    assert set(acknowledged) <= producer.acknowledged
    by_account: dict[str, list[int]] = defaultdict(list)
    for row in effects(b):
        by_account[row.account].append(row.seq)
    assert all(seqs == list(range(1, writer.rounds + 1)) for seqs in by_account.values()), (
        "each account's events applied in the order written"
    )
    moved = watch.changes()
    assert moved >= PARTITIONS, f"the killed leader's {PARTITIONS} partitions moved ({moved})"
    leaderless = watch.without_leader(leader, killed_at)
    dlq_producer.close()
    producer.close()

    print(
        f"\nthree brokers, node {leader} (leader of {PARTITIONS} partitions) killed with "
        f"SIGKILL under load and started {down_for:.1f}s later; {load_seconds:.0f}s of load:"
        f"\n  {result.figures()}"
        f"\n  leader changes {moved}, time without a leader {leaderless:.1f}s, "
        f"sends failed and retried {producer.failed}, outbox rows retried {retried(a)}"
    )


@pytest.mark.kafka
@pytest.mark.cluster
@pytest.mark.timeout(180)
def test_with_acks_1_a_leader_that_acknowledged_alone_and_died_takes_the_writes_with_it(
    cluster: Cluster,
    pipeline: tuple[Database, Database],
) -> None:
    """What the accounting finds in a cluster configured as so many are (acks=1,
    min.insync.replicas 1): the followers hang (SIGSTOP) while the leader acknowledges
    writes alone, then the leader is killed and the followers wake. One of them, in sync
    as far as the controllers could record, becomes leader without those writes, and the
    old leader, started again, drops them to follow it. The relay was told they were
    acknowledged; they are on no broker, and nobody applied them. (acks=all would have
    acknowledged nothing until two brokers had it: the test above.)"""
    a, b = pipeline
    leader = 3
    followers = [n for n in NODES if n != leader]
    topic = cluster_topic(cluster, leader=leader, min_insync=1)
    settings = settings_for(cluster, kafka_request_timeout_ms=2000)
    producer = RecordingProducer(
        create_producer(settings, "cluster-relay", acks=1, enable_idempotence=False)
    )
    relay = OutboxRelay(a, intake_outbox, producer, lanes=4, send_timeout=10)
    writer = Writer(a, topic)
    writer.round()
    assert relay.publish_pending() == len(writer.accounts)  # the relay knows the leader
    first = set(writer.written)
    # A reader sees a record only once every in-sync replica has fetched it (the high
    # watermark): from then on the followers hold the first round.
    wait_until(
        lambda: first <= set(read_event_ids(cluster.bootstrap, topic)),
        timeout=30,
        what="the followers holding the first round",
        interval=0.2,
    )
    for node in followers:
        cluster.ctl("pause", str(node))
    try:
        for _ in range(20):
            writer.round()
        relay.publish_pending()
        cluster.ctl("kill", str(leader))
    finally:
        for node in followers:
            cluster.ctl("resume", str(node))
    producer.close()
    assert relay.backlog() == 0, "the leader alone acknowledged every write"
    wait_until(
        lambda: set(cluster.leaders(topic).values()) <= set(followers),
        timeout=60,
        what="a follower leading each partition",
        interval=0.5,
    )
    cluster.ctl("start", str(leader))
    wait_until(
        lambda: all(leader in isr for _, isr in cluster.partitions(topic).values()),
        timeout=60,
        what=f"node {leader} back in sync",
        interval=0.5,
    )
    on_topic = read_event_ids(cluster.bootstrap, topic)
    dlq_producer = create_producer(settings, "cluster-dlq")
    consumer = make_consumer(
        db=b,
        topic=topic,
        group=f"ledger-{uuid.uuid4().hex[:8]}",
        settings=settings,
        producer=dlq_producer,
    )
    consume_until(consumer, handled=len(set(on_topic)), timeout=60, what="the topic applied")
    dlq_producer.close()
    result = account(
        written=writer.written,
        acknowledged=sent_ids(a),
        on_topic=on_topic,
        applied=[r.event_id for r in effects(b)],
    )

    assert result.acknowledged == result.written
    assert not result.ok
    assert result.lost, result.problems()
    assert result.lost <= result.not_applied
    # The first round went out before the followers hung: those two brokers have it.
    assert not result.lost & first
    print(f"\nacks=1, min.insync.replicas=1: {result.figures()}; found: {result.problems()}")


# -- the accounting, on records made up to be wrong ---------------------------------------


def test_the_accounting_finds_an_acknowledged_event_missing_from_the_topic() -> None:
    result = account(
        written=["e1", "e2", "e3"],
        acknowledged=["e1", "e2", "e3"],
        on_topic=["e1", "e3"],
        applied=["e1", "e3"],
    )
    assert not result.ok
    assert result.lost == {"e2"} and result.not_applied == {"e2"}
    assert "1 acknowledged but not on the topic" in result.problems()


def test_the_accounting_finds_an_event_applied_twice() -> None:
    result = account(
        written=["e1", "e2"],
        acknowledged=["e1", "e2"],
        on_topic=["e1", "e2", "e2"],
        applied=["e1", "e2", "e2"],
    )
    assert not result.ok
    assert result.applied_twice == {"e2": 2} and result.duplicates == 1
    assert not result.lost


def test_the_accounting_finds_an_event_on_the_topic_that_was_acknowledged_but_never_applied() -> (
    None
):
    result = account(
        written=["e1", "e2"], acknowledged=["e1", "e2"], on_topic=["e1", "e2"], applied=["e1"]
    )
    assert not result.ok and result.not_applied == {"e2"} and not result.lost


def test_the_accounting_finds_what_nobody_wrote() -> None:
    result = account(written=["e1"], acknowledged=["e1"], on_topic=["e1", "x"], applied=["e1"])
    assert not result.ok and result.unknown == {"x"}


def test_the_accounting_passes_a_record_sent_twice_and_applied_once() -> None:
    """The outbox may publish a row twice (a relay dies before marking it): the inbox
    makes that one effect, which is all the accounting asks."""
    result: Accounting = account(
        written=["e1", "e2", "e3"],
        acknowledged=["e1", "e2"],  # e3 not acknowledged: losing it is allowed
        on_topic=["e1", "e2", "e2"],
        applied=["e1", "e2"],
    )
    assert result.ok, result.problems()
    assert (result.on_topic, result.records, result.duplicates) == (2, 3, 0)


# -- how the topics are replicated ---------------------------------------------------------


def test_topics_for_a_cluster_of_three_keep_three_copies_and_acknowledge_on_two(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TOPIC_REPLICATION_FACTOR", "3")
    monkeypatch.delenv("TOPIC_MIN_INSYNC_REPLICAS", raising=False)
    specs = topic_specs()
    assert {s.replicas for s in specs} == {3}
    assert {s.config["min.insync.replicas"] for s in specs} == {"2"}
    assert all(s.config["retention.ms"] == "-1" for s in specs)


def test_topics_for_one_broker_have_one_copy_and_no_in_sync_minimum(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TOPIC_REPLICATION_FACTOR", raising=False)
    specs = topic_specs()
    assert {s.replicas for s in specs} == {1}
    assert not any("min.insync.replicas" in s.config for s in specs)
    monkeypatch.setenv("TOPIC_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("TOPIC_MIN_INSYNC_REPLICAS", "4")
    with pytest.raises(ValueError, match="TOPIC_MIN_INSYNC_REPLICAS=4"):
        topic_specs()
