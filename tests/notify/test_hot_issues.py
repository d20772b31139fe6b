"""A hot issue (many callers about one problem at one place within a day, found by
analytics) is told by SMS to the duty manager on duty and to the department its
complaints went to: people notify knows only from the lifecycle events that named them.
Analytics' other events are passed over, and an event on its topic from anyone else is
refused."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kafka.structs import TopicPartition

from services.notify.db import inbox
from services.notify.handlers import make_handlers
from services.notify.messages import planning
from services.notify.worker import SPEC
from shared.consumer import EventConsumer
from shared.contracts import ROOT_CAUSE_REVISED, HotIssueDetected, RootCauseRevised
from shared.events import SYSTEM, Envelope, encode, kafka_headers, registry
from shared.topics import ANALYTICS_EVENTS, COMPLAINTS_LIFECYCLE
from shared.vocabulary import RootCause
from tests.notify.conftest import (
    BILLING_DESK,
    CLERK,
    DM01,
    DM02,
    Live,
    Notify,
    handed_over_event,
    hot_issue_event,
    lifecycle_event,
    received_event,
    recipient,
)

pytestmark = pytest.mark.postgres

ALERT = "【热点预警】"


def at(envelope: Envelope, when: datetime) -> Envelope:
    return envelope.model_copy(update={"occurred_at": when})


def alerts(notify: Notify) -> list[Any]:
    return notify.messages(template="staff_hot_issue")


def desk_and_billing_named(notify: Notify) -> None:
    """DM01 took the morning's complaint; at the shift change it passed to DM02; it was
    dispatched to billing (its shared desk phone) and a billing clerk was urged."""
    now = datetime.now(UTC)
    received = received_event()
    notify.deliver(received)
    assigned = lifecycle_event(
        "complaint.assigned",
        received,
        [recipient("duty_manager", DM01, "DM01")],
        from_state="received",
        holder_staff_id="DM01",
        history_seq=1,
    )
    notify.deliver(at(assigned, now - timedelta(hours=3)))
    shift = handed_over_event(recipient("duty_manager", DM02, "DM02"), [("TS1", "normal")])
    notify.deliver(at(shift, now - timedelta(hours=1)))
    notify.deliver(
        lifecycle_event(
            "complaint.dispatched",
            received,
            [recipient("department", BILLING_DESK)],
            to_state="dispatched",
            department_id="billing",
            department_name="账务部",
            history_seq=3,
        )
    )
    notify.deliver(
        lifecycle_event(
            "complaint.urged",
            received,
            [recipient("department", CLERK, "B07")],
            to_state="in_progress",
            department_id="billing",
            history_seq=4,
        )
    )


def test_a_hot_issue_reaches_the_duty_manager_on_duty_and_its_department_once_even_sent_twice(
    live: Callable[..., Live],
) -> None:
    service = live()
    notify = service.notify
    desk_and_billing_named(notify)
    hot = hot_issue_event(["billing"])

    assert notify.deliver(hot)
    assert not notify.deliver(hot)  # the inbox turns the second copy away
    # and past the inbox (a replay under another consumer name), each SMS has its key
    with notify.env.db.transaction() as session:
        again = planning.on_hot_issue_detected(
            session,
            notify.ctx,
            HotIssueDetected.model_validate(hot.payload),
            event_id=str(hot.event_id),
            now=datetime.now(UTC),
        )
    assert again == []
    sender = notify.sender()
    try:
        while sender.send_due():
            pass
    finally:
        sender.close()

    def alerts_at(phone: str) -> list[str]:
        return [m["body"] for m in service.phones.received(phone) if m["body"].startswith(ALERT)]

    (to_desk,) = alerts_at(DM02)
    assert to_desk == (
        "【热点预警】阳光花园小区：停水，24小时内12位来电人反映（共15件），首次反映 12-05 08:10。"
        "示例工单 TS20261205-000101, TS20261205-000117, TS20261205-000123。"
        "详情：http://127.0.0.1:8000"
    )
    assert alerts_at(BILLING_DESK) == [to_desk]
    assert alerts_at(DM01) == []  # on duty this morning, not now
    assert alerts_at(CLERK) == []  # a clerk urged is not the department's contact
    by_phone = {m.phone: m for m in alerts(notify)}
    assert set(by_phone) == {DM02, BILLING_DESK}
    assert (by_phone[DM02].staff_id, by_phone[DM02].department_id) == ("DM02", None)
    # the department's own users see the alert in their message log
    assert by_phone[BILLING_DESK].department_id == "billing"
    assert {m.urgent for m in by_phone.values()} == {False}


def test_the_desk_is_whoever_the_newest_event_named_not_the_last_one_read(notify: Notify) -> None:
    now = datetime.now(UTC)
    received = received_event()
    notify.deliver(received)
    shift = handed_over_event(recipient("duty_manager", DM02, "DM02"), [("TS1", "normal")])
    notify.deliver(at(shift, now - timedelta(hours=1)))
    # read late: DM01's complaint of the morning, before the shift change
    morning = lifecycle_event(
        "complaint.assigned", received, [recipient("duty_manager", DM01, "DM01")]
    )
    notify.deliver(at(morning, now - timedelta(hours=3)))
    # a supervisor gives one complaint to DM01, who is not on duty for it
    reassigned = lifecycle_event(
        "complaint.handed_over",
        received,
        [recipient("duty_manager", DM01, "DM01")],
        action="reassign",
    )
    notify.deliver(at(reassigned, now))
    notify.deliver(hot_issue_event([]))
    assert [m.phone for m in alerts(notify)] == [DM02]

    # The next shift change names DM01: the following alert goes there, even after another
    # of DM01's complaints of the morning is read late.
    back = handed_over_event(recipient("duty_manager", DM01, "DM01"), [("TS2", "normal")])
    notify.deliver(at(back, now + timedelta(minutes=1)))
    another = received_event()
    notify.deliver(another)
    notify.deliver(
        at(
            lifecycle_event(
                "complaint.assigned", another, [recipient("duty_manager", DM01, "DM01")]
            ),
            now - timedelta(hours=2),
        )
    )
    later = hot_issue_event([])
    notify.deliver(later)
    assert [m.phone for m in alerts(notify) if m.event_id == str(later.event_id)] == [DM01]


def test_a_department_is_alerted_at_the_phones_its_newest_event_listed(notify: Notify) -> None:
    now = datetime.now(UTC)
    old_desk = "+8613700137009"
    received = received_event()
    notify.deliver(received)

    def dispatched(phones: list[str], when: datetime) -> Envelope:
        event = lifecycle_event(
            "complaint.dispatched",
            received,
            [recipient("department", phone) for phone in phones],
            to_state="dispatched",
            department_id="billing",
        )
        return at(event, when)

    notify.deliver(dispatched([BILLING_DESK], now))
    notify.deliver(dispatched([old_desk, BILLING_DESK], now - timedelta(days=2)))  # read late
    notify.deliver(hot_issue_event(["billing"]))
    assert [(m.phone, m.status) for m in alerts(notify) if m.department_id] == [
        (BILLING_DESK, "pending")
    ]


def test_with_no_duty_manager_known_the_alert_is_kept_as_not_sent_with_the_reason(
    notify: Notify,
) -> None:
    hot = hot_issue_event(["billing"])
    assert notify.deliver(hot)
    # the same event again under another consumer's name: still one record each
    with notify.env.db.transaction() as session:
        planning.on_hot_issue_detected(
            session,
            notify.ctx,
            HotIssueDetected.model_validate(hot.payload),
            event_id=str(hot.event_id),
            now=datetime.now(UTC),
        )
    kept = {(m.audience, m.department_id): m for m in alerts(notify)}
    assert set(kept) == {("duty_manager", None), ("department", "billing")}
    desk = kept["duty_manager", None]
    assert (desk.status, desk.refused_reason, desk.phone) == (
        "refused",
        "no_duty_manager_known",
        "",
    )
    assert desk.body.startswith("【热点预警】阳光花园小区：停水，24小时内12位来电人反映")
    assert desk.finished_at is not None and desk.due_at is None  # the sender never takes it
    billing = kept["department", "billing"]
    assert (billing.status, billing.refused_reason) == ("refused", "no_department_contact_known")


# -- as the worker's consumer meets analytics' topic ----------------------------------------


@dataclass
class DeadLetters:
    """The consumer's producer: what it dead-letters, with the headers saying why."""

    sent: list[tuple[str, dict[str, bytes]]] = field(default_factory=list)

    def send(self, topic: str, **kw: Any) -> Any:
        self.sent.append((topic, dict(kw["headers"])))

        class Done:
            def get(self, timeout: float) -> None:
                return None

        return Done()


class Client:
    """What process_batch asks of the Kafka client: where to read on from."""

    def seek(self, tp: TopicPartition, offset: int) -> None:
        pass


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def consumer_of(notify: Notify) -> tuple[EventConsumer, DeadLetters]:
    """Notify's consumer on the topics its worker reads."""
    producer = DeadLetters()
    consumer = EventConsumer(
        name="notify",
        topics=SPEC.topics,
        db=notify.env.db,
        inbox=inbox,
        handlers=make_handlers(notify.ctx),
        settings=notify.env.settings,
        producer=producer,
        cutovers=dict,
    )
    return consumer, producer


def read(consumer: EventConsumer, envelope: Envelope, topic: str, offset: int = 0) -> None:
    record = Record(
        topic, 0, offset, envelope.key.encode(), encode(envelope), kafka_headers(envelope)
    )
    consumer.process_batch(Client(), {TopicPartition(topic, 0): [record]}, threading.Event())


def test_an_analytics_event_from_a_service_other_than_analytics_is_refused(
    notify: Notify,
) -> None:
    desk_and_billing_named(notify)
    consumer, dead = consumer_of(notify)
    forged = hot_issue_event(["billing"]).model_copy(update={"source": "escalation"})
    read(consumer, forged, ANALYTICS_EVENTS)
    # analytics' own event, on a topic only escalation writes
    read(consumer, hot_issue_event(["billing"]), COMPLAINTS_LIFECYCLE)
    assert alerts(notify) == []
    assert consumer.stats.refused == 2 and consumer.stats.handled == 0
    (forged_dlq, forged_why), (misplaced_dlq, misplaced_why) = dead.sent
    assert (forged_dlq, forged_why["dlq.error_class"]) == ("analytics.events.dlq", b"ownership")
    assert forged_why["dlq.reason"].decode() == (
        "'analytics.hot_issue_detected' on analytics.events says it comes from 'escalation'; "
        "only analytics writes analytics.events"
    )
    assert (misplaced_dlq, misplaced_why["dlq.error_class"]) == (
        "complaints.lifecycle.dlq",
        b"ownership",
    )
    # the same alert from analytics, where it belongs, goes out
    read(consumer, hot_issue_event(["billing"]), ANALYTICS_EVENTS, offset=1)
    assert sorted(m.phone for m in alerts(notify)) == sorted([DM02, BILLING_DESK])


def test_notify_ignores_a_revised_root_cause_and_reads_on(notify: Notify) -> None:
    desk_and_billing_named(notify)
    consumer, dead = consumer_of(notify)
    before = notify.messages()
    revised = registry.new(
        ROOT_CAUSE_REVISED.name,
        RootCauseRevised(
            complaint_id="c-1",
            reference="TS20261205-000101",
            root_cause=RootCause.PROCESS,
            revised_by="QA01",
            revised_at=datetime.now(UTC),
        ),
        source="analytics",
        tenant="default",
        actor=SYSTEM,
        complaint_id="c-1",
    )
    read(consumer, revised, ANALYTICS_EVENTS)
    assert (consumer.stats.skipped, consumer.stats.handled, dead.sent) == (1, 0, [])
    # acknowledged: its offset is committed with the next commit, never read again
    assert consumer._uncommitted[TopicPartition(ANALYTICS_EVENTS, 0)].offset == 1
    assert notify.messages() == before
