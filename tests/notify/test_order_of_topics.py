"""Notify reads intake's `complaint.received` and escalation's lifecycle events from two
topics, in no order between them: a complaint's assignment may be read before its
registration. The assignment then waits until intake's topic has been read as far as it
reached (the registration was written there before escalation could assign anything), so
the duty manager's SMS still names the customer's masked phone and the complaint.

The consumer is driven here batch by batch, as its poll loop drives it, over a stand-in
for the Kafka client that says where each partition is; tests/notify/test_delivery_kafka.py
shows the same on the real broker."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from kafka.structs import TopicPartition

from services.notify.db import inbox
from services.notify.handlers import make_handlers
from shared.consumer import EventConsumer
from shared.events import Envelope, encode, kafka_headers
from shared.topics import COMPLAINTS_LIFECYCLE, INTAKE_EVENTS
from tests.notify.conftest import (
    CUSTOMER,
    DM01,
    Notify,
    lifecycle_event,
    received_event,
    recipient,
)

pytestmark = pytest.mark.postgres

INTAKE = TopicPartition(INTAKE_EVENTS, 0)
LIFECYCLE = TopicPartition(COMPLAINTS_LIFECYCLE, 0)
OTHER_LIFECYCLE = TopicPartition(COMPLAINTS_LIFECYCLE, 1)


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


@dataclass
class SetAside:
    """The rest of a fetch the client keeps for a paused partition (kafka-python's
    fetcher); drained when dropped."""

    drained: bool = False

    def drain(self) -> None:
        self.drained = True


@dataclass
class Fetcher:
    _paused_partition_records: dict[TopicPartition, SetAside] = field(default_factory=dict)


@dataclass
class Broker:
    """What the consumer asks the Kafka client while it holds a partition back."""

    ends: dict[TopicPartition, int] = field(default_factory=dict)
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    held: set[TopicPartition] = field(default_factory=set)
    assigned: set[TopicPartition] = field(
        default_factory=lambda: {INTAKE, LIFECYCLE, OTHER_LIFECYCLE}
    )
    _fetcher: Fetcher = field(default_factory=Fetcher)

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def paused(self) -> set[TopicPartition]:
        return set(self.held)

    def pause(self, *parts: TopicPartition) -> None:
        self.held.update(parts)

    def resume(self, *parts: TopicPartition) -> None:
        self.held.difference_update(parts)

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.positions[tp] = offset

    def position(self, tp: TopicPartition) -> int:
        return self.positions.get(tp, 0)

    def end_offsets(self, parts: list[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.ends.get(tp, 0) for tp in parts}


class Producer:
    def send(self, topic: str, **kw: Any) -> Any:
        raise AssertionError(f"nothing is dead-lettered here, yet {topic} was written")


@dataclass
class Worker:
    consumer: EventConsumer
    broker: Broker

    def reads(self, tp: TopicPartition, *pairs: tuple[int, Envelope]) -> None:
        """One poll returning these records of one partition, handled as the loop does."""
        records = [
            Record(tp.topic, tp.partition, n, e.key.encode(), encode(e), kafka_headers(e))
            for n, e in pairs
        ]
        self.broker.positions[tp] = records[-1].offset + 1
        self.consumer.process_batch(self.broker, {tp: records}, threading.Event())

    def polls(self) -> None:
        """What the loop does before each poll: let partitions whose wait is over go."""
        self.consumer._release_held(self.broker)


def worker(notify: Notify, **kwargs: Any) -> Worker:
    consumer = EventConsumer(
        name="notify",
        topics=[INTAKE_EVENTS, COMPLAINTS_LIFECYCLE],
        db=notify.env.db,
        inbox=inbox,
        handlers=make_handlers(notify.ctx),
        settings=notify.env.settings,
        producer=Producer(),
        cutovers=dict,
        **kwargs,
    )
    return Worker(consumer, Broker())


def assigned(received: Envelope) -> Envelope:
    return lifecycle_event(
        "complaint.assigned",
        received,
        [recipient("duty_manager", DM01, "DM01")],
        from_state="received",
        holder_staff_id="DM01",
        history_seq=1,
    )


def test_an_assignment_read_before_the_registration_waits_for_it_and_names_the_customer(
    notify: Notify,
) -> None:
    received = received_event(severity="urgent")
    reference = received.payload["reference"]
    w = worker(notify)
    w.broker.ends[INTAKE] = 1  # the registration is on intake's topic, not read yet

    w.reads(LIFECYCLE, (0, assigned(received)))
    assert w.consumer.stats.waited == 1 and w.consumer.stats.handled == 0
    assert notify.messages() == []
    assert LIFECYCLE in w.broker.held and w.broker.position(LIFECYCLE) == 0
    w.polls()
    assert LIFECYCLE in w.broker.held, "intake's topic is not read as far as it reached"

    w.reads(INTAKE, (0, received))
    assert [m.phone for m in notify.messages()] == [CUSTOMER]  # the acknowledgement
    w.polls()
    assert LIFECYCLE not in w.broker.held

    w.reads(LIFECYCLE, (0, assigned(received)))
    assert (w.consumer.stats.handled, w.consumer.stats.waited) == (2, 1)
    (sms,) = notify.messages(phone=DM01)
    assert sms.body.startswith(
        f"【紧急】新投诉 {reference}（特急/账单计费），客户 +86138****8000："
    )
    assert "上月话费账单多扣了 30 元" in sms.body


def test_a_registration_that_is_not_on_intakes_topic_is_not_waited_for_twice(
    notify: Notify,
) -> None:
    """A complaint registered before notify kept its customers: intake's topic has been
    read to its end, so the assignment goes out at once, without the customer's facts."""
    received = received_event()
    w = worker(notify)
    w.broker.ends[INTAKE] = w.broker.positions[INTAKE] = 40

    w.reads(LIFECYCLE, (0, assigned(received)))
    assert notify.messages() == []
    w.polls()
    w.reads(LIFECYCLE, (0, assigned(received)))
    (sms,) = notify.messages(phone=DM01)
    assert received.payload["reference"] in sms.body
    assert "+86138****8000" not in sms.body
    assert (w.consumer.stats.handled, w.consumer.stats.waited) == (1, 1)


def test_a_wait_ends_after_max_wait_even_if_intakes_topic_stays_behind(notify: Notify) -> None:
    received = received_event()
    w = worker(notify, max_wait_seconds=0)
    w.broker.ends[INTAKE] = 5

    w.reads(LIFECYCLE, (0, assigned(received)))
    w.polls()
    assert not w.broker.held
    w.reads(LIFECYCLE, (0, assigned(received)))
    assert len(notify.messages(phone=DM01)) == 1


def test_a_waiting_event_holds_back_its_partition_only_and_what_came_before_it_counts(
    notify: Notify,
) -> None:
    """In one batch: a known complaint's event, an unknown one's, then the known one's
    again on the same partition, and another partition's event. The first and the last
    are handled in the batch; the partition resumes at the one that waits."""
    known, unknown, elsewhere = received_event(), received_event(), received_event()
    w = worker(notify)
    for n, e in enumerate((known, elsewhere)):
        w.reads(INTAKE, (n, e))
    w.broker.ends[INTAKE] = 3  # the unknown complaint's registration is still to be read
    acknowledged = lifecycle_event(
        "complaint.acknowledged", known, [], to_state="with_duty_manager", history_seq=2
    )
    records = [
        Record(LIFECYCLE.topic, 0, n, e.key.encode(), encode(e), kafka_headers(e))
        for n, e in enumerate((assigned(known), assigned(unknown), acknowledged))
    ]
    other = Record(
        OTHER_LIFECYCLE.topic,
        1,
        0,
        elsewhere.key.encode(),
        encode(assigned(elsewhere)),
        kafka_headers(assigned(elsewhere)),
    )
    w.broker.positions[LIFECYCLE], w.broker.positions[OTHER_LIFECYCLE] = 3, 1
    w.consumer.process_batch(
        w.broker, {LIFECYCLE: records, OTHER_LIFECYCLE: [other]}, threading.Event()
    )
    assert w.consumer.stats.waited == 1
    assert w.consumer.stats.handled == 2 + 2  # two registrations, the known and the other
    assert w.broker.position(LIFECYCLE) == 1
    assert w.consumer._uncommitted[LIFECYCLE].offset == 1
    assert w.consumer._uncommitted[OTHER_LIFECYCLE].offset == 1
    told = {m.reference for m in notify.messages(phone=DM01)}
    assert told == {known.payload["reference"], elsewhere.payload["reference"]}


def test_a_partition_taken_away_while_it_waits_is_read_again_should_it_come_back(
    notify: Notify,
) -> None:
    """The client keeps the rest of a fetch for a paused partition, and fetches nothing
    more for it while it does (tests/notify/test_waiting_under_a_backlog.py shows why on
    the real broker): a wait ended by a rebalance as much as one that is over drops it."""
    received = received_event()
    w = worker(notify)
    w.broker.ends[INTAKE] = 1
    w.reads(LIFECYCLE, (0, assigned(received)))
    assert LIFECYCLE in w.broker.held
    kept = w.broker._fetcher._paused_partition_records[LIFECYCLE] = SetAside()

    w.broker.assigned.discard(LIFECYCLE)  # a rebalance gives it to another worker
    w.polls()
    assert not w.consumer._held
    assert LIFECYCLE not in w.broker._fetcher._paused_partition_records and kept.drained

    w.broker.assigned.add(LIFECYCLE)  # and the next one gives it back
    w.broker.held.clear()
    w.reads(LIFECYCLE, (0, assigned(received)))
    assert LIFECYCLE in w.broker.held
    kept = w.broker._fetcher._paused_partition_records[LIFECYCLE] = SetAside()
    w.broker.positions[INTAKE] = 1  # intake's topic read as far as it reached
    w.polls()
    assert LIFECYCLE not in w.broker.held
    assert LIFECYCLE not in w.broker._fetcher._paused_partition_records and kept.drained
