"""Topic names, who writes and reads each, and how each topic is created.

    python -m shared.topics ensure           create the missing topics (scripts/kafka.sh does)
    python -m shared.topics list
    python -m shared.topics leaders [TOPIC...]
                                             each partition's leader and in-sync replicas
    python -m shared.topics users acls --secrets DIR
                                             on a broker with ACLs: give each service its
                                             SCRAM principal and exactly the ACLs the
                                             tables below imply
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
import secrets
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.settings import Settings

# One topic per producing service: the broker's ACLs then decide who may write which
# events (a topic has one writer), and a consumer knows an event's author by its topic.
INTAKE_EVENTS = "intake.events"
COMPLAINTS_LIFECYCLE = "complaints.lifecycle"
SMS_EVENTS = "sms.events"
ANALYTICS_EVENTS = "analytics.events"
DLQ_SUFFIX = ".dlq"

# The one service that may write each topic (its Kafka principal has the same name),
# and its .dlq.
TOPIC_OWNERS: dict[str, str] = {
    INTAKE_EVENTS: "intake",
    COMPLAINTS_LIFECYCLE: "escalation",
    SMS_EVENTS: "notify",
    ANALYTICS_EVENTS: "analytics",
}

# The services that consume each topic: their workers subscribe to it, and their
# principals may read it and write its .dlq (a consumer dead-letters there). Notify
# reads analytics.events for its hot-issue alerts and passes over the rest.
TOPIC_READERS: dict[str, tuple[str, ...]] = {
    INTAKE_EVENTS: ("escalation", "notify", "analytics"),
    COMPLAINTS_LIFECYCLE: ("intake", "notify", "analytics"),
    SMS_EVENTS: ("escalation", "intake"),
    ANALYTICS_EVENTS: ("analytics", "notify"),
}

# The SCRAM principal of the tools that manage a secured broker (topics, users, ACLs):
# a super user there, like the broker itself.
ADMIN_PRINCIPAL = "admin"

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
    replicas: int = 1


def replication() -> tuple[int, dict[str, str]]:
    """The topics' replication factor (TOPIC_REPLICATION_FACTOR, 1: one broker) and the
    config that goes with it: with several replicas, min.insync.replicas
    (TOPIC_MIN_INSYNC_REPLICAS, one fewer than the replicas), so that a write the
    producers' acks=all has acknowledged is on that many brokers and outlives a leader's
    loss, and the loss of one broker does not stop writes."""
    replicas = int(os.environ.get("TOPIC_REPLICATION_FACTOR", "1"))
    if replicas < 1:
        raise ValueError(f"TOPIC_REPLICATION_FACTOR={replicas}: a topic needs a replica")
    if replicas == 1:
        return 1, {}
    insync = int(os.environ.get("TOPIC_MIN_INSYNC_REPLICAS", str(replicas - 1)))
    if not 1 <= insync <= replicas:
        raise ValueError(f"TOPIC_MIN_INSYNC_REPLICAS={insync}: between 1 and {replicas}")
    return replicas, {"min.insync.replicas": str(insync)}


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
    replicas, insync = replication()
    config = {**_FOREVER, **insync}
    specs = [TopicSpec(name, n, config, replicas) for name, n in partitions.items()]
    return specs + [TopicSpec(dlq(name), 1, config, replicas) for name in partitions]


def ensure_topics(kafka: str | Settings, specs: list[TopicSpec] | None = None) -> list[str]:
    """Create the topics that do not exist yet; return the names created. `kafka` is the
    broker's address (the other Kafka settings from the environment) or the settings."""
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    specs = specs if specs is not None else topic_specs()
    admin = _admin(kafka)
    try:
        existing = set(admin.list_topics())
        new = [
            NewTopic(s.name, s.partitions, s.replicas, topic_configs=dict(s.config))
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


@dataclass(frozen=True)
class PartitionState:
    """Who leads a partition (-1: nobody) and which replicas are in sync with it."""

    topic: str
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


def leaders(
    kafka: str | Settings, topics: Sequence[str] | None = None, *, attempts: int = 10
) -> list[PartitionState]:
    """Each partition of `topics` (default: every topic but the broker's own), as the
    cluster's metadata has it now. Asked when a node is down, the client may ask that
    one first: it is asked again, of another."""
    from kafka.errors import KafkaError

    last: Exception | None = None
    for _ in range(attempts):
        admin = _admin(kafka)
        try:
            names = (
                list(topics)
                if topics
                else sorted(t for t in admin.list_topics() if not t.startswith("__"))
            )
            return [
                PartitionState(
                    topic["name"],
                    p["partition_index"],
                    p["leader_id"],
                    tuple(p["replica_nodes"]),
                    tuple(p["isr_nodes"]),
                )
                for topic in admin.describe_topics(names)
                for p in sorted(topic["partitions"], key=lambda p: p["partition_index"])
            ]
        except KafkaError as exc:
            last = exc
            time.sleep(0.5)
        finally:
            admin.close()
    raise RuntimeError(f"no broker said who leads {', '.join(topics or ['the topics'])}: {last}")


# -- who may do what on a broker with ACLs -------------------------------------------


@dataclass(frozen=True, order=True)
class Grant:
    """One ACL: `principal` is allowed `operation` on a resource, from any host."""

    principal: str
    resource: str  # TOPIC, GROUP or CLUSTER
    name: str
    operation: str  # as Kafka names it: READ, WRITE, IDEMPOTENT_WRITE, ...
    prefixed: bool = False  # the name is a prefix (PREFIXED), not the whole name

    def __str__(self) -> str:
        pattern = "PREFIXED" if self.prefixed else "LITERAL"
        return f"{self.principal} {self.operation} {self.resource}:{pattern}:{self.name}"


def principals() -> list[str]:
    """The services that sign in to a secured broker, each as itself."""
    readers = {service for services in TOPIC_READERS.values() for service in services}
    return sorted(set(TOPIC_OWNERS.values()) | readers)


def grants() -> list[Grant]:
    """Every service's ACLs, from TOPIC_OWNERS and TOPIC_READERS: Write on the topics it
    owns and on their .dlq (notify keeps an SMS that failed for good on sms.events.dlq);
    Read on those it consumes, and Write on their .dlq; Read on its consumer groups
    (named after the service, so a prefix); on the cluster, IdempotentWrite for its
    idempotent producer and Describe for the APIs' readiness check. Read and Write imply
    Describe, which producers, consumers and the lag figures need on topics and groups."""
    made: set[Grant] = set()
    for service in principals():
        user = f"User:{service}"
        made.add(Grant(user, "CLUSTER", "kafka-cluster", "IDEMPOTENT_WRITE"))
        made.add(Grant(user, "CLUSTER", "kafka-cluster", "DESCRIBE"))
        made.add(Grant(user, "GROUP", service, "READ", prefixed=True))
        # Every consumer reads where an older installation's topics were split.
        made.add(Grant(user, "TOPIC", CUTOVER, "READ"))
        for topic, owner in TOPIC_OWNERS.items():
            if owner == service:
                made.add(Grant(user, "TOPIC", topic, "WRITE"))
                made.add(Grant(user, "TOPIC", dlq(topic), "WRITE"))
        for topic, readers in TOPIC_READERS.items():
            if service in readers:
                made.add(Grant(user, "TOPIC", topic, "READ"))
                made.add(Grant(user, "TOPIC", dlq(topic), "WRITE"))
    return sorted(made)


def apply_grants(
    kafka: str | Settings, wanted: Sequence[Grant] | None = None
) -> tuple[list[Grant], list[Grant]]:
    """Make the ACLs of the principals in `wanted` (default: `grants()`) exactly those:
    create what is missing, delete what they were allowed and no longer are. Returns
    (created, deleted); running it again changes nothing."""
    from kafka.admin import (
        ACLFilter,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePatternFilter,
        ResourceType,
    )

    wanted = list(wanted) if wanted is not None else grants()
    admin = _admin(kafka)
    try:
        present: set[Grant] = set()
        for principal in sorted({g.principal for g in wanted}):
            every = ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY)
            acls, _ = admin.describe_acls(
                ACLFilter(principal, "*", ACLOperation.ANY, ACLPermissionType.ALLOW, every)
            )
            present |= {_grant(acl) for acl in acls}
        created = sorted(set(wanted) - present)
        deleted = sorted(present - set(wanted))
        if created:
            failed = admin.create_acls([_acl(g) for g in created])["failed"]
            if failed:
                raise RuntimeError(f"creating ACLs failed: {failed}")
        if deleted:
            admin.delete_acls([_acl(g) for g in deleted])
        return created, deleted
    finally:
        admin.close()


def _acl(grant: Grant) -> Any:
    from kafka.admin import (
        ACL,
        ACLOperation,
        ACLPermissionType,
        ACLResourcePatternType,
        ResourcePattern,
        ResourceType,
    )

    pattern = ACLResourcePatternType.PREFIXED if grant.prefixed else ACLResourcePatternType.LITERAL
    return ACL(
        principal=grant.principal,
        host="*",
        operation=ACLOperation[grant.operation],
        permission_type=ACLPermissionType.ALLOW,
        resource_pattern=ResourcePattern(ResourceType[grant.resource], grant.name, pattern),
    )


def _grant(acl: Any) -> Grant:
    from kafka.admin import ACLResourcePatternType

    pattern = acl.resource_pattern
    return Grant(
        acl.principal,
        pattern.resource_type.name,
        pattern.resource_name,
        acl.operation.name,
        prefixed=pattern.pattern_type == ACLResourcePatternType.PREFIXED,
    )


def ensure_users(
    kafka: str | Settings, secrets_dir: Path, names: Sequence[str] | None = None
) -> list[str]:
    """Give each principal (default: the services and ADMIN_PRINCIPAL) its SCRAM-SHA-512
    credential on the broker, with the password of `<secrets_dir>/<name>.password`, made
    the first time. Returns the names."""
    from kafka.admin import ScramMechanism, UserScramCredentialUpsertion

    names = list(names) if names is not None else [*principals(), ADMIN_PRINCIPAL]
    upserts = [
        UserScramCredentialUpsertion(
            name, ScramMechanism.SCRAM_SHA_512, password_of(secrets_dir, name)
        )
        for name in names
    ]
    admin = _admin(kafka)
    try:
        refused = {
            user: error
            for user, error in admin.alter_user_scram_credentials(upserts).items()
            if error
        }
    finally:
        admin.close()
    if refused:
        raise RuntimeError(f"SCRAM credentials refused: {refused}")
    return names


def password_of(secrets_dir: Path, name: str) -> str:
    """The principal's password, from its file (readable by its owner only), made once."""
    path = secrets_dir / f"{name}.password"
    if not path.exists():
        secrets_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # a second start may make it first
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(32))
    return path.read_text().strip()


def _admin(kafka: str | Settings, attempts: int = 30) -> Any:
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaError

    from shared.kafka import client_config
    from shared.settings import Settings

    settings = Settings(kafka_bootstrap_servers=kafka) if isinstance(kafka, str) else kafka
    config = client_config(settings)
    last: Exception | None = None
    for _ in range(attempts):
        try:
            return KafkaAdminClient(**config, client_id="topics-admin")
        except KafkaError as exc:  # broker still starting
            last = exc
            time.sleep(1)
    raise RuntimeError(f"Kafka at {settings.kafka_bootstrap_servers} not reachable: {last}")


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


def _settings(kafka: str | Settings) -> Settings:
    from shared.settings import Settings

    return Settings(kafka_bootstrap_servers=kafka) if isinstance(kafka, str) else kafka


def _reader(kafka: str | Settings) -> Any:
    from kafka import KafkaConsumer

    from shared.kafka import client_config

    return KafkaConsumer(
        **client_config(_settings(kafka)),
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


def read_cutovers(kafka: str | Settings, *, topic: str = CUTOVER) -> dict[str, Cutover]:
    """The split recorded for each topic (the latest record per topic); none on an
    installation that never had events on another service's topic."""
    consumer = _reader(kafka)
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
    kafka: str | Settings,
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

    names = dict(topics or {})
    physical = names.get(source, source)
    done = read_cutovers(kafka, topic=cutover_topic).get(physical)
    if done is not None:
        return Migration(done, already=True)
    moved = {
        name: registry.get(name).topic
        for name in registry.names()
        if registry.get(name).topic in SPLIT_OFF.get(source, ())
    }
    destinations = sorted({names.get(t, t) for t in moved.values()})
    ensure_topics(kafka, [TopicSpec(cutover_topic, 1, _FOREVER)])
    reader = _reader(kafka)
    producer = create_producer(_settings(kafka), "topics-migrate")
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
    from shared.settings import Settings

    parser = argparse.ArgumentParser(prog="python -m shared.topics")
    parser.add_argument(
        "commands",
        nargs="+",
        choices=["ensure", "list", "leaders", "users", "acls", "migrate-owners"],
        metavar="{ensure,list,leaders,users,acls,migrate-owners}",
        help="create missing topics; list them; say who leads each partition (of the "
        "topics given with --topic, or all); give the principals their SCRAM "
        "credentials; make their ACLs those of TOPIC_OWNERS and TOPIC_READERS; split an "
        "older installation's complaints.lifecycle by owner (once)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="migrate-owners: record the split even though the new topics hold events",
    )
    parser.add_argument("--bootstrap", help="default KAFKA_BOOTSTRAP_SERVERS")
    parser.add_argument("--topic", action="append", default=[], help="leaders: this topic")
    parser.add_argument(
        "--secrets",
        type=Path,
        default=os.environ.get("KAFKA_SECRETS"),
        help="where the principals' passwords are kept (users)",
    )
    args = parser.parse_args(argv)
    # The connection (and its security) comes from the KAFKA_* settings.
    settings = Settings()
    if args.bootstrap:
        settings = settings.model_copy(update={"kafka_bootstrap_servers": args.bootstrap})
    where = settings.kafka_bootstrap_servers
    for command in args.commands:
        if command == "ensure":
            created = ensure_topics(settings)
            names = ", ".join(created) if created else "none (all present)"
            print(f"topics created on {where}: {names}", file=sys.stderr)
        elif command == "list":
            admin = _admin(settings)
            try:
                for name in sorted(admin.list_topics()):
                    print(name)
            finally:
                admin.close()
        elif command == "leaders":
            for state in leaders(settings, args.topic):
                leader = state.leader if state.leader >= 0 else "none"
                isr = ",".join(map(str, state.isr))
                print(f"{state.topic} {state.partition} leader {leader} in-sync {isr}")
        elif command == "migrate-owners":
            ensure_topics(settings)
            try:
                done = migrate_owners(settings, force=args.force)
            except MigrationRefused as exc:
                print(f"nothing migrated: {exc}", file=sys.stderr)
                return 2
            c = done.cutover
            offsets = ", ".join(f"{p}:{o}" for p, o in sorted(c.offsets.items()))
            if done.already:
                print(f"{c.topic} was split at {c.at} (offsets {offsets}); nothing to do")
            else:
                copies = ", ".join(f"{n} to {t}" for t, n in sorted(done.copied.items()))
                print(f"{c.topic} split at offsets {offsets}; events copied: {copies or 'none'}")
        elif command == "users":
            if args.secrets is None:
                parser.error("users needs --secrets (or KAFKA_SECRETS)")
            users = ensure_users(settings, args.secrets)
            print(f"SCRAM-SHA-512 users on {where}: {', '.join(users)}", file=sys.stderr)
        else:
            made, removed = apply_grants(settings)
            for grant in made:
                print(f"ACL created: {grant}", file=sys.stderr)
            for grant in removed:
                print(f"ACL deleted: {grant}", file=sys.stderr)
            print(
                f"ACLs on {where}: {len(grants())} for {', '.join(principals())}, "
                f"{len(made)} created, {len(removed)} deleted",
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
