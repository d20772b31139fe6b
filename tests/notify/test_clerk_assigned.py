"""A complaint at billing given to one of its clerks — by the head, the duty desk or the
department's rota — is texted to that clerk's own phone, in the reader's language. Their
phone is a person's, never taken for one of the department's contacts (where the alerts
about no one complaint go)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.notify.messages import service
from shared.vocabulary import EventName
from tests.notify.conftest import (
    BILLING_DESK,
    CLERK,
    Notify,
    lifecycle_event,
    received_event,
    recipient,
)

pytestmark = pytest.mark.postgres

DUE = datetime(2026, 12, 5, 6, 30, tzinfo=UTC)  # 14:30 at the centre


def given_to(received: Any, phone: str, event: str = EventName.CLERK_ASSIGNED) -> Any:
    """Escalation's event: billing's head gave the complaint to clerk B07."""
    return lifecycle_event(
        event,
        received,
        [recipient("department", phone, "B07")] if event == EventName.CLERK_ASSIGNED else [],
        action="assign-clerk" if event == EventName.CLERK_ASSIGNED else "release",
        from_state="dispatched",
        to_state="dispatched",
        holder_staff_id="B07" if event == EventName.CLERK_ASSIGNED else None,
        holder_role="department",
        department_id="billing",
        department_name="账务部",
        due_at=DUE,
        details={"clerk": "B07", "previous_clerk": None},
    )


def test_a_clerk_given_a_complaint_is_texted_on_their_own_phone(notify: Notify) -> None:
    received = received_event(description="上月话费账单多扣了 30 元，客服一直没有回复。")
    notify.deliver(received)
    notify.deliver(given_to(received, CLERK))
    (sms,) = notify.messages(phone=CLERK)
    reference = received.payload["reference"]
    assert sms.template == "staff_clerk_assigned"
    assert (sms.staff_id, sms.audience, sms.department_id) == ("B07", "department", "billing")
    assert sms.body.startswith(f"分派给您 {reference}（一般/账单计费），账务部，期限 12-05 14:30：")
    assert "上月话费账单多扣了 30 元" in sms.body
    assert sms.body.endswith(f"办理：http://127.0.0.1:8000/c/{reference}")
    assert sms.reply_kind is None  # taken on the workbench, not acknowledged by reply
    # Nobody else: not the department's desk, not the customer.
    told = notify.messages(event_type=EventName.CLERK_ASSIGNED)
    assert [m.phone for m in told] == [CLERK]


def test_it_reads_the_same_in_english_to_a_clerk_abroad(
    make_notify: Callable[..., Notify],
) -> None:
    notify = make_notify(sms_allowed_countries=["CN", "GB"])
    abroad = "+447700900456"
    received = received_event()
    notify.deliver(received)
    notify.deliver(given_to(received, abroad))
    (sms,) = notify.messages(phone=abroad)
    reference = received.payload["reference"]
    assert sms.body.startswith(f"Assigned to you: {reference} (normal/Billing), 账务部, due 12-05")
    assert sms.body.endswith(f". http://127.0.0.1:8000/c/{reference}")


def test_a_clerks_phone_is_never_learned_as_the_departments_contact(notify: Notify) -> None:
    received = received_event()
    notify.deliver(received)
    dispatched = lifecycle_event(
        "complaint.dispatched",
        received,
        [recipient("department", BILLING_DESK)],
        to_state="dispatched",
        department_id="billing",
        department_name="账务部",
        history_seq=3,
    )
    notify.deliver(dispatched)
    later = given_to(received, CLERK)
    later = later.model_copy(update={"occurred_at": datetime.now(UTC) + timedelta(minutes=1)})
    notify.deliver(later)
    with notify.env.db.read() as session:
        known = service.department_contacts_of(session, ["billing"])
    assert list(known["billing"].phones) == [BILLING_DESK]


def test_giving_a_complaint_back_to_the_queue_texts_nobody(notify: Notify) -> None:
    received = received_event()
    notify.deliver(received)
    assert notify.deliver(given_to(received, CLERK, EventName.CLERK_RELEASED))
    assert [m.template for m in notify.messages()] == ["customer_received"]
