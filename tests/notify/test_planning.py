"""Which SMS each event plans, to whom, in which language — stored before anything is
sent, once per event, recipient and template."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.notify.messages import planning
from services.notify.messages.digests import send_digests
from shared.contracts import ComplaintReceived
from tests.notify.conftest import (
    BILLING_DESK,
    BILLING_HEAD,
    CLERK,
    CUSTOMER,
    DM01,
    DM02,
    FOREIGN_CUSTOMER,
    SUPERVISOR,
    Notify,
    handed_over_event,
    lifecycle_event,
    received_event,
    recipient,
)

pytestmark = pytest.mark.postgres


def only(rows: list[Any]) -> Any:
    assert len(rows) == 1, [(r.template, r.phone) for r in rows]
    return rows[0]


def test_a_registered_complaint_acknowledges_the_customer_with_the_reference(
    notify: Notify,
) -> None:
    received = received_event()
    assert notify.deliver(received)
    sms = only(notify.messages())
    assert (sms.phone, sms.template, sms.language) == (CUSTOMER, "customer_received", "zh-CN")
    assert received.payload["reference"] in sms.body
    assert sms.status == "pending"
    assert (sms.encoding, sms.segments) == ("UCS-2", 1)  # one part: 70 units at most
    assert sms.reply_kind is None


def test_a_customer_abroad_is_written_to_in_english(notify: Notify) -> None:
    assert notify.deliver(received_event(customer_phone=FOREIGN_CUSTOMER))
    sms = only(notify.messages())
    assert (sms.phone, sms.language, sms.encoding) == (FOREIGN_CUSTOMER, "en", "GSM-7")
    assert sms.body.startswith("Your complaint has been registered, reference TS")


def test_an_imported_complaint_sends_the_customer_nothing(notify: Notify) -> None:
    assert notify.deliver(received_event(imported=True))
    assert notify.deliver(received_event(customer_phone=None, customer_ref="OLD-1"))
    assert notify.messages() == []


def test_the_duty_manager_gets_a_new_complaint_with_masked_phone_and_how_to_reply(
    notify: Notify,
) -> None:
    received = received_event(severity="urgent")
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(
            "complaint.assigned",
            received,
            # The customer entry is answered by the acknowledgement on registration.
            [recipient("duty_manager", DM01, "DM01"), recipient("customer", CUSTOMER)],
            from_state="received",
            holder_staff_id="DM01",
        )
    )
    sms = only(notify.messages(phone=DM01))
    reference = received.payload["reference"]
    assert sms.template == "staff_assigned"
    assert sms.body.startswith(
        f"【紧急】新投诉 {reference}（特急/账单计费），客户 +86138****8000："
    )
    assert "上月话费账单多扣了 30 元" in sms.body
    assert sms.body.endswith("回复1确认受理。")
    assert (sms.urgent, sms.reply_kind, sms.staff_id) == (True, "ack", "DM01")
    assert len(notify.messages(phone=CUSTOMER)) == 1  # the acknowledgement only


def test_strong_emotion_marks_a_normal_complaint_urgent(notify: Notify) -> None:
    received = received_event(strong_emotion=True)
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(
            "complaint.assigned",
            received,
            [recipient("duty_manager", DM01, "DM01")],
            strong_emotion=True,
        )
    )
    sms = only(notify.messages(phone=DM01))
    assert sms.urgent
    assert sms.body.startswith("【紧急】")


@pytest.mark.parametrize(
    ("event_type", "audience", "phone", "template", "fields", "expected"),
    [
        (
            "complaint.dispatched",
            "department",
            BILLING_DESK,
            "staff_dispatched",
            {"department_id": "billing", "details": {"instructions": "核对 11 月账单，多扣即退"}},
            "核对 11 月账单，多扣即退。请登录系统签收。",
        ),
        (
            "complaint.urged",
            "department",
            CLERK,
            "staff_urged",
            {"reason": "acceptance overdue", "due_at": datetime(2026, 11, 23, 1, 30, tzinfo=UTC)},
            "期限 11-23 09:30：acceptance overdue。请尽快处理。",
        ),
        (
            "complaint.escalated",
            "department_head",
            BILLING_HEAD,
            "staff_escalated",
            {"escalation_level": 2, "reason": "resolution overdue"},
            "已升级至第2级：resolution overdue。",
        ),
        (
            "complaint.extension_requested",
            "duty_manager",
            DM01,
            "staff_extension_requested",
            {
                "department_id": "billing",
                "reason": "等待银行流水",
                "details": {"until": "2026-11-25T10:00:00+00:00"},
            },
            "billing 申请投诉 {ref} 延期至 11-25 18:00：等待银行流水。请登录系统审批。",
        ),
        (
            "complaint.returned",
            "duty_manager",
            DM01,
            "staff_returned",
            {"department_id": "billing", "reason": "不是账务问题"},
            "被 billing 退回：不是账务问题。回复1确认。",
        ),
        (
            "complaint.handed_over",
            "duty_manager",
            DM02,
            "staff_handed_over",
            {},
            "已转交给您",
        ),
    ],
)
def test_each_lifecycle_event_tells_its_people_in_their_words(
    notify: Notify,
    event_type: str,
    audience: str,
    phone: str,
    template: str,
    fields: dict[str, Any],
    expected: str,
) -> None:
    received = received_event(severity="high")
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(event_type, received, [recipient(audience, phone, "S1")], **fields)
    )
    sms = only(notify.messages(phone=phone))
    assert sms.template == template
    assert sms.event_type == event_type
    reference = received.payload["reference"]
    assert reference in sms.body
    assert expected.format(ref=reference) in sms.body
    assert sms.language == "zh-CN"
    assert sms.segments <= notify.config.max_segments


def test_the_customer_gets_the_resolution_and_the_satisfaction_question_then_the_closure(
    notify: Notify,
) -> None:
    received = received_event(customer_phone=FOREIGN_CUSTOMER)
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(
            "complaint.replied",
            received,
            [recipient("customer", FOREIGN_CUSTOMER), recipient("duty_manager", DM01, "DM01")],
            to_state="replied",
            resolution="We refunded the 30 yuan charged twice.",
        )
    )
    notify.deliver(lifecycle_event("complaint.closed", received, [], to_state="closed"))
    to_customer = notify.messages(phone=FOREIGN_CUSTOMER)
    assert [m.template for m in to_customer] == [
        "customer_received",
        "customer_replied",
        "customer_closed",
    ]
    question = to_customer[1]
    reference = received.payload["reference"]
    assert question.body == (
        f"Your complaint {reference}: We refunded the 30 yuan charged twice.. "
        "Reply 1 if you are satisfied, 2 if not."
    )
    assert question.reply_kind == "feedback"
    assert to_customer[2].body.startswith(f"Your complaint {reference} is closed.")
    staff = only(notify.messages(phone=DM01))
    assert staff.template == "staff_replied"


def test_the_incoming_duty_manager_gets_one_hand_over_summary(notify: Notify) -> None:
    event = handed_over_event(
        recipient("duty_manager", DM02, "DM02"),
        [("TS20261122-000001", "urgent"), ("TS20261122-000002", "normal")],
    )
    assert notify.deliver(event)
    sms = only(notify.messages())
    assert (sms.phone, sms.template, sms.complaint_id) == (DM02, "staff_shift_handover", None)
    assert sms.body.startswith("交接班：2 件未结投诉转由您负责（特急/加急 1 件")
    assert "TS20261122-000001, TS20261122-000002" in sms.body


def test_a_redelivered_event_plans_nothing_new(notify: Notify) -> None:
    received = received_event()
    assigned = lifecycle_event("complaint.assigned", received, [recipient("duty_manager", DM01)])
    for event in (received, assigned):
        assert notify.deliver(event)
    before = [(m.id, m.template, m.phone) for m in notify.messages()]
    assert len(before) == 2
    for event in (received, assigned):
        assert not notify.deliver(event)  # the inbox turns it away
    # And if the inbox were bypassed (a replay under another consumer name), each message
    # still has its key: one per event, recipient and template.
    with notify.env.db.transaction() as session:
        stored = planning.on_complaint_received(
            session,
            notify.ctx,
            ComplaintReceived.model_validate(received.payload),
            event_id=str(received.event_id),
            now=datetime.now(UTC),
        )
    assert stored == []
    assert [(m.id, m.template, m.phone) for m in notify.messages()] == before


def test_customer_messages_wait_for_the_end_of_quiet_hours_and_staff_urgent_do_not(
    make_notify: Any,
) -> None:
    notify: Notify = make_notify(quiet_hours_start="22:00", quiet_hours_end="08:00")
    night = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    received = received_event(severity="urgent")
    with notify.env.db.transaction() as session:
        planning.on_complaint_received(
            session,
            notify.ctx,
            ComplaintReceived.model_validate(received.payload),
            event_id=str(received.event_id),
            now=night,
        )
        assigned = lifecycle_event(
            "complaint.assigned", received, [recipient("duty_manager", DM01, "DM01")]
        )
        planning.on_lifecycle_changed(
            session,
            notify.ctx,
            assigned.type,
            notify_payload(assigned),
            event_id=str(assigned.event_id),
            now=night,
        )
    customer = only(notify.messages(phone=CUSTOMER))
    assert customer.status == "pending"  # delayed, never dropped
    assert customer.held_reason == "quiet_hours"
    assert customer.due_at == datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    staff = only(notify.messages(phone=DM01))
    assert (staff.due_at, staff.held_reason) == (night, None)


def test_a_customer_who_opted_out_gets_no_more_customer_sms_but_staff_still_do(
    notify: Notify,
) -> None:
    from services.notify.messages import service

    with notify.env.db.transaction() as session:
        service.opt_out(session, phone=CUSTOMER, keyword="退订", now=datetime.now(UTC))
    received = received_event()
    notify.deliver(received)
    notify.deliver(
        lifecycle_event("complaint.assigned", received, [recipient("supervisor", SUPERVISOR)])
    )
    customer = only(notify.messages(phone=CUSTOMER))
    assert (customer.status, customer.held_reason) == ("suppressed", "opted_out")
    assert only(notify.messages(phone=SUPERVISOR)).status == "pending"


def test_a_flood_of_notices_to_one_duty_manager_is_merged_into_a_digest(
    make_notify: Any,
) -> None:
    notify: Notify = make_notify(staff_rate_limit=2, staff_rate_window_seconds=60)
    references = []
    for n in range(5):
        received = received_event(severity="urgent" if n == 4 else "normal")
        references.append(received.payload["reference"])
        notify.deliver(
            lifecycle_event(
                "complaint.urged",
                received,
                [recipient("duty_manager", DM01, "DM01")],
                strong_emotion=False,
                severity="urgent" if n == 4 else "normal",
            )
        )
    statuses = [m.status for m in notify.messages(phone=DM01)]
    # Two within the limit, two held for the digest, and the urgent one never held.
    assert statuses == ["pending", "pending", "held", "held", "pending"]
    with notify.env.db.transaction() as session:
        assert send_digests(session, notify.ctx, now=datetime.now(UTC)) == []  # too soon
    later = datetime.now(UTC) + timedelta(seconds=61)
    with notify.env.db.transaction() as session:
        (digest_id,) = send_digests(session, notify.ctx, now=later)
    rows = notify.messages(phone=DM01)
    digest = next(m for m in rows if m.id == digest_id)
    assert digest.template == "staff_digest"
    assert digest.body.startswith("您有 2 条投诉通知")
    assert f"{references[2]}, {references[3]}" in digest.body
    assert [m.status for m in rows if m.digest_id == digest_id] == ["digested", "digested"]


def notify_payload(envelope: Any) -> Any:
    from shared.contracts import LifecycleChanged

    return LifecycleChanged.model_validate(envelope.payload)
