"""Escalation on the real broker: intake's `complaint.received` arrives over Kafka, the
complaint goes to the duty manager, and `complaint.assigned` leaves through the outbox
with the phone notify needs; a redelivered event assigns nothing twice."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition

from services.escalation.db import inbox, outbox
from services.escalation.handlers import handlers
from shared.consumer import EventConsumer
from shared.events import encode, kafka_headers, registry
from shared.kafka import create_producer
from shared.outbox import OutboxRelay
from shared.topics import COMPLAINTS_LIFECYCLE, INTAKE_EVENTS
from tests.escalation.conftest import PHONES, Centre, received_event
from tests.support.infra import consume_until, wait_until
from tests.support.topics import Topics

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


def test_a_complaint_received_over_kafka_is_assigned_once_and_the_duty_manager_is_named(
    centre: Centre, kafka_bootstrap: str, platform_topics: Callable[..., Topics]
) -> None:
    topics = platform_topics()
    topic = topics[INTAKE_EVENTS]
    envelope = received_event(severity="urgent", strong_emotion=True)
    cid = str(envelope.complaint_id)
    producer = create_producer(centre.env.settings, "intake-stand-in")
    for _ in range(2):  # intake's relay published it twice (a retry after a lost ack)
        producer.send(
            topic, key=cid.encode(), value=encode(envelope), headers=kafka_headers(envelope)
        )
    producer.flush()

    lifecycle = KafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=None, enable_auto_commit=False
    )
    parts = [
        TopicPartition(COMPLAINTS_LIFECYCLE, p)
        for p in sorted(lifecycle.partitions_for_topic(COMPLAINTS_LIFECYCLE) or [])
    ]
    lifecycle.assign(parts)
    lifecycle.seek_to_end(*parts)
    for part in parts:
        lifecycle.position(part)

    consumer = EventConsumer(
        name=f"escalation-{uuid.uuid4().hex[:6]}",
        topics=[topic],
        stand_for=topics.stand_for,
        db=centre.env.db,
        inbox=inbox,
        handlers=handlers(centre.env.db, centre.env.settings),
        settings=centre.env.settings,
        producer=producer,
    )
    consume_until(consumer, handled=2, timeout=60, what="both copies of complaint.received handled")
    assert (consumer.stats.handled, consumer.stats.duplicates) == (1, 1)

    complaint = centre.get(cid).json()
    assert complaint["state"] == "with_duty_manager"
    assert complaint["holder_staff_id"] == "DM01"
    assert complaint["history_seq"] == 1

    try:
        relay = OutboxRelay(centre.env.db, outbox, producer, lanes=centre.env.settings.outbox_lanes)
        assert relay.publish_pending() == 1
    finally:
        producer.close()
    found: list[Any] = []
    try:

        def poll() -> bool:
            for batch in lifecycle.poll(timeout_ms=500).values():
                found.extend(r for r in batch if r.key.decode() == cid)
            return bool(found)

        wait_until(poll, timeout=30, what="complaint.assigned on complaints.lifecycle")
    finally:
        lifecycle.close()
    (record,) = found
    event = registry.decode(record.value)
    assert event.type == "complaint.assigned"
    assert dict(record.headers)["event_type"] == b"complaint.assigned"
    assert event.envelope.correlation_id == envelope.correlation_id
    assert event.payload.to_state == "with_duty_manager"
    assert event.payload.holder_staff_id == "DM01"
    told = {(r.audience, r.phone) for r in event.payload.recipients}
    assert ("duty_manager", PHONES["DM01"]) in told
    assert event.payload.reference in event.payload.summary
