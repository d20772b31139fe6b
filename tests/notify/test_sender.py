"""The sender against the development gateway as a real HTTP server: refusals are final,
held messages wait, and a message whose sender died mid-call is not sent twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from services.notify.messages import service
from shared.contracts import SMS_FAILED
from shared.topics import SMS_EVENTS, dlq
from tests.notify.conftest import CUSTOMER, Live, received_event

pytestmark = pytest.mark.postgres


def test_a_number_the_provider_refuses_fails_at_once_without_retrying(
    live: Callable[..., Live],
) -> None:
    service_ = live()
    notify = service_.notify
    notify.deliver(received_event(customer_phone="+12"))
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
