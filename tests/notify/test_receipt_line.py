"""The provider's delivery receipts arriving together are recorded together: one
transaction for the calls that came while the last was being written, each call answered
only once its receipts are committed, and a call that cannot be recorded failed alone."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import update

from services.notify.messages.service import messages
from services.notify.providers.base import Receipt
from services.notify.webhooks.receipts import ReceiptLine
from shared.contracts import SMS_DELIVERED, SMS_FAILED
from tests.notify.conftest import Notify, received_event

pytestmark = pytest.mark.postgres


def sent_messages(notify: Notify, count: int) -> list[Any]:
    """`count` customers' acknowledgements, handed to the provider (its id known)."""
    for _ in range(count):
        notify.deliver(received_event(customer_phone=f"+86138{uuid.uuid4().int % 10**8:08d}"))
    rows = notify.messages(direction="out", template="customer_received")
    with notify.env.db.transaction() as session:
        for row in rows:
            session.execute(
                update(messages)
                .where(messages.c.id == row.id)
                .values(status="submitted", provider="twilio", provider_message_id="SM" + row.id)
            )
    return notify.messages(direction="out", template="customer_received")


def line_of(notify: Notify) -> ReceiptLine:
    return ReceiptLine(notify.env.db, notify.ctx, "twilio")


def receipt(message: Any, state: str, **fields: Any) -> Receipt:
    return Receipt(
        provider_message_id=message.provider_message_id,
        state=state,  # type: ignore[arg-type]
        message_id=message.id,
        raw_status=state,
        **fields,
    )


async def calls(line: ReceiptLine, batches: list[list[Receipt]]) -> list[Any]:
    return await asyncio.gather(*(line.record(b) for b in batches), return_exceptions=True)


def test_sixty_calls_at_once_are_committed_in_a_few_transactions_each_answered_after(
    notify: Notify,
) -> None:
    sent = sent_messages(notify, 30)
    line = line_of(notify)
    # Each message's `sent` and `delivered`, in the order a busy provider sends them.
    batches = [[receipt(m, "sent")] for m in sent] + [[receipt(m, "delivered")] for m in sent]
    answers = asyncio.run(calls(line, batches))
    assert answers == [None] * 60
    assert {m.status for m in notify.messages(direction="out", template="customer_received")} == {
        "delivered"
    }
    delivered = [e for e in notify.events() if e.type == SMS_DELIVERED.name]
    assert sorted(e.payload["message_id"] for e in delivered) == sorted(m.id for m in sent)
    # The first call alone (nothing was being written), the other 59 while it was.
    assert line.calls == 60
    assert line.transactions <= 3, line.transactions


def test_a_sent_and_a_delivered_arriving_together_end_delivered_whatever_their_order(
    notify: Notify,
) -> None:
    first, second = sent_messages(notify, 2)
    line = line_of(notify)
    asyncio.run(
        calls(
            line,
            [
                [receipt(first, "delivered")],
                [receipt(second, "delivered")],
                [receipt(first, "sent")],
                [receipt(second, "sent")],
            ],
        )
    )
    assert [m.status for m in notify.messages(direction="out", template="customer_received")] == [
        "delivered",
        "delivered",
    ]
    assert len([e for e in notify.events() if e.type == SMS_DELIVERED.name]) == 2


def test_a_failure_keeps_its_reason_and_a_message_learns_its_provider_id_from_a_receipt(
    notify: Notify,
) -> None:
    failing, unaware = sent_messages(notify, 2)
    with notify.env.db.transaction() as session:
        # The provider's answer to our send was lost: we do not know its id yet.
        session.execute(
            update(messages)
            .where(messages.c.id == unaware.id)
            .values(status="unknown", provider=None, provider_message_id=None)
        )
    line = line_of(notify)
    asyncio.run(
        calls(
            line,
            [
                [receipt(failing, "failed", error="undelivered (error 30003)")],
                [
                    Receipt(
                        provider_message_id="SMlearned",
                        state="delivered",
                        message_id=unaware.id,
                        raw_status="delivered",
                    )
                ],
            ],
        )
    )
    by_id = {m.id: m for m in notify.messages(direction="out", template="customer_received")}
    assert (by_id[failing.id].status, by_id[failing.id].last_error) == (
        "failed",
        "undelivered (error 30003)",
    )
    assert (by_id[unaware.id].status, by_id[unaware.id].provider_message_id) == (
        "delivered",
        "SMlearned",
    )
    (failed,) = [e for e in notify.events() if e.type == SMS_FAILED.name]
    assert failed.payload["error"] == "undelivered (error 30003)"


def test_a_call_that_cannot_be_recorded_fails_alone_and_the_others_are_answered(
    notify: Notify,
) -> None:
    sent = sent_messages(notify, 6)
    line = line_of(notify)
    bad = [receipt(sent[3], "lost in space")]  # no state a message can be in
    batches = [[receipt(m, "delivered")] for m in sent[:3]] + [bad]
    batches += [[receipt(m, "delivered")] for m in sent[4:]]
    answers = asyncio.run(calls(line, batches))
    assert [a is None for a in answers] == [True, True, True, False, True, True]
    assert isinstance(answers[3], KeyError)
    status = {
        m.id: m.status for m in notify.messages(direction="out", template="customer_received")
    }
    assert [status[m.id] for m in sent] == ["delivered"] * 3 + ["submitted"] + ["delivered"] * 2
