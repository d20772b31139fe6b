"""Which SMS each event plans, to whom, in which language — stored before anything is
sent, once per event, recipient and template."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.notify.messages import planning
from services.notify.messages.digests import send_digests
from shared.contracts import ComplaintReceived, Recipient
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


def test_a_customer_abroad_is_written_to_in_english_where_the_centre_texts_that_country(
    make_notify: Callable[..., Notify],
) -> None:
    notify = make_notify(sms_allowed_countries=["CN", "GB"])
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
    assert sms.body.endswith(f"回复1确认受理。详情：http://127.0.0.1:8000/c/{reference}")
    assert (sms.urgent, sms.reply_kind, sms.staff_id) == (True, "ack", "DM01")
    assert len(notify.messages(phone=CUSTOMER)) == 1  # the acknowledgement only


def test_an_imported_complaint_still_open_says_so_in_the_duty_managers_prompt(
    notify: Notify,
) -> None:
    received = received_event(imported=True)
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(
            "complaint.assigned",
            received,
            [recipient("duty_manager", DM01, "DM01")],
            from_state="received",
            holder_staff_id="DM01",
            details={"imported": True, "registered_at": "2020-03-18T08:00:00+08:00"},
        )
    )
    sms = only(notify.messages(phone=DM01))
    assert sms.body.startswith(f"【历史导入】新投诉 {received.payload['reference']}"), sms.body
    # A complaint registered today reads as before.
    fresh = received_event()
    notify.deliver(fresh)
    notify.deliver(
        lifecycle_event(
            "complaint.assigned",
            fresh,
            [recipient("duty_manager", DM01, "DM01")],
            from_state="received",
            holder_staff_id="DM01",
        )
    )
    bodies = [m.body for m in notify.messages(phone=DM01)]
    assert [b.startswith("【历史导入】") for b in bodies].count(True) == 1


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
            "核对 11 月账单，多扣即退。签收办理：http://127.0.0.1:8000/c/{ref}",
        ),
        (
            "complaint.urged",
            "department",
            CLERK,
            "staff_urged",
            {"reason": "请今天内签收", "due_at": datetime(2026, 11, 23, 1, 30, tzinfo=UTC)},
            "期限 11-23 09:30：请今天内签收。请尽快处理。",
        ),
        (
            "complaint.escalated",
            "department_head",
            BILLING_HEAD,
            "staff_escalated",
            {"escalation_level": 2, "reason": "多次督办仍未处理"},
            "已升级至第2级：多次督办仍未处理。请督促处理。",
        ),
        (
            "complaint.extension_requested",
            "duty_manager",
            DM01,
            "staff_extension_requested",
            {
                "department_id": "billing",
                "department_name": "账务部",
                "reason": "等待银行流水",
                "details": {"until": "2026-11-25T10:00:00+00:00"},
            },
            "账务部 申请投诉 {ref} 延期至 11-25 18:00：等待银行流水。审批：http://127.0.0.1:8000/c/{ref}",
        ),
        (
            "complaint.returned",
            "duty_manager",
            DM01,
            "staff_returned",
            {
                "department_id": "billing",
                "department_name": "账务部",
                "reason": "不是账务问题",
                "details": {"reason_code": "not_ours"},
            },
            "被 账务部 退回（非本部门职责）：不是账务问题。回复1确认。",
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
    make_notify: Callable[..., Notify],
) -> None:
    notify = make_notify(sms_allowed_countries=["CN", "GB"])
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
        f"Your complaint {reference}: We refunded the 30 yuan charged twice. "
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


def test_a_flood_of_notices_to_one_duty_manager_is_merged_into_a_digest_that_says_what_each_is(
    make_notify: Any,
) -> None:
    notify: Notify = make_notify(staff_rate_limit=2, staff_rate_window_seconds=60)
    references = []
    for n in range(5):
        received = received_event(severity="urgent" if n == 4 else "normal")
        references.append(received.payload["reference"])
        notify.deliver(received)
        notify.deliver(
            lifecycle_event(
                "complaint.urged",
                received,
                [recipient("duty_manager", DM01, "DM01")],
                strong_emotion=False,
                severity="urgent" if n == 4 else "normal",
                reason="请今天内回复客户",
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
    assert digest.body == (
        f"您有 2 条投诉通知：{references[2]}（账单计费）督办：请今天内回复客户；"
        f"{references[3]}（账单计费）督办：请今天内回复客户。详情：http://127.0.0.1:8000"
    )
    assert digest.reply_kind is None  # nothing in it asks to be acknowledged
    assert [m.status for m in rows if m.digest_id == digest_id] == ["digested", "digested"]


def test_new_complaint_prompts_in_a_digest_keep_what_they_are_and_can_still_be_answered(
    make_notify: Any,
) -> None:
    notify: Notify = make_notify(staff_rate_limit=1, staff_rate_window_seconds=60)
    received = [received_event(category=c) for c in ("billing", "network", "billing")]
    for event in received:
        notify.deliver(event)
        notify.deliver(
            lifecycle_event("complaint.assigned", event, [recipient("duty_manager", DM01, "DM01")])
        )
    assert [m.status for m in notify.messages(phone=DM01)] == ["pending", "held", "held"]
    with notify.env.db.transaction() as session:
        (digest_id,) = send_digests(
            session, notify.ctx, now=datetime.now(UTC) + timedelta(seconds=61)
        )
    (digest,) = notify.messages(id=digest_id)
    second, third = (e.payload["reference"] for e in received[1:])
    # Each new complaint is one line: reference, category, what it is, a few words of it.
    assert f"{second}（网络信号）新投诉：上月话费账单多扣了 30…" in digest.body
    assert f"{third}（账单计费）新投诉：上月话费账单多扣了 30…" in digest.body
    assert f"回复“1 编号”确认受理，如“1 {second}”。" in digest.body
    assert digest.reply_kind == "ack"


def test_a_digest_too_long_for_one_sms_goes_out_in_several_and_leaves_no_notice_out(
    make_notify: Any,
) -> None:
    notify: Notify = make_notify(staff_rate_limit=1, staff_rate_window_seconds=60, max_segments=2)
    references = []
    for _ in range(6):
        event = received_event()
        references.append(event.payload["reference"])
        notify.deliver(event)
        notify.deliver(
            lifecycle_event("complaint.assigned", event, [recipient("duty_manager", DM01, "DM01")])
        )
    with notify.env.db.transaction() as session:
        made = send_digests(session, notify.ctx, now=datetime.now(UTC) + timedelta(seconds=61))
    assert len(made) > 1
    digests = [notify.messages(id=d)[0] for d in made]
    for number, digest in enumerate(digests, start=1):
        assert digest.segments <= 2
        assert digest.body.startswith(f"您有 5 条投诉通知（短信 {number}/{len(made)}）：")
    # Every held notice is in exactly one of them, whole.
    for reference in references[1:]:
        assert sum(reference in d.body for d in digests) == 1
    assert "…；" not in "".join(d.body for d in digests)


def test_urgent_prompts_are_never_rate_limited_or_held(make_notify: Any) -> None:
    notify: Notify = make_notify(staff_rate_limit=1, staff_rate_window_seconds=600)
    for n in range(5):
        event = received_event(
            severity="urgent" if n in (1, 3) else "normal", strong_emotion=n == 2
        )
        notify.deliver(event)
        notify.deliver(
            lifecycle_event(
                "complaint.assigned",
                event,
                [recipient("duty_manager", DM01, "DM01")],
                strong_emotion=n == 2,
            )
        )
    sent = [(m.urgent, m.status) for m in notify.messages(phone=DM01)]
    # The first normal one uses the limit; the second normal one waits; the urgent ones
    # (by severity or by the caller's emotion) go at once, however many there are.
    assert sent == [
        (False, "pending"),
        (True, "pending"),
        (True, "pending"),
        (True, "pending"),
        (False, "held"),
    ]


def notify_payload(envelope: Any) -> Any:
    from shared.contracts import LifecycleChanged

    return LifecycleChanged.model_validate(envelope.payload)


# -- every SMS in the reader's own language ----------------------------------------------

REFERENCE_OR_LINK = re.compile(r"[A-Z]{1,4}\d{8}-\d{6}|https?://\S+")


def latin_words(body: str) -> list[str]:
    """The Latin words a Chinese SMS has besides its references and links."""
    return re.findall(r"[A-Za-z]{2,}", REFERENCE_OR_LINK.sub("", body))


BREACH = {
    "stage": "acceptance",
    "due_at": "2026-11-23T01:30:00+00:00",
    "step": 1,
    "late_minutes": 95,
}


def test_an_overdue_urge_is_worded_from_the_breach_facts_never_the_english_reason(
    notify: Notify,
) -> None:
    received = received_event()
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(
            "complaint.urged",
            received,
            [recipient("department", CLERK, "B07")],
            from_state="dispatched",
            to_state="dispatched",
            reason="acceptance deadline 2026-11-23T01:30+00:00 passed (95 min late)",
            details={"breach": BREACH, "level": 1},
        )
    )
    sms = only(notify.messages(phone=CLERK))
    reference = received.payload["reference"]
    assert sms.template == "staff_urged_overdue"
    assert sms.body == (
        f"超时督办 {reference}（一般/账单计费）：部门签收期限 11-23 09:30 已过，"
        f"已超时 1小时35分钟，请尽快处理。详情：http://127.0.0.1:8000/c/{reference}"
    )
    assert latin_words(sms.body) == []


def test_an_overdue_escalation_at_the_duty_desk_names_the_desks_own_handling_time(
    notify: Notify,
) -> None:
    received = received_event(severity="high")
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(
            "complaint.escalated",
            received,
            [recipient("supervisor", SUPERVISOR, "SV01")],
            escalation_level=2,
            reason="resolution deadline 2026-11-23T01:30+00:00 passed (3 h 0 min late)",
            details={"breach": {**BREACH, "stage": "resolution", "late_minutes": 180}},
        )
    )
    sms = only(notify.messages(phone=SUPERVISOR))
    assert sms.template == "staff_escalated_overdue"
    assert "（加急/账单计费）值班处置期限 11-23 09:30 已过（超时 3小时），已升级至第2级" in sms.body
    assert latin_words(sms.body) == []


def test_a_return_names_the_department_by_its_name_and_the_reason_code_by_its_label(
    notify: Notify,
) -> None:
    received = received_event()
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(
            "complaint.returned",
            received,
            [recipient("duty_manager", DM01, "DM01")],
            from_state="dispatched",
            department_id="fxroads",
            department_name="市交通运输局",
            reason="该路段归区里管",
            details={"reason_code": "not_ours"},
        )
    )
    sms = only(notify.messages(phone=DM01))
    assert "被 市交通运输局 退回（非本部门职责）：该路段归区里管。回复1确认。" in sms.body
    assert "fxroads" not in sms.body


def transferred_event(received: Any, phone: str) -> Any:
    """Billing sent it on to the roads office (转办): the new department's desk is told."""
    return lifecycle_event(
        "complaint.transferred",
        received,
        [recipient("department", phone)],
        from_state="in_progress",
        to_state="dispatched",
        department_id="fxroads",
        department_name="市交通运输局",
        reason="该路段归区里管",
        details={"from_department_id": "billing", "from_department_name": "账务部"},
    )


def test_a_transferred_complaint_tells_the_new_department_whence_it_came_and_why(
    notify: Notify,
) -> None:
    received = received_event()
    notify.deliver(received)
    notify.deliver(transferred_event(received, BILLING_DESK))
    sms = only(notify.messages(phone=BILLING_DESK))
    reference = received.payload["reference"]
    assert sms.template == "staff_transferred"
    assert sms.body.startswith(
        f"派单 {reference}（一般/账单计费），由账务部转办，客户 +86138****8000"
    )
    assert sms.body.endswith(f"：该路段归区里管。签收办理：http://127.0.0.1:8000/c/{reference}")
    assert sms.reply_kind is None  # accepted on the workbench, not acknowledged by reply
    assert sms.segments <= notify.config.max_segments


def test_a_transfer_reads_the_same_in_english_to_a_reader_abroad(
    make_notify: Callable[..., Notify],
) -> None:
    notify = make_notify(sms_allowed_countries=["CN", "GB"])
    abroad = "+447700900456"
    received = received_event()
    notify.deliver(received)
    notify.deliver(transferred_event(received, abroad))
    sms = only(notify.messages(phone=abroad))
    reference = received.payload["reference"]
    assert sms.body.startswith(f"Dispatched {reference} (normal/Billing), transferred from 账务部")
    assert f"Accept it: http://127.0.0.1:8000/c/{reference}" in sms.body


def test_a_satisfied_customer_whose_complaint_cannot_close_yet_is_told_to_staff_in_chinese(
    notify: Notify,
) -> None:
    received = received_event(nature="compensation")
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(
            "complaint.feedback_recorded",
            received,
            [recipient("duty_manager", DM01, "DM01")],
            action="feedback",
            from_state="replied",
            to_state="replied",
            summary="TS… [billing/normal] customer satisfied, not closed: a compensation …",
            details={
                "result": "satisfied",
                "closure_blocked": "a compensation resolution needs the loss verified first",
                "closure_blocked_by": "loss_not_verified",
            },
        )
    )
    sms = only(notify.messages(phone=DM01))
    assert sms.template == "staff_closure_blocked"
    assert "客户表示满意，但暂不能办结：需先核实损失并登记赔偿金额。" in sms.body
    assert latin_words(sms.body) == []


@pytest.mark.parametrize(
    ("details", "reason", "expected"),
    [
        ({"via": "feedback", "result": "unsatisfied"}, None, "重办（第1次）：客户对答复不满意。"),
        (
            {"via": "feedback", "result": "unsatisfied", "comment": "钱还没到账"},
            None,
            "重办（第1次）：客户对答复不满意：钱还没到账。",
        ),
        ({"via": "staff"}, "客户来电补充了新情况", "重办（第1次）：客户来电补充了新情况。"),
        ({"via": "staff"}, None, "重办（第1次）。"),
    ],
)
def test_a_reopening_says_why_and_a_missing_reason_leaves_no_placeholder(
    notify: Notify, details: dict[str, Any], reason: str | None, expected: str
) -> None:
    received = received_event()
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(
            "complaint.reopened",
            received,
            [recipient("department", BILLING_DESK)],
            action="feedback" if details["via"] == "feedback" else "reopen",
            from_state="replied",
            to_state="dispatched",
            reopen_count=1,
            reason=reason,
            details=details,
        )
    )
    sms = only(notify.messages(phone=BILLING_DESK))
    assert expected in sms.body
    assert "-" not in REFERENCE_OR_LINK.sub("", sms.body)


def test_every_time_in_an_sms_is_the_centres_local_time(notify: Notify) -> None:
    received = received_event()
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(
            "complaint.extension_decided",
            received,
            [recipient("department", CLERK, "B07")],
            from_state="in_progress",
            to_state="in_progress",
            due_at=datetime(2026, 11, 25, 16, 0, tzinfo=UTC),
            details={"decision": "approve", "requested_until": "2026-11-25T16:00:00+00:00"},
        )
    )
    notify.deliver(
        lifecycle_event(
            "complaint.dispatched",
            received,
            [recipient("department", BILLING_DESK)],
            to_state="dispatched",
            due_at=datetime(2026, 11, 23, 23, 45, tzinfo=UTC),
        )
    )
    decided = only(notify.messages(phone=CLERK))
    assert f"投诉 {received.payload['reference']} 延期至 11-26 00:00 的申请已批准。" in decided.body
    assert "，期限 11-24 07:45" in only(notify.messages(phone=BILLING_DESK)).body


def test_a_reader_abroad_gets_the_same_facts_in_english(
    make_notify: Callable[..., Notify],
) -> None:
    notify = make_notify(sms_allowed_countries=["CN", "GB"])
    abroad = "+447700900456"
    received = received_event()
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(
            "complaint.urged",
            received,
            [recipient("department", abroad, "B09")],
            from_state="dispatched",
            to_state="dispatched",
            reason="acceptance deadline passed",
            details={"breach": BREACH},
        )
    )
    sms = only(notify.messages(phone=abroad))
    reference = received.payload["reference"]
    assert sms.body == (
        f"Overdue: {reference} (normal/Billing): Department acceptance deadline 11-23 09:30 "
        f"passed, 1 h 35 min late. Please act now. http://127.0.0.1:8000/c/{reference}"
    )


def test_the_urgent_marker_and_the_severity_words_never_read_alike(notify: Notify) -> None:
    bodies = {}
    for severity in ("urgent", "high"):
        received = received_event(severity=severity)
        notify.deliver(received)
        notify.deliver(
            lifecycle_event(
                "complaint.assigned",
                received,
                [recipient("duty_manager", DM01, "DM01")],
                severity=severity,
            )
        )
        bodies[severity] = notify.messages(phone=DM01)[-1].body
    assert bodies["urgent"].startswith("【紧急】新投诉")
    assert "（特急/账单计费）" in bodies["urgent"]
    assert bodies["urgent"].count("紧急") == 1  # the marker, and no severity of that name
    assert "（加急/账单计费）" in bodies["high"]
    assert "紧急" not in bodies["high"]


# -- links to the workbench ----------------------------------------------------------------


@pytest.mark.parametrize("parts", [2, 3])
def test_staff_sms_link_to_the_complaint_on_the_workbench_and_the_link_is_never_cut(
    make_notify: Any, parts: int
) -> None:
    notify: Notify = make_notify(
        workbench_url="https://workbench.hotline.example/", max_segments=parts
    )
    received = received_event(description="客户称上月话费账单多扣了 30 元，多次致电未果。" * 8)
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(
            "complaint.dispatched",
            received,
            [recipient("department", BILLING_DESK)],
            to_state="dispatched",
            details={"instructions": "核对账单，多扣即退，并向客户致歉说明原因。" * 6},
        )
    )
    sms = only(notify.messages(phone=BILLING_DESK))
    reference = received.payload["reference"]
    assert sms.body.endswith(f"签收办理：https://workbench.hotline.example/c/{reference}")
    assert "…" in sms.body  # the instructions were cut, the link was not
    assert sms.segments <= parts
    assert "请登录系统" not in sms.body


def test_without_a_workbench_address_staff_sms_carry_no_link_and_no_dangling_words(
    make_notify: Any,
) -> None:
    notify: Notify = make_notify(workbench_url="")
    received = received_event()
    notify.deliver(received)
    notify.deliver(
        lifecycle_event("complaint.assigned", received, [recipient("duty_manager", DM01, "DM01")])
    )
    assert only(notify.messages(phone=DM01)).body.endswith("回复1确认受理。")


# -- callers who cannot receive SMS ----------------------------------------------------------


def test_a_landline_caller_is_registered_and_gets_no_sms(notify: Notify) -> None:
    landline = "+861062345678"
    received = received_event(customer_phone=landline, customer_textable=False)
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(
            "complaint.replied",
            received,
            # Even if an older escalation still names the customer, the number is no mobile.
            [recipient("customer", landline), recipient("duty_manager", DM01, "DM01")],
            to_state="replied",
            resolution="已电话告知处理结果",
            customer_textable=False,
        )
    )
    notify.deliver(lifecycle_event("complaint.closed", received, [], to_state="closed"))
    assert notify.messages(phone=landline) == []
    assert only(notify.messages(phone=DM01)).template == "staff_replied"


# -- compliments ---------------------------------------------------------------------------


def test_a_compliment_is_thanked_and_told_it_was_passed_on_never_asked_if_satisfied(
    notify: Notify,
) -> None:
    received = received_event(
        nature="recognition", category="service", description="表扬 12 路公交司机拾金不昧"
    )
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(
            "complaint.replied",
            received,
            [recipient("customer", CUSTOMER)],
            to_state="replied",
            nature="recognition",
            resolution="已转达公交集团并通报表扬该司机。",
        )
    )
    notify.deliver(
        lifecycle_event("complaint.closed", received, [], to_state="closed", nature="recognition")
    )
    reference = received.payload["reference"]
    thanks, conveyed = notify.messages(phone=CUSTOMER)
    assert thanks.template == "customer_received_compliment"
    assert thanks.body.startswith(f"您好，感谢您的表扬，受理编号 {reference}。")
    assert conveyed.template == "customer_conveyed"
    assert conveyed.body == (
        f"您的表扬（{reference}）已转达：已转达公交集团并通报表扬该司机。感谢您对我们工作的支持！"
    )
    assert conveyed.reply_kind is None
    assert "回复1" not in conveyed.body and "投诉" not in thanks.body + conveyed.body


def test_a_compliment_closed_at_once_with_its_answer_is_told_it_was_passed_on_once(
    notify: Notify,
) -> None:
    received = received_event(nature="recognition")
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(
            "complaint.closed",
            received,
            [],
            from_state="with_duty_manager",
            to_state="closed",
            nature="recognition",
            resolution="已转达",
        )
    )
    templates = [m.template for m in notify.messages(phone=CUSTOMER)]
    assert templates == ["customer_received_compliment", "customer_conveyed"]


NEIGHBOUR = "+8613800138002"


def test_a_merged_duplicate_s_caller_is_told_then_hears_the_master_s_outcome_unsurveyed(
    notify: Notify,
) -> None:
    master, duplicate = received_event(), received_event(customer_phone=NEIGHBOUR)
    notify.deliver(master)
    notify.deliver(duplicate)
    master_ref, duplicate_ref = master.payload["reference"], duplicate.payload["reference"]
    notify.deliver(
        lifecycle_event(
            "complaint.merged",
            duplicate,
            [recipient("customer", NEIGHBOUR)],
            action="merge",
            to_state="closed",
            details={"master_reference": master_ref, "master_id": master.payload["complaint_id"]},
        )
    )
    told = notify.messages(phone=NEIGHBOUR)[-1]
    assert told.template == "customer_merged"
    assert told.body == (
        f"您的投诉（{duplicate_ref}）与 {master_ref} 反映的是同一问题，已合并办理，"
        "处理结果将以短信告知您。"
    )
    answer = "水务公司已关阀抢修，管道已更换"
    notify.deliver(
        lifecycle_event(
            "complaint.replied",
            master,
            [
                recipient("customer", CUSTOMER),
                Recipient(
                    audience="duplicate_caller",  # type: ignore[arg-type]
                    phone=NEIGHBOUR,
                    reference=duplicate_ref,
                ),
            ],
            action="resolve",
            to_state="replied",
            resolution=answer,
        )
    )
    outcome = notify.messages(phone=NEIGHBOUR)[-1]
    assert outcome.template == "customer_merged_outcome"
    assert (
        outcome.body
        == f"您的投诉（{duplicate_ref}）已与 {master_ref} 合并办理，处理结果：{answer}。"
    )
    # Only the master's own caller is asked whether they are satisfied.
    assert outcome.reply_kind is None
    assert notify.messages(phone=CUSTOMER)[-1].reply_kind == "feedback"


def test_a_request_to_pause_the_clock_reaches_the_duty_manager_in_words(notify: Notify) -> None:
    received = received_event()
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(
            "complaint.pause_requested",
            received,
            [recipient("duty_manager", DM01, "DM01")],
            action="request-pause",
            from_state="in_progress",
            to_state="in_progress",
            department_name="账务部",
            reason="客户出差，下周一提供发票",
            details={"waiting_on": "customer", "resume_at": "2026-03-09T01:00:00+00:00"},
        )
    )
    sms = only(notify.messages(phone=DM01))
    reference = received.payload["reference"]
    assert sms.template == "staff_pause_requested"
    assert sms.body.startswith(f"账务部 申请投诉 {reference} 挂起（等待客户）至 03-09 09:00")
    assert "：客户出差，下周一提供发票。" in sms.body


ROADS_DESK = "+8613700137003"


def test_a_helper_department_gets_its_part_and_is_urged_in_words_when_it_is_late(
    notify: Notify,
) -> None:
    received = received_event()
    notify.deliver(received)
    reference = received.payload["reference"]
    notify.deliver(
        lifecycle_event(
            "complaint.dispatched",
            received,
            [
                recipient("department", BILLING_DESK),
                recipient("assisting_department", ROADS_DESK),
            ],
            to_state="dispatched",
            department_id="billing",
            department_name="账务部",
            details={
                "instructions": "核对路面塌陷处的线路",
                "assisting": ["roads"],
                "assist_due_at": "2026-03-04T02:00:00+00:00",
            },
        )
    )
    lead, helper = notify.messages(phone=BILLING_DESK)[-1], notify.messages(phone=ROADS_DESK)[-1]
    assert lead.template == "staff_dispatched"
    assert helper.template == "staff_assist_dispatched"
    assert helper.body.startswith(f"协办 {reference}（一般/账单计费），主办：账务部")
    assert "协办期限 03-04 10:00：核对路面塌陷处的线路。" in helper.body
    notify.deliver(
        lifecycle_event(
            "complaint.urged",
            received,
            [recipient("assisting_department", ROADS_DESK)],
            action="urge-assist",
            from_state="in_progress",
            to_state="in_progress",
            reason="assisting part due 2026-03-04T02:00+00:00 not contributed (95 min late)",
            details={
                "assist_department_id": "roads",
                "assist_breach": {"due_at": "2026-03-04T02:00:00+00:00", "late_minutes": 95},
            },
        )
    )
    late = notify.messages(phone=ROADS_DESK)[-1]
    assert late.template == "staff_assist_overdue"
    assert late.body.startswith(
        f"协办超时 {reference}：协办期限 03-04 10:00 已过（已超时1小时35分钟）"
    )
    assert latin_words(late.body) == []  # never the timer's English line
