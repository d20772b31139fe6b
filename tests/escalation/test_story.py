"""A complaint's whole life through the escalation service, with its history checked at
every step: from intake to the duty manager, bounced by a department, dispatched again,
answered late with an approved extension, reopened by an unhappy customer, and closed."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.escalation.conftest import CUSTOMER_PHONE, PHONES, Centre

pytestmark = pytest.mark.postgres


def step(centre: Centre, cid: str, answer: Any, *, state: str, seq: int) -> dict[str, Any]:
    """The action was accepted, the complaint is where it should be, the chain verifies."""
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["to_state"] == state and body["history_seq"] == seq
    assert body["complaint"]["state"] == state
    assert centre.verify(cid) == {
        "valid": True,
        "first_bad_seq": None,
        "entries": seq,
        "problem": None,
    }
    return body["complaint"]  # type: ignore[no-any-return]


def recipients(centre: Centre, cid: str) -> set[tuple[str, str]]:
    return {(r["audience"], r["phone"]) for r in centre.last_event(cid).payload["recipients"]}


def test_a_complaint_lives_from_intake_to_a_satisfied_customer(centre: Centre) -> None:
    # 王女士 calls about a double charge; intake registers it and escalation takes it in.
    cid = centre.receive(severity="high")
    seen = centre.get(cid).json()
    assert (seen["state"], seen["holder_staff_id"], seen["stage"]) == (
        "with_duty_manager",
        "DM01",
        "acknowledgement",
    )
    assert centre.verify(cid)["valid"] and centre.verify(cid)["entries"] == 1
    assert centre.last_event(cid).type == "complaint.assigned"
    assert recipients(centre, cid) == {
        ("duty_manager", PHONES["DM01"]),
        ("customer", CUSTOMER_PHONE),
    }

    # The duty manager on shift acknowledges it and sends it to billing.
    step(centre, cid, centre.act(cid, "acknowledge", "DM01"), state="with_duty_manager", seq=2)
    dispatched = step(
        centre,
        cid,
        centre.act(
            cid, "dispatch", "DM01", department_id="billing", instructions="核对 3 月账单并退款"
        ),
        state="dispatched",
        seq=3,
    )
    assert dispatched["department_id"] == "billing" and dispatched["stage"] == "acceptance"
    assert recipients(centre, cid) == {("department", "+8613700137001")}

    # Billing says it lacks the account number and returns it to the duty manager (退单).
    returned = step(
        centre,
        cid,
        centre.act(
            cid,
            "return",
            "B07",
            reason_code="insufficient_info",
            reason="缺少客户账号，无法核对",
        ),
        state="with_duty_manager",
        seq=4,
    )
    assert returned["bounce_count"] == 1 and returned["holder_staff_id"] == "DM01"
    assert returned["department_id"] is None
    assert recipients(centre, cid) == {("duty_manager", PHONES["DM01"])}
    # Once returned, billing no longer sees it.
    assert centre.get(cid, "B07").status_code == 404

    # The duty manager adds the account number and dispatches it again; billing accepts (签收).
    step(
        centre,
        cid,
        centre.act(
            cid, "dispatch", "DM01", department_id="billing", instructions="账号 6222 0000 1234"
        ),
        state="dispatched",
        seq=5,
    )
    accepted = step(centre, cid, centre.act(cid, "accept", "B07"), state="in_progress", seq=6)
    assert accepted["holder_staff_id"] == "B07" and accepted["stage"] == "resolution"

    # The refund needs the bank: billing asks for two more days and the duty manager agrees.
    until = (datetime.now(UTC) + timedelta(days=5)).replace(microsecond=0)
    asked = step(
        centre,
        cid,
        centre.act(
            cid, "request-extension", "B07", until=until.isoformat(), reason="银行退款需 5 个工作日"
        ),
        state="in_progress",
        seq=7,
    )
    assert asked["pending_extension"]["requested_by"] == "B07"
    assert recipients(centre, cid) == {("duty_manager", PHONES["DM01"])}
    approved = step(
        centre,
        cid,
        centre.act(cid, "decide-extension", "DM01", decision="approve"),
        state="in_progress",
        seq=8,
    )
    assert approved["pending_extension"] is None
    assert datetime.fromisoformat(approved["due_at"]) == until
    assert datetime.fromisoformat(approved["extended_until"]) == until
    assert ("department", PHONES["B07"]) in recipients(centre, cid)

    # Billing replies with the resolution; the customer is told and asked how it went.
    step(
        centre,
        cid,
        centre.act(cid, "reply", "B07", resolution="已退还多扣的 30 元", root_cause="system"),
        state="replied",
        seq=9,
    )
    assert ("customer", CUSTOMER_PHONE) in recipients(centre, cid)

    # 王女士 is not satisfied: the complaint is reopened (重办) to billing.
    assert centre.feedback(cid, "unsatisfied", "钱还没到账")
    reopened = centre.get(cid).json()
    assert (reopened["state"], reopened["department_id"], reopened["reopen_count"]) == (
        "dispatched",
        "billing",
        1,
    )
    assert centre.last_event(cid).type == "complaint.reopened"
    assert centre.verify(cid)["valid"] and centre.verify(cid)["entries"] == 10

    # Billing takes it again and answers again; this time she is satisfied and it closes.
    step(centre, cid, centre.act(cid, "accept", "B08"), state="in_progress", seq=11)
    step(
        centre,
        cid,
        centre.act(cid, "reply", "B08", resolution="退款已到账，附银行流水号", root_cause="system"),
        state="replied",
        seq=12,
    )
    assert centre.feedback(cid, "satisfied")
    closed = centre.get(cid).json()
    assert (closed["state"], closed["closure_reason"], closed["due_at"]) == (
        "closed",
        "satisfied",
        None,
    )
    assert closed["allowed_actions"] == ["reopen"]

    history = centre.history(cid)
    assert [(e["action"], e["to_state"]) for e in history] == [
        ("assign", "with_duty_manager"),
        ("acknowledge", "with_duty_manager"),
        ("dispatch", "dispatched"),
        ("return", "with_duty_manager"),
        ("dispatch", "dispatched"),
        ("accept", "in_progress"),
        ("request-extension", "in_progress"),
        ("decide-extension", "in_progress"),
        ("reply", "replied"),
        ("feedback", "dispatched"),
        ("accept", "in_progress"),
        ("reply", "replied"),
        ("feedback", "closed"),
    ]
    assert history[0]["prev_hash"] == "0" * 64
    assert all(
        later["prev_hash"] == earlier["hash"] for earlier, later in itertools.pairwise(history)
    )
    assert [e["actor_id"] for e in history][3:6] == ["B07", "DM01", "B07"]
    assert history[9]["payload"]["comment"] == "钱还没到账"
    assert centre.verify(cid) == {
        "valid": True,
        "first_bad_seq": None,
        "entries": 13,
        "problem": None,
    }

    # Every accepted action went out as one event, in order, keyed by the complaint.
    events = centre.events(cid)
    assert [e.type for e in events] == [e["event_type"] for e in history]
    assert [e.payload["history_seq"] for e in events] == list(range(1, 14))
    assert {str(e.event_id) for e in events} == {e["event_id"] for e in history}
    assert events[-1].payload["summary"].startswith(closed["reference"])


def test_after_the_configured_returns_a_supervisor_decides(centre: Centre) -> None:
    cid = centre.receive()
    for _n in (1, 2):
        centre.act(cid, "dispatch", "DM01", department_id="network", instructions="查基站")
        answer = centre.act(cid, "return", "N03", reason_code="not_ours", reason="不是网络问题")
        assert answer.status_code == 200, answer.text
    seen = centre.get(cid, "SV01").json()
    assert (seen["holder_role"], seen["holder_staff_id"], seen["bounce_count"]) == (
        "supervisor",
        None,
        2,
    )
    assert ("supervisor", PHONES["SV01"]) in recipients(centre, cid)
    # The duty manager may no longer dispatch it; the supervisor takes it from their queue.
    refused = centre.act(cid, "dispatch", "DM01", department_id="billing", instructions="x")
    assert refused.status_code == 403
    assert "supervisor" in refused.json()["message"]
    queue = centre.client.get("/queues/mine", headers=centre.as_("SV01")).json()
    assert [item["id"] for item in queue["items"]] == [cid]
    answer = centre.act(cid, "dispatch", "SV01", department_id="billing", instructions="请处理")
    assert answer.status_code == 200, answer.text
    assert centre.verify(cid)["valid"]


def test_a_duty_manager_resolves_directly_and_closes_after_failed_follow_ups(
    make_centre: Any,
) -> None:
    # Calls that count may follow one another at once here (no minimum interval).
    centre = make_centre(unreachable_attempts=2, follow_up_interval_minutes=0)
    cid = centre.receive(category="service")
    answer = centre.act(
        cid, "resolve", "DM01", resolution="电话解释了套餐资费", root_cause="service"
    )
    assert answer.status_code == 200, answer.text
    assert centre.get(cid).json()["stage"] == "follow_up"
    assert centre.feedback(cid, "unreachable")
    assert centre.get(cid).json()["state"] == "replied"
    assert centre.last_event(cid).type == "complaint.follow_up_failed"
    assert centre.feedback(cid, "unreachable")
    closed = centre.get(cid).json()
    assert (closed["state"], closed["closure_reason"]) == ("closed", "unreached")
    assert centre.verify(cid)["entries"] == 4 and centre.verify(cid)["valid"]


def test_a_compensation_complaint_closes_with_compensation_only_once_the_loss_is_verified(
    centre: Centre,
) -> None:
    cid = centre.receive(nature="compensation")
    centre.act(cid, "dispatch", "DM01", department_id="billing", instructions="核实损失")
    centre.act(cid, "accept", "B07")
    reply = {"resolution": "赔偿 120.50 元", "root_cause": "business", "with_compensation": True}
    assert centre.act(cid, "reply", "B07", **reply).status_code == 200
    assert centre.feedback(cid, "satisfied")
    waiting = centre.get(cid).json()
    assert (waiting["state"], waiting["feedback"]) == ("replied", "satisfied")
    assert centre.last_event(cid).type == "complaint.feedback_recorded"

    refused = centre.act(cid, "close", "DM01", **reply)
    assert refused.status_code == 409
    assert "loss verified" in refused.json()["message"]
    verified = centre.act(cid, "verify-loss", "DM01", compensation_amount="120.5")
    assert verified.status_code == 200, verified.text
    assert verified.json()["complaint"]["compensation_amount"] == "120.50"
    closed = centre.act(cid, "close", "DM01", **reply)
    assert closed.status_code == 200, closed.text
    assert closed.json()["complaint"]["with_compensation"] is True
    assert centre.last_event(cid).payload["details"]["compensation_amount"] == "120.50"
    assert centre.verify(cid)["valid"]


def test_follow_up_calls_in_quick_succession_count_once(centre: Centre) -> None:
    # The agent tries the customer three times within a few seconds: one failed
    # follow-up as far as closing as unreached goes, the others on record.
    cid = centre.receive(category="service")
    answer = centre.act(
        cid, "resolve", "DM01", resolution="电话解释了套餐资费", root_cause="service"
    )
    assert answer.status_code == 200, answer.text
    for _ in range(3):
        assert centre.feedback(cid, "unreachable")
    seen = centre.get(cid).json()
    assert (seen["state"], seen["follow_up_attempts"]) == ("replied", 1)
    assert seen["last_follow_up_at"] is not None
    events = [e for e in centre.events(cid) if e.type == "complaint.follow_up_failed"]
    assert [e.payload["details"]["counted"] for e in events] == [True, False, False]
    assert events[-1].payload["details"]["next_attempt_counts_from"] > seen["last_follow_up_at"]
    history = [entry for entry in centre.history(cid) if entry["action"] == "feedback"]
    assert len(history) == 3  # every call is in the history


def test_a_compensation_claim_answered_without_compensation_waits_for_the_desks_decision(
    centre: Centre,
) -> None:
    cid = centre.receive(nature="compensation")
    centre.act(cid, "dispatch", "DM01", department_id="billing", instructions="核实损失")
    centre.act(cid, "accept", "B07")
    reply = {"resolution": "已致歉并补发", "root_cause": "business", "with_compensation": False}
    assert centre.act(cid, "reply", "B07", **reply).status_code == 200
    assert centre.feedback(cid, "satisfied")
    waiting = centre.get(cid).json()
    assert (waiting["state"], waiting["loss_verified"]) == ("replied", False)

    refused = centre.act(cid, "close", "DM01", **reply)
    assert refused.status_code == 409
    body = refused.json()
    assert body["missing"] == ["loss_verified", "compensation_amount", "compensation_declined"]
    assert "decline-compensation" in body["message"]
    assert "decline-compensation" in body["allowed_actions"]

    declined = centre.act(cid, "decline-compensation", "DM01", reason="货物已按时送达，无损失")
    assert declined.status_code == 200, declined.text
    assert declined.json()["complaint"]["compensation_declined"] is True
    assert centre.last_event(cid).type == "complaint.compensation_declined"
    closed = centre.act(cid, "close", "DM01", **reply)
    assert closed.status_code == 200, closed.text
    assert closed.json()["complaint"]["closure_reason"] == "satisfied"
    assert centre.verify(cid)["valid"]


def test_a_compliment_is_passed_to_billing_and_closed_when_billing_has_it(
    centre: Centre,
) -> None:
    # 王女士 calls to praise billing's clerk who sorted out her bill.
    cid = centre.receive(nature="recognition", category="service")
    centre.act(cid, "dispatch", "DM01", department_id="billing", instructions="转达客户表扬")
    centre.act(cid, "accept", "B07")
    dispatched = next(e for e in centre.events(cid) if e.type == "complaint.dispatched")
    assert dispatched.payload["department_name"] == "账务部 Billing"
    answer = centre.act(cid, "reply", "B07", resolution="已转达陈会计本人", root_cause="service")
    assert answer.status_code == 200, answer.text
    closed = answer.json()["complaint"]
    assert (closed["state"], closed["closure_reason"]) == ("closed", "conveyed")
    assert (closed["stage"], closed["due_at"]) == (None, None)  # no follow-up clock
    event = centre.last_event(cid)
    assert event.type == "complaint.closed"
    assert event.payload["closure_reason"] == "conveyed"
    assert event.payload["department_name"] == "账务部 Billing"
    # Nobody asks her whether she is satisfied: a second answer has nothing to act on.
    assert centre.feedback(cid, "satisfied")
    assert centre.get(cid).json()["feedback"] is None
    assert centre.verify(cid)["valid"]


def test_an_anonymous_complaint_is_answered_and_closed_without_a_follow_up(
    centre: Centre,
) -> None:
    cid = centre.receive(anonymous=True, customer_phone=None, customer_name=None)
    assert centre.last_event(cid).payload["anonymous"] is True
    answer = centre.act(cid, "resolve", "DM01", resolution="已通报物业整改", root_cause="external")
    assert answer.status_code == 200, answer.text
    replied = answer.json()["complaint"]
    assert (replied["state"], replied["anonymous"]) == ("replied", True)
    assert (replied["stage"], replied["due_at"]) == (None, None)  # nothing to be late for
    assert "close" in replied["allowed_actions"]
    closed = centre.act(cid, "close", "DM01", resolution="已通报物业整改", root_cause="external")
    assert closed.status_code == 200, closed.text
    assert closed.json()["complaint"]["closure_reason"] == "anonymous"
    assert centre.verify(cid)["valid"]
