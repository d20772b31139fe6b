"""Which records a consumer reads, skips or dead-letters, before any database work: an
event is believed only from the topic of its type, written by that topic's owner."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from shared.consumer import EventConsumer
from shared.contracts import COMPLAINT_RECEIVED, NOTE_ADDED, NoteAdded
from shared.events import SYSTEM, Envelope, encode, kafka_headers, registry
from shared.settings import Settings
from shared.topics import COMPLAINTS_LIFECYCLE, INTAKE_EVENTS, Cutover
from tests.notify.conftest import received_event


@dataclass
class Record:
    value: bytes
    headers: list[tuple[str, bytes]]
    topic: str = INTAKE_EVENTS
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


def _consumer(producer: CapturingProducer, **kwargs: Any) -> EventConsumer:
    """Escalation's consumer of intake's topic (and the lifecycle's, to see what comes
    there), with no broker to ask about the topics' split unless a test gives one."""
    options: dict[str, Any] = {
        "topics": [INTAKE_EVENTS, COMPLAINTS_LIFECYCLE],
        "cutovers": dict,
        **kwargs,
    }
    return EventConsumer(
        name="escalation",
        db=None,  # type: ignore[arg-type] - these records never reach the database
        inbox=None,  # type: ignore[arg-type]
        handlers={COMPLAINT_RECEIVED.name: lambda session, event: None},
        settings=Settings(),
        producer=producer,
        **options,
    )


def _note(source: str = "intake") -> Envelope:
    return registry.new(
        NOTE_ADDED.name,
        NoteAdded(complaint_id="c-1", reference="TS1", text="hi", added_by="A1"),
        source="intake",
        tenant="default",
        actor=SYSTEM,
        complaint_id="c-1",
    ).model_copy(update={"source": source})


def _record(envelope: Envelope, topic: str = INTAKE_EVENTS, **kwargs: Any) -> Record:
    return Record(encode(envelope), kafka_headers(envelope), topic=topic, **kwargs)


def test_a_known_event_of_the_topic_the_service_does_not_handle_is_skipped_unread() -> None:
    producer = CapturingProducer()
    consumer = _consumer(producer)
    record = _record(_note())
    record.value = b"not even json: the header is enough to skip it"
    consumer._process(record, threading.Event())
    assert consumer.stats.skipped == 1 and producer.sent == []


def test_a_header_naming_a_type_of_another_topic_is_not_skipped_but_dead_lettered() -> None:
    """Intake's note on escalation's topic: escalation does not handle notes, yet nothing
    on complaints.lifecycle may claim to be intake's."""
    producer = CapturingProducer()
    consumer = _consumer(producer)
    consumer._process(_record(_note(), topic=COMPLAINTS_LIFECYCLE), threading.Event())
    assert (consumer.stats.skipped, consumer.stats.refused, consumer.stats.dead_lettered) == (
        0,
        1,
        1,
    )
    ((topic, headers),) = producer.sent
    assert topic == "complaints.lifecycle.dlq"
    assert headers["dlq.error_class"] == b"ownership"
    reason = headers["dlq.reason"].decode()
    assert "'complaint.note_added' on complaints.lifecycle" in reason
    assert "only escalation writes" in reason
    assert "it is intake's event and belongs on intake.events" in reason


def test_a_handled_type_on_its_own_topic_from_the_wrong_service_is_dead_lettered() -> None:
    producer = CapturingProducer()
    consumer = _consumer(producer)
    forged = received_event().model_copy(update={"source": "notify"})
    consumer._process(_record(forged), threading.Event())
    assert consumer.stats.refused == 1 and consumer.stats.handled == 0
    ((topic, headers),) = producer.sent
    assert topic == "intake.events.dlq"
    assert headers["dlq.error_class"] == b"ownership"
    assert headers["dlq.reason"].decode() == (
        "'complaint.received' on intake.events says it comes from 'notify'; "
        "only intake writes intake.events"
    )


def test_an_event_of_the_topic_from_its_owner_is_handed_to_its_handler() -> None:
    consumer = _consumer(CapturingProducer())
    prepared = consumer._prepare(_record(received_event()))
    assert prepared is not None and prepared[0].type == COMPLAINT_RECEIVED.name


def test_an_unknown_event_type_still_goes_to_the_dead_letter_topic() -> None:
    producer = CapturingProducer()
    consumer = _consumer(producer)
    record = _record(_note())
    record.headers = [("event_type", b"complaint.teleported")]
    record.value = record.value.replace(b'"complaint.note_added"', b'"complaint.teleported"')
    consumer._process(record, threading.Event())
    assert consumer.stats.dead_lettered == 1 and consumer.stats.refused == 0
    topic, headers = producer.sent[0]
    assert topic == "intake.events.dlq"
    assert headers["dlq.error_class"] == b"decode"
    assert b"complaint.teleported" in headers["dlq.reason"]


def test_a_record_without_headers_is_parsed_to_find_its_type_and_its_author() -> None:
    producer = CapturingProducer()
    consumer = _consumer(producer)
    fine, forged = _record(_note()), _record(_note(source="analytics"))
    fine.headers = forged.headers = []
    consumer._process(fine, threading.Event())
    consumer._process(forged, threading.Event())
    assert (consumer.stats.skipped, consumer.stats.refused) == (1, 1)
    assert [topic for topic, _ in producer.sent] == ["intake.events.dlq"]


def test_what_the_topics_split_left_behind_is_passed_over_and_what_came_after_is_refused() -> None:
    """Below the recorded offsets, complaints.lifecycle still holds intake's events of the
    old layout (their copies are read on intake.events); anything of theirs written there
    since is a forgery."""
    cutover = Cutover(
        topic=COMPLAINTS_LIFECYCLE,
        offsets={0: 100, 1: 5},
        moved=frozenset({NOTE_ADDED.name, COMPLAINT_RECEIVED.name}),
    )
    producer = CapturingProducer()
    asked: list[int] = []

    def cutovers() -> dict[str, Cutover]:
        asked.append(1)
        return {COMPLAINTS_LIFECYCLE: cutover}

    consumer = _consumer(producer, cutovers=cutovers)
    note = _note()
    for partition, offset in ((0, 99), (0, 0), (1, 4)):
        record = _record(note, topic=COMPLAINTS_LIFECYCLE, partition=partition, offset=offset)
        consumer._process(record, threading.Event())
    assert (consumer.stats.left_behind, consumer.stats.dead_lettered) == (3, 0)
    for partition, offset in ((0, 100), (1, 5), (2, 0)):
        record = _record(note, topic=COMPLAINTS_LIFECYCLE, partition=partition, offset=offset)
        consumer._process(record, threading.Event())
    assert (consumer.stats.left_behind, consumer.stats.refused) == (3, 3)
    assert asked == [1], "the split is read once"


def test_a_topic_of_a_test_stands_for_the_platform_topic_it_carries() -> None:
    producer = CapturingProducer()
    consumer = _consumer(
        producer,
        topics=["test.intake", "test.lifecycle"],
        stand_for={"test.intake": INTAKE_EVENTS, "test.lifecycle": COMPLAINTS_LIFECYCLE},
    )
    assert consumer._prepare(_record(received_event(), topic="test.intake")) is not None
    consumer._process(_record(received_event(), topic="test.lifecycle"), threading.Event())
    assert consumer.stats.refused == 1
    ((topic, _),) = producer.sent
    assert topic == "test.lifecycle.dlq"


def test_a_consumer_will_not_read_a_topic_whose_writer_it_does_not_know() -> None:
    with pytest.raises(ValueError, match=r"no owner known for test\.somewhere"):
        _consumer(CapturingProducer(), topics=[INTAKE_EVENTS, "test.somewhere"])
