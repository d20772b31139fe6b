"""A complaint answered on the line and closed with the caller's word (当场解答): the caller
hears that it is closed and is never asked whether they are satisfied — they said so on
the phone — and the duty manager's request to acknowledge it is over."""

from __future__ import annotations

import pytest

from tests.notify.conftest import CUSTOMER, DM01, Notify, lifecycle_event, received_event, recipient

pytestmark = pytest.mark.postgres


def test_the_caller_answered_at_first_contact_is_told_it_is_closed_and_asked_nothing(
    notify: Notify,
) -> None:
    received = received_event(answered_from_article=7)
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(
            "complaint.assigned",
            received,
            [recipient("duty_manager", DM01, "DM01")],
            history_seq=1,
        )
    )
    notify.deliver(
        lifecycle_event(
            "complaint.closed",
            received,
            [],
            action="resolve-at-first-contact",
            from_state="with_duty_manager",
            to_state="closed",
            history_seq=2,
            resolution="A市不在国家集中供暖范围内，目前没有统一供暖的规划。",
            closure_reason="first_contact",
        )
    )
    to_customer = notify.messages(phone=CUSTOMER)
    assert [m.template for m in to_customer] == ["customer_received", "customer_closed"]
    assert all(m.reply_kind is None for m in to_customer)
    reference = received.payload["reference"]
    assert to_customer[1].body == f"您的投诉（{reference}）已办结，感谢您的支持。"
    # The duty manager was asked to acknowledge it; that question is settled now, so a
    # "1" from them is not taken for this complaint.
    [prompt] = notify.messages(phone=DM01)
    assert prompt.template == "staff_assigned" and prompt.reply_kind == "ack"
    assert prompt.answered_at is not None
    assert all(m.template != "customer_replied" for m in notify.messages())
