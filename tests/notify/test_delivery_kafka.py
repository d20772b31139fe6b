"""SMS on the real broker and PostgreSQL, through the development gateway as a real HTTP
server: events arrive over Kafka, messages reach the phones once, failures are retried
or end in `sms.failed`, and nothing after a failure is lost."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.notify.db import inbox, outbox
from services.notify.handlers import make_handlers
from services.notify.worker import SPEC
from shared.clock import Clock, ManualClock
from shared.consumer import EventConsumer
from shared.contracts import NOTE_ADDED, SMS_FAILED, SMS_SENT, NoteAdded
from shared.events import Actor, registry
from shared.kafka import create_producer
from shared.outbox import OutboxRelay
from shared.topics import ANALYTICS_EVENTS, SMS_EVENTS, dlq
from tests.notify.conftest import (
    BILLING_DESK,
    BILLING_HEAD,
    CLERK,
    CUSTOMER,
    DM01,
    DM02,
    FOREIGN_CUSTOMER,
    Live,
    handed_over_event,
    hot_issue_event,
    lifecycle_event,
    received_event,
    recipient,
    running,
)
from tests.support.infra import read_topic, wait_until
from tests.support.topics import Topics

NOTIFY_READS = SPEC.topics

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


@contextmanager
def working(
    live: Live, topics: Topics, *, relay: bool = False, clock: Clock | None = None
) -> Iterator[EventConsumer]:
    """Notify's worker for the block: its consumer on the test's intake and lifecycle
    topics, its sender (on `clock`, if given), and, if `relay`, its relay publishing to
    the test's sms topic."""
    notify = live.notify
    settings = notify.env.settings
    producer = create_producer(settings, "notify-test")
    consumer = EventConsumer(
        name=f"notify-{uuid.uuid4().hex[:6]}",
        topics=topics.of(*NOTIFY_READS),
        stand_for=topics.stand_for,
        db=notify.env.db,
        inbox=inbox,
        handlers=make_handlers(notify.ctx),
        settings=settings,
        producer=producer,
    )
    sender = notify.sender(clock=clock)
    relayed = OutboxRelay(
        notify.env.db, outbox, topics.remap(producer), lanes=settings.outbox_lanes
    )
    try:
        with (
            running(consumer.run, "consumer"),
            running(sender.run, "sender"),
            running(relayed.run, "relay") if relay else _nothing(),
        ):
            yield consumer
    finally:
        producer.close(timeout=10)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def bodies(live: Live, phone: str) -> list[str]:
    return [m["body"] for m in live.phones.received(phone)]


def test_each_event_reaches_the_right_phone_in_the_right_language_once(
    live: Callable[..., Live], platform_topics: Callable[..., Topics], kafka_bootstrap: str
) -> None:
    # The customer abroad is in a country this centre texts.
    service = live(sms_allowed_countries=["CN", "GB"])
    notify = service.notify
    topics = platform_topics(3)
    urgent = received_event(severity="urgent", strong_emotion=True)
    abroad = received_event(customer_phone=FOREIGN_CUSTOMER, category="network")
    ref, ref_abroad = urgent.payload["reference"], abroad.payload["reference"]
    dm01 = recipient("duty_manager", DM01, "DM01")
    events = [
        urgent,
        abroad,
        lifecycle_event("complaint.assigned", urgent, [dm01], holder_staff_id="DM01"),
        lifecycle_event(
            "complaint.dispatched",
            urgent,
            [recipient("department", BILLING_DESK)],
            department_id="billing",
            details={"instructions": "核对账单"},
        ),
        lifecycle_event(
            "complaint.urged", urgent, [recipient("department", CLERK, "B07")], reason="请今天处理"
        ),
        lifecycle_event(
            "complaint.escalated",
            urgent,
            [recipient("department_head", BILLING_HEAD, "BH1")],
            escalation_level=2,
            reason="逾期未处理",
        ),
        lifecycle_event(
            "complaint.extension_requested",
            urgent,
            [dm01],
            department_id="billing",
            reason="等银行回复",
            details={"until": "2026-11-25T10:00:00+00:00"},
        ),
        lifecycle_event(
            "complaint.replied",
            abroad,
            [recipient("customer", FOREIGN_CUSTOMER)],
            to_state="replied",
            resolution="The line was repaired on Monday",
        ),
        lifecycle_event("complaint.closed", abroad, [], to_state="closed"),
        handed_over_event(recipient("duty_manager", DM02, "DM02"), [(ref, "urgent")]),
    ]
    expected = {
        CUSTOMER: [f"您好，您的投诉已受理，受理编号 {ref}。"],
        FOREIGN_CUSTOMER: [
            f"Your complaint has been registered, reference {ref_abroad}.",
            f"Your complaint {ref_abroad}: The line was repaired on Monday. Reply 1 if",
            f"Your complaint {ref_abroad} is closed.",
        ],
        DM01: [f"【紧急】新投诉 {ref}（特急/账单计费），客户 +86138****8000：", "申请投诉"],
        BILLING_DESK: [f"【紧急】派单 {ref}（特急/账单计费），客户 +86138****8000"],
        CLERK: [f"【紧急】督办 {ref}"],
        BILLING_HEAD: [f"【紧急】投诉 {ref}（特急/账单计费）已升级至第2级：逾期未处理"],
        DM02: [f"交接班：1 件未结投诉转由您负责（特急/加急 1 件，超时 0 件）：{ref}"],
    }
    total = sum(len(v) for v in expected.values())
    producer = create_producer(notify.env.settings, "escalation-stand-in")
    try:
        with working(service, topics) as consumer:
            topics.publish(producer, events)
            wait_until(
                lambda: len(service.phones.all()) >= total,
                timeout=60,
                what=f"{total} SMS at the gateway",
            )
            for phone, starts in expected.items():
                got = bodies(service, phone)
                assert len(got) == len(starts), (phone, got)
                for body, start in zip(got, starts, strict=True):
                    assert start in body, (phone, body)
            # Every one reported delivered by the gateway's status callbacks.
            wait_until(
                lambda: {m.status for m in notify.messages(direction="out")} == {"delivered"},
                timeout=30,
                what="every message delivered",
            )
            sends = service.phones.sends()

            # The same events again, as a relay retrying after a lost ack would publish.
            topics.publish(producer, events)
            wait_until(
                lambda: consumer.stats.duplicates >= len(events),
                timeout=60,
                what="the redelivered events recognised",
            )
            assert consumer.stats.handled == len(events)
        assert len(service.phones.all()) == total
        assert service.phones.sends() == sends
        assert len(notify.messages(direction="out")) == total
    finally:
        producer.close(timeout=10)
    sent = [e for e in notify.events() if e.type == SMS_SENT.name]
    assert len(sent) == total
    assert all(e.payload["provider"] == "dev" for e in sent)


def test_a_gateway_that_fails_twice_then_succeeds_gets_exactly_one_message_through(
    live: Callable[..., Live], platform_topics: Callable[..., Topics]
) -> None:
    service = live()
    notify = service.notify
    topics = platform_topics(1)
    service.phones.fail_next(2, status=503)
    received = received_event()
    producer = create_producer(notify.env.settings, "intake-stand-in")
    try:
        with working(service, topics):
            topics.publish(producer, [received])
            wait_until(
                lambda: bodies(service, CUSTOMER),
                timeout=30,
                what="the SMS at the customer's phone",
            )
            wait_until(
                lambda: notify.messages()[0].status == "delivered", timeout=30, what="delivered"
            )
    finally:
        producer.close(timeout=10)
    assert len(bodies(service, CUSTOMER)) == 1
    assert service.phones.sends() == 3
    (message,) = notify.messages()
    assert message.attempts == 3
    assert [e.type for e in notify.events()] == [SMS_SENT.name, "sms.delivered"]


def test_a_gateway_down_for_longer_ends_in_sms_failed_and_loses_nothing_after_it(
    live: Callable[..., Live], platform_topics: Callable[..., Topics], kafka_bootstrap: str
) -> None:
    service = live(gateway=False, max_attempts=3)
    notify = service.notify
    topics = platform_topics(1)
    first = received_event()
    producer = create_producer(notify.env.settings, "intake-stand-in")
    try:
        with working(service, topics, relay=True):
            topics.publish(producer, [first])
            wait_until(
                lambda: [m.status for m in notify.messages()] == ["failed"],
                timeout=30,
                what="the first SMS given up",
            )
            service.start_gateway()
            later = [received_event(customer_phone=f"+86136001360{n:02d}") for n in range(5)]
            topics.publish(producer, later)
            for event in later:
                phone = event.payload["customer_phone"]
                wait_until(
                    lambda phone=phone: bodies(service, phone),
                    timeout=30,
                    what=f"the SMS at {phone}",
                )
            failed = read_topic(kafka_bootstrap, topics[SMS_EVENTS], expect=6, timeout=30)
            dead = read_topic(kafka_bootstrap, dlq(topics[SMS_EVENTS]), expect=1, timeout=30)
    finally:
        producer.close(timeout=10)
    (message, *rest) = notify.messages()
    assert message.status == "failed"
    assert message.attempts == 3
    assert "gave up after 3 attempts: provider unreachable" in message.last_error
    assert [m.status for m in rest] == ["submitted"] * 5 or all(
        m.status in ("submitted", "sent", "delivered") for m in rest
    )
    types = [dict(r.headers)["event_type"].decode() for r in failed]
    assert types.count(SMS_FAILED.name) == 1
    assert types.count(SMS_SENT.name) == 5
    (record,) = dead
    headers = dict(record.headers)
    assert headers["event_type"] == b"sms.failed"
    assert b"provider unreachable" in headers["dlq.reason"]
    assert headers["dlq.message_id"].decode() == message.id
    assert bodies(service, CUSTOMER) == []  # the failed one was never sent


def test_a_send_whose_answer_was_lost_is_found_at_the_provider_not_sent_twice(
    live: Callable[..., Live], platform_topics: Callable[..., Topics]
) -> None:
    # The Twilio shape without idempotency keys: an uncertain send is looked up first.
    service = live(
        provider="twilio",
        http_timeout_seconds=0.5,
        retry_base_seconds=2.0,
        retry_max_seconds=4.0,
    )
    notify = service.notify
    topics = platform_topics(1)
    httpx.post(f"{service.phones.url}/api/faults", json={"delay": 1.0}).raise_for_status()
    producer = create_producer(notify.env.settings, "intake-stand-in")
    try:
        with working(service, topics):
            topics.publish(producer, [received_event()])
            wait_until(
                lambda: notify.messages()[0].status == "unknown" if notify.messages() else False,
                timeout=30,
                what="the send's answer lost",
            )
            httpx.post(f"{service.phones.url}/api/faults", json={"delay": 0}).raise_for_status()
            wait_until(
                lambda: notify.messages()[0].status == "delivered", timeout=30, what="delivered"
            )
    finally:
        producer.close(timeout=10)
    assert len(bodies(service, CUSTOMER)) == 1
    assert service.phones.sends() == 1
    (message,) = notify.messages()
    assert message.attempts == 1
    assert message.provider_message_id == service.phones.received(CUSTOMER)[0]["sid"]


def test_a_customer_sms_held_for_the_night_is_checked_again_when_its_hour_comes(
    live: Callable[..., Live], platform_topics: Callable[..., Topics]
) -> None:
    # Quiet hours around this moment, whenever the suite runs: customer SMS wait for
    # their end, two hours from now, when the sender's clock is moved there.
    here = datetime.now(ZoneInfo("Asia/Shanghai"))
    service = live(
        quiet_hours_start=(here - timedelta(hours=1)).time().replace(microsecond=0),
        quiet_hours_end=(here + timedelta(hours=2)).time().replace(microsecond=0),
    )
    notify = service.notify
    topics = platform_topics(1)
    clock = ManualClock(datetime.now(UTC))
    received = received_event()
    events = [
        received,
        lifecycle_event(
            "complaint.replied",
            received,
            [recipient("customer", CUSTOMER)],
            action="reply",
            to_state="replied",
            history_seq=5,
            resolution="已退还多扣的 30 元",
        ),
        # Before the night is over the follow-up call finds the customer satisfied.
        lifecycle_event(
            "complaint.closed",
            received,
            [],
            action="feedback",
            from_state="replied",
            to_state="closed",
            history_seq=6,
        ),
    ]
    producer = create_producer(notify.env.settings, "escalation-stand-in")
    try:
        with working(service, topics, clock=clock) as consumer:
            topics.publish(producer, events)
            wait_until(lambda: consumer.stats.handled == 3, timeout=60, what="the events handled")
            held = notify.messages(phone=CUSTOMER)
            assert [m.held_reason for m in held] == ["quiet_hours"] * 3
            clock.advance(timedelta(hours=2, minutes=1))
            wait_until(
                lambda: (
                    {m.status for m in notify.messages(phone=CUSTOMER)}
                    == {"cancelled", "delivered"}
                ),
                timeout=60,
                what="the night's messages sent or cancelled",
            )
    finally:
        producer.close(timeout=10)
    by_template = {m.template: m for m in notify.messages(phone=CUSTOMER)}
    assert by_template["customer_received"].cancel_reason == "complaint_closed"
    assert by_template["customer_replied"].cancel_reason == "complaint_closed"
    assert bodies(service, CUSTOMER) == [by_template["customer_closed"].body]


def test_an_assignment_read_before_its_registration_still_names_the_customer(
    live: Callable[..., Live], platform_topics: Callable[..., Topics]
) -> None:
    """Two topics, no order between them: with intake's topic behind by more than one
    fetch (notes notify passes over), the assignment on the lifecycle topic is read
    before the registration that came first. It waits for it, and the duty manager's SMS
    names the customer as it does when they come in order."""
    service = live()
    notify = service.notify
    topics = platform_topics(1)
    received = received_event(severity="urgent")
    ref = received.payload["reference"]
    cid = received.payload["complaint_id"]
    notes = [
        registry.new(
            NOTE_ADDED.name,
            NoteAdded(complaint_id=cid, reference=ref, text="补充" * 1500, added_by="A001"),
            source="intake",
            tenant="default",
            actor=Actor(id="A001", role="agent"),
            complaint_id=cid,
        )
        for _ in range(800)
    ]
    assigned = lifecycle_event(
        "complaint.assigned",
        received,
        [recipient("duty_manager", DM01, "DM01")],
        from_state="received",
        holder_staff_id="DM01",
    )
    producer = create_producer(notify.env.settings, "intake-stand-in")
    try:
        topics.publish(producer, [*notes, received, assigned])
        with working(service, topics) as consumer:
            wait_until(lambda: bodies(service, DM01), timeout=60, what="the duty manager's SMS")
            assert consumer.stats.waited >= 1, "the assignment was not read first"
            assert consumer.stats.handled == 2
    finally:
        producer.close(timeout=10)
    (sms,) = bodies(service, DM01)
    assert sms.startswith(f"【紧急】新投诉 {ref}（特急/账单计费），客户 +86138****8000：")
    assert "上月话费账单多扣了 30 元" in sms


def test_a_hot_issue_from_analytics_topic_reaches_the_desk_and_the_department_once(
    live: Callable[..., Live], platform_topics: Callable[..., Topics], kafka_bootstrap: str
) -> None:
    """Analytics' topic beside intake's and the lifecycle's: the alert goes to the duty
    manager and the department desk the lifecycle named, once though published twice,
    and a copy claiming to come from escalation ends on the topic's .dlq."""
    service = live()
    notify = service.notify
    topics = platform_topics(1)
    received = received_event()
    named = [
        received,
        lifecycle_event(
            "complaint.assigned",
            received,
            [recipient("duty_manager", DM01, "DM01")],
            from_state="received",
            holder_staff_id="DM01",
        ),
        lifecycle_event(
            "complaint.dispatched",
            received,
            [recipient("department", BILLING_DESK)],
            to_state="dispatched",
            department_id="billing",
        ),
    ]
    hot = hot_issue_event(["billing"])
    forged = hot_issue_event(["billing"]).model_copy(update={"source": "escalation"})

    def alerts(phone: str) -> list[str]:
        return [b for b in bodies(service, phone) if b.startswith("【热点预警】")]

    producer = create_producer(notify.env.settings, "analytics-stand-in")
    try:
        with working(service, topics) as consumer:
            # the desk is named before the alert comes: two topics, no order between them
            topics.publish(producer, named)
            wait_until(lambda: consumer.stats.handled == 3, timeout=60, what="the desk named")
            topics.publish(producer, [hot, hot, forged])
            wait_until(
                lambda: alerts(DM01) and alerts(BILLING_DESK),
                timeout=60,
                what="the alert at the desk and at the department",
            )
            wait_until(
                lambda: consumer.stats.duplicates == 1 and consumer.stats.refused == 1,
                timeout=60,
                what="the second copy recognised and the forged one refused",
            )
            (dead,) = read_topic(kafka_bootstrap, dlq(topics[ANALYTICS_EVENTS]), expect=1)
            wait_until(
                lambda: (
                    {m.status for m in notify.messages(template="staff_hot_issue")} == {"delivered"}
                ),
                timeout=30,
                what="the alerts delivered",
            )
    finally:
        producer.close(timeout=10)
    assert len(alerts(DM01)) == len(alerts(BILLING_DESK)) == 1
    assert alerts(DM01)[0].startswith("【热点预警】阳光花园小区：停水，24小时内12位来电人反映")
    assert dict(dead.headers)["dlq.error_class"] == b"ownership"
    assert consumer.stats.handled == 4
