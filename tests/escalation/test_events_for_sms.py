"""What escalation puts in its events so that notify can write every SMS in the reader's
own language: the department's name, the customer's ability to take an SMS, and the
structured facts behind a breach or a closure that has to wait."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.escalation import sla
from shared.vocabulary import ClosureBlock, Stage
from tests.escalation.conftest import CUSTOMER_PHONE, Centre

pytestmark = pytest.mark.postgres


def test_a_landline_caller_is_never_told_to_notify_as_an_sms_recipient(centre: Centre) -> None:
    cid = centre.receive(customer_phone="+861062345678", customer_textable=False)
    assigned = centre.last_event(cid).payload
    assert assigned["customer_textable"] is False
    assert [r["audience"] for r in assigned["recipients"]] == ["duty_manager"]
    answer = centre.act(cid, "resolve", "DM01", resolution="已电话答复", root_cause="service")
    assert answer.status_code == 200, answer.text
    replied = centre.last_event(cid).payload
    assert "customer" not in {r["audience"] for r in replied["recipients"]}
    assert replied["customer_textable"] is False


def test_a_mobile_caller_is_still_told_as_before(centre: Centre) -> None:
    cid = centre.receive()
    assigned = centre.last_event(cid).payload
    assert assigned["customer_textable"] is True
    assert ("customer", CUSTOMER_PHONE) in {
        (r["audience"], r["phone"]) for r in assigned["recipients"]
    }


def test_a_return_names_the_department_as_the_directory_does_with_its_reason_code(
    centre: Centre,
) -> None:
    cid = centre.receive()
    centre.act(cid, "dispatch", "DM01", department_id="billing", instructions="核对账单")
    dispatched = centre.last_event(cid).payload
    assert (dispatched["department_id"], dispatched["department_name"]) == (
        "billing",
        "账务部 Billing",
    )
    answer = centre.act(cid, "return", "B07", reason_code="not_ours", reason="不是账务问题")
    assert answer.status_code == 200, answer.text
    returned = centre.last_event(cid).payload
    assert returned["department_name"] == "账务部 Billing"  # the department it came back from
    assert returned["details"]["reason_code"] == "not_ours"


def test_a_breach_carries_its_stage_deadline_and_lateness_not_only_an_english_line(
    centre: Centre,
) -> None:
    cid = centre.receive(severity="normal")
    due = centre.row(cid).due_at
    late = due + timedelta(minutes=7, seconds=30)
    sla.tick(centre.env.db, centre.outbox, now=late, config=centre.config)
    urged = centre.last_event(cid)
    assert urged.type == "complaint.urged"
    breach = urged.payload["details"]["breach"]
    assert breach["stage"] == Stage.ACKNOWLEDGEMENT
    assert breach["due_at"] == due.isoformat()
    assert (breach["step"], breach["late_minutes"]) == (1, 7)


def test_a_satisfied_customer_waiting_for_a_verified_loss_is_told_as_a_word(
    centre: Centre,
) -> None:
    cid = centre.receive(nature="compensation")
    centre.act(cid, "dispatch", "DM01", department_id="billing", instructions="核实损失")
    centre.act(cid, "accept", "B07")
    reply = {"resolution": "赔偿 120.50 元", "root_cause": "business", "with_compensation": True}
    assert centre.act(cid, "reply", "B07", **reply).status_code == 200
    assert centre.feedback(cid, "satisfied")
    recorded = centre.last_event(cid)
    assert recorded.type == "complaint.feedback_recorded"
    assert recorded.payload["details"]["closure_blocked_by"] == ClosureBlock.LOSS_NOT_VERIFIED
