"""The sender against the development gateway as a real HTTP server: refusals are final,
held messages wait (and are checked again when their hour comes), and a message whose
sender died mid-call is not sent twice."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from services.notify.messages import planning, service
from services.notify.sender import Sender
from shared.clock import ManualClock
from shared.contracts import SMS_FAILED, ComplaintReceived, LifecycleChanged
from shared.events import Envelope
from shared.topics import SMS_EVENTS, dlq
from tests.notify.conftest import (
    CUSTOMER,
    Live,
    Notify,
    lifecycle_event,
    received_event,
    recipient,
)

pytestmark = pytest.mark.postgres


def test_a_number_the_provider_refuses_fails_at_once_without_retrying(
    live: Callable[..., Live],
) -> None:
    service_ = live()
    notify = service_.notify
    # A mainland number too short for any phone: the provider refuses it.
    notify.deliver(received_event(customer_phone="+861"))
    sender = notify.sender()
    try:
        assert sender.send_due() == 1
        assert sender.send_due() == 0
    finally:
        sender.close()
    (message,) = notify.messages()
    assert (message.status, message.attempts) == ("failed", 1)
    assert "400" in message.last_error and "21211" in message.last_error
    assert service_.phones.sends() == 1
    (failed,) = [e for e in notify.events(SMS_EVENTS) if e.type == SMS_FAILED.name]
    (dead,) = notify.events(dlq(SMS_EVENTS))
    assert failed.payload["message_id"] == dead.payload["message_id"] == message.id
    assert dead.causation_id == str(failed.event_id)


def test_a_message_waiting_for_the_end_of_quiet_hours_is_not_sent_before(
    live: Callable[..., Live],
) -> None:
    service_ = live()
    notify = service_.notify
    notify.deliver(received_event())
    (message,) = notify.messages()
    with notify.env.db.transaction() as session:
        service.update_message(
            session,
            message.id,
            due_at=datetime.now(UTC) + timedelta(hours=8),
            held_reason="quiet_hours",
        )
    sender = notify.sender()
    try:
        assert sender.send_due() == 0
        with notify.env.db.transaction() as session:
            service.update_message(session, message.id, due_at=datetime.now(UTC))
        assert sender.send_due() == 1
    finally:
        sender.close()
    assert len(service_.phones.received(CUSTOMER)) == 1


def test_a_message_whose_sender_died_mid_call_goes_out_once(live: Callable[..., Live]) -> None:
    service_ = live()
    notify = service_.notify
    notify.deliver(received_event())
    sender = notify.sender()
    try:
        assert sender.send_due() == 1
        (message,) = notify.messages()
        # As if the sender had died after the gateway took the message but before it
        # wrote that down: the row is still `sending`, its lease long gone.
        with notify.env.db.transaction() as session:
            service.update_message(
                session,
                message.id,
                status="sending",
                provider_message_id=None,
                lease_until=datetime.now(UTC) - timedelta(minutes=1),
            )
        assert sender.send_due() == 1
    finally:
        sender.close()
    assert len(service_.phones.received(CUSTOMER)) == 1  # the gateway knew the message id
    assert service_.phones.sends() == 2
    (message,) = notify.messages()
    assert message.status in ("submitted", "sent", "delivered")
    assert message.provider_message_id == service_.phones.received(CUSTOMER)[0]["sid"]


def test_the_pass_recording_a_batch_claims_the_next_and_a_closing_sender_gives_it_back(
    live: Callable[..., Live],
) -> None:
    service_ = live(send_batch=1)
    notify = service_.notify
    for _ in range(3):
        notify.deliver(received_event())
    first, second, third = notify.messages()
    sender = notify.sender()
    try:
        assert sender.send_due() == 1  # the first; its outcome is recorded with the second's claim
        assert {m.id: m.status for m in notify.messages()}[second.id] == "sending"
        assert sender.send_due() == 1  # the second, claimed already; the third claimed
    finally:
        sender.close()  # the third never goes out with this sender: it is given back
    statuses = {m.id: m.status for m in notify.messages()}
    assert statuses[first.id] != "pending" and statuses[second.id] != "pending"
    assert statuses[third.id] == "pending"
    # One phone's messages went out in the order they were written.
    bodies = [m["body"] for m in service_.phones.received(CUSTOMER)]
    assert bodies == [first.body, second.body]

    again = notify.sender()
    try:
        assert again.send_due() == 1
    finally:
        again.close()
    assert len(service_.phones.received(CUSTOMER)) == 3
    assert service_.phones.sends() == 3


def test_two_senders_at_once_send_each_message_once(live: Callable[..., Live]) -> None:
    """What running notify's worker twice relies on: the senders' claims never overlap."""
    service_ = live(send_batch=4)
    notify = service_.notify
    phones = [f"+86139{n:08d}" for n in range(40)]
    for phone in phones:
        notify.deliver(received_event(customer_phone=phone))
    senders = [notify.sender(), notify.sender()]
    sent = [0, 0]
    barrier = threading.Barrier(2)

    def drain(i: int) -> None:
        barrier.wait()
        idle = 0
        while idle < 3:  # the other may still hold claims it gives back when done
            n = senders[i].send_due()
            sent[i] += n
            idle = idle + 1 if n == 0 else 0

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        for sender in senders:
            sender.close()
    assert sum(sent) == len(phones)
    assert all(n > 0 for n in sent), f"both senders should have had work: {sent}"
    assert service_.phones.sends() == len(phones)
    assert all(len(service_.phones.received(phone)) == 1 for phone in phones)
    assert {m.status for m in notify.messages()} <= {"sent", "delivered"}


# -- customer SMS held for the night, checked again when their hour comes -----------------

NIGHT = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
MORNING = datetime(2026, 11, 23, 0, 0, 30, tzinfo=UTC)  # just after 08:00


def at_night(notify: Notify, envelope: Envelope, when: datetime = NIGHT) -> None:
    """Plan an event as notify's consumer would have at `when`."""
    with notify.env.db.transaction() as session:
        if envelope.type == "complaint.received":
            planning.on_complaint_received(
                session,
                notify.ctx,
                ComplaintReceived.model_validate(envelope.payload),
                event_id=str(envelope.event_id),
                now=when,
            )
        else:
            planning.on_lifecycle_changed(
                session,
                notify.ctx,
                envelope.type,
                LifecycleChanged.model_validate(envelope.payload),
                event_id=str(envelope.event_id),
                now=when,
            )


def in_the_morning(notify: Notify) -> None:
    sender = notify.sender(clock=ManualClock(MORNING))
    try:
        while sender.send_due():
            pass
    finally:
        sender.close()


def replied(received: Envelope, seq: int, resolution: str = "已退还多扣的 30 元") -> Envelope:
    return lifecycle_event(
        "complaint.replied",
        received,
        [recipient("customer", CUSTOMER)],
        action="reply",
        from_state="in_progress",
        to_state="replied",
        history_seq=seq,
        resolution=resolution,
    )


def test_a_satisfaction_question_held_for_the_night_is_cancelled_once_the_customer_answered(
    live: Callable[..., Live],
) -> None:
    service_ = live(quiet_hours_start="22:00", quiet_hours_end="08:00")
    notify = service_.notify
    received = received_event()
    at_night(notify, received)
    at_night(notify, replied(received, 5))
    # At 07:40 the follow-up call reaches the customer, who is satisfied: it closes.
    closed = lifecycle_event(
        "complaint.closed",
        received,
        [],
        action="feedback",
        from_state="replied",
        to_state="closed",
        history_seq=6,
    )
    at_night(notify, closed, NIGHT + timedelta(hours=8, minutes=10))
    assert {m.held_reason for m in notify.messages()} == {"quiet_hours"}

    in_the_morning(notify)
    by_template = {m.template: m for m in notify.messages()}
    # The acknowledgement and the question are no longer true; the closure is.
    assert (
        by_template["customer_received"].status,
        by_template["customer_received"].cancel_reason,
    ) == (
        "cancelled",
        "complaint_closed",
    )
    assert (
        by_template["customer_replied"].status,
        by_template["customer_replied"].cancel_reason,
    ) == (
        "cancelled",
        "complaint_closed",
    )
    (sent,) = service_.phones.received(CUSTOMER)
    assert sent["body"] == by_template["customer_closed"].body
    assert service_.phones.sends() == 1


def test_a_question_overtaken_by_a_reopening_and_a_new_answer_is_asked_once(
    live: Callable[..., Live],
) -> None:
    service_ = live(quiet_hours_start="22:00", quiet_hours_end="08:00")
    notify = service_.notify
    received = received_event()
    at_night(notify, received)
    at_night(notify, replied(received, 5, "已退款"))
    # The duty manager finds the answer wrong, reopens it; the department answers again.
    at_night(
        notify,
        lifecycle_event(
            "complaint.reopened",
            received,
            [],
            action="reopen",
            from_state="replied",
            to_state="dispatched",
            history_seq=6,
        ),
        NIGHT + timedelta(minutes=20),
    )
    at_night(notify, replied(received, 9, "已退款并补偿 10 元话费"), NIGHT + timedelta(hours=1))
    in_the_morning(notify)
    first, second = [m for m in notify.messages() if m.template == "customer_replied"]
    assert (first.status, first.cancel_reason) == ("cancelled", "superseded")
    assert second.status != "cancelled"
    bodies = [m["body"] for m in service_.phones.received(CUSTOMER)]
    assert len(bodies) == 2 and "补偿 10 元话费" in bodies[1]  # the acknowledgement, the new answer


def test_a_customer_who_opted_out_during_the_night_gets_nothing_held_for_the_morning(
    live: Callable[..., Live],
) -> None:
    service_ = live(quiet_hours_start="22:00", quiet_hours_end="08:00")
    notify = service_.notify
    at_night(notify, received_event())
    with notify.env.db.transaction() as session:
        service.opt_out(session, phone=CUSTOMER, keyword="退订", now=NIGHT + timedelta(hours=1))
    in_the_morning(notify)
    (message,) = notify.messages()
    assert (message.status, message.cancel_reason) == ("cancelled", "opted_out")
    assert service_.phones.received(CUSTOMER) == []


def test_a_message_held_for_the_night_that_still_holds_goes_out_in_the_morning(
    live: Callable[..., Live],
) -> None:
    service_ = live(quiet_hours_start="22:00", quiet_hours_end="08:00")
    notify = service_.notify
    received = received_event()
    at_night(notify, received)
    at_night(
        notify,
        lifecycle_event(
            "complaint.assigned", received, [recipient("duty_manager", "+8613900139001", "DM01")]
        ),
    )
    in_the_morning(notify)
    assert [m["body"] for m in service_.phones.received(CUSTOMER)] == [
        m.body for m in notify.messages(phone=CUSTOMER)
    ]
    assert notify.messages(phone=CUSTOMER)[0].status != "cancelled"


@pytest.mark.parametrize(("provider", "phone_receives"), [("twilio", 1), ("dev", 2)])
def test_a_send_whose_answer_was_cut_is_looked_up_before_it_is_sent_again(
    live: Callable[..., Live], provider: str, phone_receives: int
) -> None:
    """At a provider that sends every request it takes (Twilio's way), a lost answer is
    looked up in its list; a sender that trusts the provider to know a resend (`dev`)
    sends the customer the same SMS twice."""
    service_ = live(
        provider=provider,
        gateway_deduplicate=False,
        gateway_drop_share=1.0,
        # No status report comes before the sender tries again.
        gateway_delivery_delay=30.0,
    )
    notify = service_.notify
    notify.deliver(received_event())
    sender = notify.sender()
    try:
        assert sender.send_due() == 1
        (message,) = notify.messages()
        assert "RemoteProtocolError" in message.last_error
        assert message.status == ("unknown" if provider == "twilio" else "pending")
        with notify.env.db.transaction() as session:
            service.update_message(session, message.id, due_at=datetime.now(UTC))
        assert sender.send_due() == 1
    finally:
        sender.close()
    assert len(service_.phones.received(CUSTOMER)) == phone_receives


class _Phone:
    """A provider whose sends to one phone must meet: two sends in flight at once pass
    the barrier, one alone waits for the other until it gives up."""

    name = "dev"
    idempotent = True

    def __init__(self, parties: int) -> None:
        self.barrier = threading.Barrier(parties, timeout=5)
        self.order: list[str] = []

    def send(self, client: object, message: object) -> object:
        from services.notify.providers.base import Submitted, TransientSendError

        try:
            self.barrier.wait()
        except threading.BrokenBarrierError:
            raise TransientSendError("sent alone: the other message waited its turn") from None
        self.order.append(message.message_id)  # type: ignore[attr-defined]
        return Submitted(provider_message_id=f"SM{message.message_id}")  # type: ignore[attr-defined]


def test_a_duty_manager_told_of_two_complaints_gets_both_at_once(notify: Notify) -> None:
    # The same phone, two complaints: their messages go out side by side, not in a line.
    for _ in range(2):
        notify.deliver(received_event(complaint_id=str(uuid.uuid4())))
    provider = _Phone(parties=2)
    sender = Sender(notify.env.db, notify.ctx, provider)  # type: ignore[arg-type]
    try:
        assert sender.send_due() == 2
    finally:
        sender.close()
    assert {m.status for m in notify.messages()} == {"submitted"}, notify.messages()


class _SlowFirst:
    """A provider slow to take the first message it is given: were the second sent beside
    it, the second would be taken first."""

    name = "dev"
    idempotent = True

    def __init__(self) -> None:
        self.order: list[str] = []
        self.lock = threading.Lock()

    def send(self, client: object, message: object) -> object:
        from services.notify.providers.base import Submitted

        message_id = message.message_id  # type: ignore[attr-defined]
        with self.lock:
            first = not self.order and not getattr(self, "started", False)
            self.started = True
        if first:
            time.sleep(0.5)
        with self.lock:
            self.order.append(message_id)
        return Submitted(provider_message_id=f"SM{message_id}")


def test_a_phones_messages_about_one_complaint_go_in_the_order_written(notify: Notify) -> None:
    received = received_event()
    notify.deliver(received)
    # The acknowledgement of registration, then the department's reply.
    notify.deliver(
        lifecycle_event(
            "complaint.replied",
            received,
            [recipient("customer", CUSTOMER)],
            action="reply",
            to_state="replied",
            history_seq=5,
            resolution="已退还多扣的 30 元",
        )
    )
    complaint = received.payload["complaint_id"]
    written = [m.id for m in notify.messages(complaint_id=complaint)]
    assert len(written) == 2
    provider = _SlowFirst()
    sender = Sender(notify.env.db, notify.ctx, provider)  # type: ignore[arg-type]
    try:
        assert sender.send_due() == 2
    finally:
        sender.close()
    assert provider.order == written
