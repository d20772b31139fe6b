"""Topic names, who writes each, and how each topic is created.

    python -m shared.topics ensure           create the missing topics (scripts/kafka.sh does)
    python -m shared.topics list
    python -m shared.topics migrate-owners   once, when upgrading an installation whose
                                             intake and analytics events are on
                                             complaints.lifecycle (see `migrate_owners`)

Every event type goes on the topic of the service that publishes it (shared/contracts.py),
and a consumer takes an event only from its owner's topic (shared/consumer.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# One topic per producing service: the broker's ACLs then decide who may write which
# events (a topic has one writer), and a consumer knows an event's author by its topic.
INTAKE_EVENTS = "intake.events"
COMPLAINTS_LIFECYCLE = "complaints.lifecycle"
SMS_EVENTS = "sms.events"
ANALYTICS_EVENTS = "analytics.events"
DLQ_SUFFIX = ".dlq"

# The one service that may write each topic (its Kafka principal has the same name).
TOPIC_OWNERS: dict[str, str] = {
    INTAKE_EVENTS: "intake",
    COMPLAINTS_LIFECYCLE: "escalation",
    SMS_EVENTS: "notify",
    ANALYTICS_EVENTS: "analytics",
}


# Where `migrate-owners` records how far a topic held other services' events (one record
# per topic it split). Only an installation that had them has it.
CUTOVER = "topics.cutover"
# Set on each copy `migrate-owners` makes, naming the record it copies.
COPIED_FROM = "copied_from"
# Before the topics were split by owner, complaints.lifecycle also carried the events
# that now have these topics of their own.
SPLIT_OFF: dict[str, tuple[str, ...]] = {COMPLAINTS_LIFECYCLE: (INTAKE_EVENTS, ANALYTICS_EVENTS)}


def dlq(topic: str) -> str:
    return topic + DLQ_SUFFIX


# Events are the system of record for analytics, which rebuilds from offset zero:
# keep them until an operator decides otherwise.
_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


def topic_specs() -> list[TopicSpec]:
    lifecycle = int(os.environ.get("LIFECYCLE_PARTITIONS", "6"))
    sms = int(os.environ.get("SMS_PARTITIONS", "3"))
    # Intake's events are keyed by complaint like the lifecycle's: the same count keeps
    # one complaint on the same partition number in both.
    partitions = {
        INTAKE_EVENTS: lifecycle,
        COMPLAINTS_LIFECYCLE: lifecycle,
        SMS_EVENTS: sms,
        ANALYTICS_EVENTS: int(os.environ.get("ANALYTICS_PARTITIONS", "1")),
    }
    specs = [TopicSpec(name, n, _FOREVER) for name, n in partitions.items()]
    return specs + [TopicSpec(dlq(name), 1, _FOREVER) for name in partitions]


def ensure_topics(bootstrap: str, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create the topics that do not exist yet; return the names created."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    specs = specs if specs is not None else topic_specs()
    admin = _admin(bootstrap)
    try:
        existing = set(admin.list_topics())
        new = [
            NewTopic(s.name, s.partitions, 1, topic_configs=dict(s.config))
            for s in specs
            if s.name not in existing
        ]
        if new:
            # another process may win the race; the topic is there, which is all we need
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new, timeout_ms=30_000)
        return [t.name for t in new]
    finally:
        admin.close()


def _admin(bootstrap: str, attempts: int = 30) -> Any:
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    last: Exception | None = None
    for _ in range(attempts):
        try:
            return KafkaAdminClient(bootstrap_servers=bootstrap, client_id="topics-admin")
        except KafkaError as exc:  # broker still starting
            last = exc
            time.sleep(1)
    raise RuntimeError(f"Kafka at {bootstrap} not reachable: {last}")


# -- the split by owner ------------------------------------------------------------------


@dataclass(frozen=True)
class Cutover:
    """Where a topic stopped carrying events that moved to their owner's topic.

    Below `offsets[partition]` the topic holds what was written before the split; the
    records there of a `moved` type were copied to their new topic and are read there.
    Anything of such a type at or past the offset was written since, by someone who does
    not own the type: a consumer refuses it.
    """

    topic: str
    offsets: Mapping[int, int]
    moved: frozenset[str]
    copied: int = 0
    at: str = ""

    def left_behind(self, partition: int, offset: int, event_type: str) -> bool:
        """Whether this record is one the split copied elsewhere."""
        return event_type in self.moved and offset < self.offsets.get(partition, 0)

    def encode(self) -> bytes:
        return json.dumps(
            {
                "topic": self.topic,
                "offsets": {str(p): o for p, o in sorted(self.offsets.items())},
                "moved": sorted(self.moved),
                "copied": self.copied,
                "at": self.at,
            }
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Cutover:
        data = json.loads(raw)
        return cls(
            topic=data["topic"],
            offsets={int(p): int(o) for p, o in data["offsets"].items()},
            moved=frozenset(data["moved"]),
            copied=int(data.get("copied", 0)),
            at=str(data.get("at", "")),
        )


def _reader(bootstrap: str) -> Any:
    from kafka import KafkaConsumer

    return KafkaConsumer(
        bootstrap_servers=bootstrap.split(","),
        group_id=None,
        client_id="topics-reader",
        enable_auto_commit=False,
        allow_auto_create_topics=False,
    )


def _read_all(
    consumer: Any, topic: str, *, ends: Mapping[Any, int] | None = None, timeout: float = 60
) -> Any:
    """Every record of `topic` from its first offset up to `ends` (its end now), in each
    partition's order; a generator of records."""
    from kafka import TopicPartition

    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        return
    parts = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    ends = dict(ends) if ends is not None else consumer.end_offsets(parts)
    waiting = {tp for tp in parts if consumer.position(tp) < ends[tp]}
    deadline = time.monotonic() + timeout
    while waiting:
        if time.monotonic() > deadline:
            raise RuntimeError(f"could not read {topic} to its end within {timeout:.0f}s")
        for tp, records in consumer.poll(timeout_ms=500).items():
            for record in records:
                if record.offset < ends[tp]:
                    yield record
                    deadline = time.monotonic() + timeout
        waiting = {tp for tp in waiting if consumer.position(tp) < ends[tp]}


def read_cutovers(bootstrap: str, *, topic: str = CUTOVER) -> dict[str, Cutover]:
    """The split recorded for each topic (the latest record per topic); none on an
    installation that never had events on another service's topic."""
    consumer = _reader(bootstrap)
    try:
        found: dict[str, Cutover] = {}
        for record in _read_all(consumer, topic):
            cutover = Cutover.decode(record.value)
            found[cutover.topic] = cutover
        return found
    finally:
        consumer.close()


@dataclass
class Migration:
    cutover: Cutover
    copied: dict[str, int] = field(default_factory=dict)  # per destination topic
    already: bool = False  # recorded by an earlier run: nothing done


class MigrationRefused(RuntimeError):
    pass


def migrate_owners(
    bootstrap: str,
    *,
    source: str = COMPLAINTS_LIFECYCLE,
    topics: Mapping[str, str] | None = None,
    cutover_topic: str = CUTOVER,
    force: bool = False,
) -> Migration:
    """Copy the events on `source` that now belong on another topic (intake's and
    analytics' on complaints.lifecycle, from before the topics were split by owner) to
    that topic, with the same key, value and headers, then record where `source` was
    split (`Cutover`). Consumers read the copies on their new topic (the inbox turns away
    an event id seen before) and pass over the originals below the recorded offsets
    without dead-lettering them; everything of those types written to `source` later is
    refused. Run it once, with every worker of the old version stopped and before the new
    version starts: a second run finds the record and does nothing.

    `topics` maps the platform's topic names to the ones used (tests run on topics of
    their own); `source` is the platform's name.
    """
    from kafka import TopicPartition

    import shared.contracts  # noqa: F401 - registers the event types
    from shared.events import registry
    from shared.kafka import create_producer
    from shared.settings import Settings

    names = dict(topics or {})
    physical = names.get(source, source)
    done = read_cutovers(bootstrap, topic=cutover_topic).get(physical)
    if done is not None:
        return Migration(done, already=True)
    moved = {
        name: registry.get(name).topic
        for name in registry.names()
        if registry.get(name).topic in SPLIT_OFF.get(source, ())
    }
    destinations = sorted({names.get(t, t) for t in moved.values()})
    ensure_topics(bootstrap, [TopicSpec(cutover_topic, 1, _FOREVER)])
    reader = _reader(bootstrap)
    producer = create_producer(Settings(kafka_bootstrap_servers=bootstrap), "topics-migrate")
    try:
        if not force:
            _refuse_if_written(reader, destinations)
        parts = [
            TopicPartition(physical, p) for p in sorted(reader.partitions_for_topic(physical) or [])
        ]
        if not parts:
            raise MigrationRefused(f"topic {physical} does not exist")
        ends = reader.end_offsets(parts)
        copied: dict[str, int] = {}
        sent = []
        for record in _read_all(reader, physical, ends=ends):
            name = _event_type(record)
            if name not in moved:
                continue
            to = names.get(moved[name], moved[name])
            where = f"{record.topic}[{record.partition}]@{record.offset}".encode()
            sent.append(
                producer.send(
                    to,
                    key=record.key,
                    value=record.value,
                    headers=[*(record.headers or []), (COPIED_FROM, where)],
                )
            )
            copied[to] = copied.get(to, 0) + 1
        producer.flush(timeout=60)
        for future in sent:
            future.get(timeout=60)  # raises what the broker answered to a copy it refused
        cutover = Cutover(
            topic=physical,
            offsets={tp.partition: ends[tp] for tp in parts},
            moved=frozenset(name for name in moved),
            copied=sum(copied.values()),
            at=datetime.now(UTC).isoformat(),
        )
        # Recorded only once every copy is acknowledged: a run that dies before this
        # point is simply run again (the copies it made twice are one event id each).
        producer.send(cutover_topic, key=physical.encode(), value=cutover.encode()).get(timeout=60)
        return Migration(cutover, copied)
    finally:
        producer.close(timeout=10)
        reader.close()


def _event_type(record: Any) -> str | None:
    for key, value in record.headers or ():
        if key == "event_type":
            return bytes(value).decode("utf-8", "replace")
    try:
        data = json.loads(record.value)
    except (TypeError, ValueError):
        return None
    found = data.get("type") if isinstance(data, dict) else None
    return found if isinstance(found, str) else None


def _refuse_if_written(reader: Any, destinations: list[str]) -> None:
    """Refuse when a destination already holds events that are not copies: the new
    version has been writing, so "everything on the old topic until now" is no longer
    the old version's history, and the split must not vouch for it."""
    for topic in destinations:
        for record in _read_all(reader, topic):
            if not any(key == COPIED_FROM for key, _ in record.headers or ()):
                raise MigrationRefused(
                    f"{topic} already holds events written by its owner "
                    f"({topic}[{record.partition}]@{record.offset}): the new version ran "
                    "before the split was recorded. Stop its workers and run again with "
                    "--force to take what is on the old topic now as the old version's"
                )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.topics")
    parser.add_argument("command", choices=["ensure", "list", "migrate-owners"])
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="migrate-owners: record the split even though the new topics hold events",
    )
    args = parser.parse_args(argv)
    if args.command == "ensure":
        created = ensure_topics(args.bootstrap)
        names = ", ".join(created) if created else "none (all present)"
        print(f"topics created on {args.bootstrap}: {names}", file=sys.stderr)
    elif args.command == "migrate-owners":
        ensure_topics(args.bootstrap)
        try:
            done = migrate_owners(args.bootstrap, force=args.force)
        except MigrationRefused as exc:
            print(f"nothing migrated: {exc}", file=sys.stderr)
            return 2
        c = done.cutover
        offsets = ", ".join(f"{p}:{o}" for p, o in sorted(c.offsets.items()))
        if done.already:
            print(f"{c.topic} was split at {c.at} (offsets {offsets}); nothing to do")
        else:
            copies = ", ".join(f"{n} to {t}" for t, n in sorted(done.copied.items())) or "none"
            print(f"{c.topic} split at offsets {offsets}; events copied: {copies}")
    else:
        admin = _admin(args.bootstrap)
        try:
            for name in sorted(admin.list_topics()):
                print(name)
        finally:
            admin.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
