"""Which records a consumer reads, skips or dead-letters, before any database work."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from shared.consumer import EventConsumer
from shared.contracts import NOTE_ADDED, NoteAdded
from shared.events import SYSTEM, encode, kafka_headers, registry
from shared.settings import Settings


@dataclass
class Record:
    value: bytes
    headers: list[tuple[str, bytes]]
    topic: str = "complaints.lifecycle"
    partition: int = 0
    offset: int = 7
    key: bytes = b"c-1"


@dataclass
class CapturingProducer:
    sent: list[tuple[str, dict[str, bytes]]] = field(default_factory=list)

    def send(self, topic: str, **kw: Any) -> Any:
        self.sent.append((topic, dict(kw["headers"])))

        class Done:
            def get(self, timeout: float) -> None:
                return None

        return Done()


def _consumer(producer: CapturingProducer) -> EventConsumer:
    return EventConsumer(
        name="escalation",
        topics=["complaints.lifecycle"],
        db=None,  # type: ignore[arg-type] - these records never reach the database
        inbox=None,  # type: ignore[arg-type]
        handlers={"complaint.received": lambda session, event: None},
        settings=Settings(),
        producer=producer,
    )


def _note() -> Record:
    envelope = registry.new(
        NOTE_ADDED.name,
        NoteAdded(complaint_id="c-1", reference="TS1", text="hi", added_by="A1"),
        source="intake",
        actor=SYSTEM,
        complaint_id="c-1",
    )
    return Record(value=encode(envelope), headers=kafka_headers(envelope))


def test_a_known_event_the_service_does_not_handle_is_skipped_unread() -> None:
    producer = CapturingProducer()
    consumer = _consumer(producer)
    record = _note()
    record.value = b"not even json: the header is enough to skip it"
    consumer._process(record, threading.Event())
    assert consumer.stats.skipped == 1 and producer.sent == []


def test_an_unknown_event_type_still_goes_to_the_dead_letter_topic() -> None:
    producer = CapturingProducer()
    consumer = _consumer(producer)
    record = _note()
    record.headers = [("event_type", b"complaint.teleported")]
    record.value = record.value.replace(b'"complaint.note_added"', b'"complaint.teleported"')
    consumer._process(record, threading.Event())
    assert consumer.stats.dead_lettered == 1
    topic, headers = producer.sent[0]
    assert topic == "complaints.lifecycle.dlq"
    assert b"complaint.teleported" in headers["dlq.reason"]


def test_a_record_without_headers_is_parsed_to_find_its_type() -> None:
    producer = CapturingProducer()
    consumer = _consumer(producer)
    record = _note()
    record.headers = []
    consumer._process(record, threading.Event())
    assert consumer.stats.skipped == 1 and producer.sent == []
