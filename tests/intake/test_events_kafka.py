"""Intake on the real broker: what it registers reaches `intake.events`, keyed by
complaint, and what the escalation service publishes comes back as the read copy."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from services.intake.db import inbox, outbox
from services.intake.handlers import handlers
from shared.consumer import EventConsumer
from shared.contracts import LIFECYCLE_TYPES, LifecycleChanged
from shared.events import SYSTEM, encode, kafka_headers, registry
from shared.kafka import create_producer
from shared.outbox import OutboxRelay
from shared.topics import COMPLAINTS_LIFECYCLE, INTAKE_EVENTS
from tests.intake.conftest import Intake
from tests.support.infra import consume_until, wait_until
from tests.support.topics import Topics

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


def _end_offsets(bootstrap: str, topic: str) -> tuple[KafkaConsumer, list[TopicPartition]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    consumer.assign(parts)
    consumer.seek_to_end(*parts)
    for tp in parts:
        consumer.position(tp)  # resolve now, before anything new is written
    return consumer, parts


def test_a_registered_complaint_reaches_intakes_topic_keyed_by_its_id(
    intake: Intake, kafka_bootstrap: str
) -> None:
    reader, _ = _end_offsets(kafka_bootstrap, INTAKE_EVENTS)
    first = intake.register().json()
    second = intake.register(category="network").json()
    producer = create_producer(intake.env.settings, "intake-test")
    try:
        relay = OutboxRelay(intake.env.db, outbox, producer, lanes=4)
        assert relay.publish_pending() == 2
    finally:
        producer.close()
    wanted = {first["id"], second["id"]}
    found: dict[str, Any] = {}
    try:

        def poll() -> bool:
            for batch in reader.poll(timeout_ms=500).values():
                for record in batch:
                    key = record.key.decode()
                    if key in wanted:
                        found[key] = record
            return set(found) == wanted

        wait_until(poll, timeout=30, what="both complaint.received events")
    finally:
        reader.close()
    record = found[second["id"]]
    event = registry.decode(record.value)
    assert event.type == "complaint.received"
    assert event.envelope.complaint_id == second["id"]
    assert event.payload.reference == second["reference"]
    assert event.payload.category == "network"
    assert event.payload.customer_phone == "+8613800138000"
    assert event.payload.open_complaints == 1 and event.payload.repeat is True
    assert dict(record.headers)["event_type"] == b"complaint.received"


def test_the_worker_keeps_the_read_copy_from_escalation_events_exactly_once(
    intake: Intake, kafka_bootstrap: str, platform_topics: Callable[..., Topics]
) -> None:
    c = intake.register().json()
    topics = platform_topics()
    topic = topics[COMPLAINTS_LIFECYCLE]
    producer = create_producer(intake.env.settings, "escalation-stand-in")

    def publish(seq: int, to_state: str, event: str, action: str, **kw: Any) -> None:
        envelope = registry.new(
            f"complaint.{event}",
            LifecycleChanged(
                complaint_id=c["id"],
                reference=c["reference"],
                action=action,  # type: ignore[arg-type]
                from_state="received",
                to_state=to_state,  # type: ignore[arg-type]
                history_seq=seq,
                **kw,
            ),
            source="escalation",
            tenant="default",
            actor=SYSTEM,
            complaint_id=c["id"],
        )
        assert envelope.type in LIFECYCLE_TYPES
        producer.send(
            topic,
            key=envelope.key.encode(),
            value=encode(envelope),
            headers=kafka_headers(envelope),
        )

    publish(1, "with_duty_manager", "assigned", "assign", holder_staff_id="DM1")
    publish(2, "dispatched", "dispatched", "dispatch", department_id="billing")
    publish(2, "dispatched", "dispatched", "dispatch", department_id="billing")  # a duplicate
    producer.flush()

    consumer = EventConsumer(
        name=f"intake-{uuid.uuid4().hex[:6]}",
        topics=[topic],
        stand_for=topics.stand_for,
        db=intake.env.db,
        inbox=inbox,
        handlers=handlers(intake.env.db, intake.env.settings),
        settings=intake.env.settings,
        producer=producer,
    )
    try:
        consume_until(consumer, handled=3, timeout=30, what="three lifecycle events handled")
    finally:
        producer.close()
    seen = intake.client.get(f"/complaints/{c['id']}", headers=intake.agent).json()
    assert (seen["status"], seen["department_id"]) == ("dispatched", "billing")
    assert seen["status_updated_at"] is not None
    assert datetime.fromisoformat(seen["status_updated_at"]) <= datetime.now(UTC)
