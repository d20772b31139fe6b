"""A three-broker Kafka cluster of a test's own (scripts/kafka-cluster.sh), what its
partitions' leaders do while a test kills them, and the accounting of what was
acknowledged against what arrived."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.infra import ROOT

SCRIPT = ROOT / "scripts" / "kafka-cluster.sh"


class Cluster:
    """The nodes of a cluster started, killed and asked about through the script."""

    def __init__(self, directory: Path, port: int | None = None, brokers: int = 3) -> None:
        self.env = {
            **os.environ,
            "STACK": os.environ.get("TEST_STACK", "test"),
            "KAFKA_CLUSTER_DIR": str(directory),
            "KAFKA_BROKERS": str(brokers),
        }
        if port is not None:
            self.env["KAFKA_CLUSTER_PORT"] = str(port)
        self.brokers = brokers
        self.bootstrap = self.ctl("bootstrap").strip()

    def ctl(self, *args: str, timeout: float = 180) -> str:
        done = subprocess.run(
            [str(SCRIPT), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode != 0:
            raise RuntimeError(f"kafka-cluster.sh {' '.join(args)}: {done.stderr}{done.stdout}")
        return done.stdout

    def partitions(self, topic: str) -> dict[int, tuple[int, set[int]]]:
        """Partition -> (leader node or -1, in-sync nodes), as `kafka-cluster.sh leader`
        tells it."""
        found = {}
        for line in self.ctl("leader", topic).splitlines():
            name, partition, _, leader, _, *isr = line.split()
            if name == topic:
                nodes = {int(n) for n in isr[0].split(",")} if isr else set()
                found[int(partition)] = (int(leader) if leader != "none" else -1, nodes)
        return found

    def leaders(self, topic: str) -> dict[int, int]:
        return {p: leader for p, (leader, _) in self.partitions(topic).items()}


@dataclass
class LeaderWatch:
    """Polls who leads a topic's partitions, from the cluster's metadata, until stopped:
    how often leadership moved, and how long the partitions a killed node led went
    without a live leader."""

    bootstrap: str
    topic: str
    interval: float = 0.1
    # (monotonic time, partition -> leader) each time the metadata changed
    timeline: list[tuple[float, dict[int, int]]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> LeaderWatch:
        self._thread = threading.Thread(target=self._run, name="leader-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        from kafka.admin import KafkaAdminClient

        admin: Any = None
        while not self._stop.is_set():
            try:
                if admin is None:
                    admin = KafkaAdminClient(
                        bootstrap_servers=self.bootstrap,
                        client_id="leader-watch",
                        request_timeout_ms=2000,
                    )
                [described] = admin.describe_topics([self.topic])
                now = {p["partition_index"]: p["leader_id"] for p in described["partitions"]}
                if not self.timeline or self.timeline[-1][1] != now:
                    self.timeline.append((time.monotonic(), now))
            except Exception:
                # the node it asked was the one killed: ask another next time
                if admin is not None:
                    admin.close()
                admin = None
            self._stop.wait(self.interval)
        if admin is not None:
            admin.close()

    def changes(self) -> int:
        """Times a partition got another leader (none in between counts as none)."""
        moves = 0
        last: dict[int, int] = {}
        for _, leaders in self.timeline:
            for partition, leader in leaders.items():
                if leader >= 0 and last.get(partition, leader) != leader:
                    moves += 1
                if leader >= 0:
                    last[partition] = leader
        return moves

    def without_leader(self, killed: int, at: float) -> float:
        """Seconds from `at`, when node `killed` died, until every partition it led had
        a leader that lives; the watch's own interval is the resolution."""
        led = {p for p, leader in self.leaders_at(at).items() if leader == killed}
        for t, leaders in self.timeline:
            if t >= at and all(leaders.get(p, -1) not in (killed, -1) for p in led):
                return t - at
        raise AssertionError(f"partitions {sorted(led)} of {self.topic} never got a new leader")

    def leaders_at(self, at: float) -> dict[int, int]:
        before = [leaders for t, leaders in self.timeline if t <= at]
        if not before:
            raise AssertionError(f"no leaders of {self.topic} known before the kill")
        return before[-1]


class RecordingProducer:
    """The relay's producer, keeping the id of every event whose send the broker
    acknowledged (its callback): what the producing side was told, kept apart from the
    outbox's marks and from anything the consumer writes."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer
        self.acknowledged: set[str] = set()
        self.failed = 0
        self._lock = threading.Lock()

    def send(self, topic: str, **kwargs: Any) -> Any:
        event_id = str(json.loads(kwargs["value"])["event_id"])
        future = self.producer.send(topic, **kwargs)
        future.add_callback(lambda _: self._acked(event_id))
        future.add_errback(lambda _: self._failed())
        return future

    def _acked(self, event_id: str) -> None:
        with self._lock:
            self.acknowledged.add(event_id)

    def _failed(self) -> None:
        with self._lock:
            self.failed += 1

    def flush(self, timeout: float | None = None) -> None:
        self.producer.flush(timeout=timeout)

    def close(self, timeout: float | None = None) -> None:
        self.producer.close(timeout=timeout)


def read_event_ids(bootstrap: str, topic: str, *, timeout: float = 60) -> list[str]:
    """The event id of every record on `topic`, from its first offset to its end now."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        ids: list[str] = []
        deadline = time.monotonic() + timeout
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end within {timeout:.0f}s")
            for tp, records in consumer.poll(timeout_ms=500).items():
                ids += [json.loads(r.value)["event_id"] for r in records if r.offset < ends[tp]]
        return ids
    finally:
        consumer.close()


@dataclass(frozen=True)
class Accounting:
    """What was acknowledged to the producing side against what is on the topic and what
    the consumer applied. `ok` when every acknowledged event is on the topic and was
    applied exactly once, and nothing arrived that was never written."""

    written: int
    acknowledged: int
    on_topic: int  # distinct events; a record the relay sent twice counts once
    records: int
    applied: int  # distinct events with an effect
    effects: int
    lost: frozenset[str]  # acknowledged, not on the topic
    not_applied: frozenset[str]  # acknowledged, without an effect
    applied_twice: dict[str, int]  # event id -> effects, where more than one
    unknown: frozenset[str]  # on the topic or applied, never written

    @property
    def duplicates(self) -> int:
        return self.effects - self.applied

    @property
    def ok(self) -> bool:
        return not (self.lost or self.not_applied or self.applied_twice or self.unknown)

    def problems(self) -> str:
        found = [
            f"{len(self.lost)} acknowledged but not on the topic" if self.lost else "",
            f"{len(self.not_applied)} acknowledged but never applied" if self.not_applied else "",
            f"{len(self.applied_twice)} applied more than once ({self.duplicates} extra)"
            if self.applied_twice
            else "",
            f"{len(self.unknown)} never written" if self.unknown else "",
        ]
        return "; ".join(f for f in found if f) or "none"

    def figures(self) -> str:
        return (
            f"written {self.written}, acknowledged {self.acknowledged}, on the topic "
            f"{self.on_topic} ({self.records} records), applied {self.applied} "
            f"({self.effects} effects), duplicates {self.duplicates}, lost {len(self.lost)}"
        )


def account(
    *,
    written: Iterable[str],
    acknowledged: Iterable[str],
    on_topic: Iterable[str],
    applied: Iterable[str],
) -> Accounting:
    """`written`: every event the producing side wrote; `acknowledged`: those it was told
    the broker took; `on_topic`: the event id of each record on the topic; `applied`: the
    event id of each effect the consumer had (one per effect, so a doubled one twice)."""
    written_ids = set(written)
    acked = set(acknowledged)
    topic = list(on_topic)
    effects = Counter(applied)
    return Accounting(
        written=len(written_ids),
        acknowledged=len(acked),
        on_topic=len(set(topic)),
        records=len(topic),
        applied=len(effects),
        effects=sum(effects.values()),
        lost=frozenset(acked - set(topic)),
        not_applied=frozenset(acked - set(effects)),
        applied_twice={e: n for e, n in effects.items() if n > 1},
        unknown=frozenset((set(topic) | set(effects)) - written_ids),
    )
