"""Topic names and how each topic is created.

Run `python -m shared.topics ensure` (scripts/kafka.sh does) to create missing topics.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.topics")
    parser.add_argument("command", choices=["ensure", "list"])
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
    )
    args = parser.parse_args(argv)
    if args.command == "ensure":
        created = ensure_topics(args.bootstrap)
        names = ", ".join(created) if created else "none (all present)"
        print(f"topics created on {args.bootstrap}: {names}", file=sys.stderr)
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
