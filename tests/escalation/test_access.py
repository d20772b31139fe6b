"""Who may see and do what, and how a refusal reads."""

from __future__ import annotations

import pytest

from tests.escalation.conftest import Centre

pytestmark = pytest.mark.postgres


def at_billing(centre: Centre, *, until: str = "dispatched") -> str:
    cid = centre.receive()
    assert centre.act(
        cid, "dispatch", "DM01", department_id="billing", instructions="退款"
    ).is_success
    if until in ("in_progress", "replied"):
        assert centre.act(cid, "accept", "B07").is_success
    if until == "replied":
        answer = centre.act(cid, "reply", "B07", resolution="已退款", root_cause="system")
        assert answer.is_success
    return cid


def test_a_network_clerk_cannot_see_or_touch_a_complaint_with_billing(centre: Centre) -> None:
    cid = at_billing(centre)
    for answer in (
        centre.get(cid, "N03"),
        centre.act(cid, "accept", "N03"),
        centre.client.get(f"/complaints/{cid}/history", headers=centre.as_("N03")),
        centre.client.get(f"/complaints/{cid}/history/verify", headers=centre.as_("N03")),
    ):
        assert answer.status_code == 404, answer.text
        assert answer.json()["error"] == "not_found"
    # The same answer as for a complaint that does not exist: nothing leaks.
    assert centre.get("no-such-complaint", "N03").json()["message"] == (
        "no complaint no-such-complaint"
    )
    refused = centre.client.get("/departments/billing/queue", headers=centre.as_("N03"))
    assert refused.status_code == 403
    assert "own department" in refused.json()["message"]
    # Billing's clerk sees it, and only billing's actions are offered.
    seen = centre.get(cid, "B07").json()
    assert seen["allowed_actions"] == [
        "accept",
        "return",
        "request-extension",
        "verify-loss",
        "request-pause",
        "resume",
        "take",
    ]
    assert centre.verify(cid)["entries"] == 2  # the refusals left no trace


def test_a_clerk_cannot_close_even_their_own_departments_answered_complaint(
    centre: Centre,
) -> None:
    cid = at_billing(centre, until="replied")
    centre.feedback(cid, "unreachable")
    answer = centre.act(cid, "close", "B07", resolution="已退款", root_cause="system")
    assert answer.status_code == 403
    body = answer.json()
    assert body["error"] == "forbidden" and body["action"] == "close"
    assert "only duty_manager or supervisor may do this" in body["message"]
    assert centre.get(cid).json()["state"] == "replied"


def test_an_agent_cannot_dispatch(centre: Centre) -> None:
    cid = centre.receive()
    assert "dispatch" not in centre.get(cid, "A001").json()["allowed_actions"]
    answer = centre.act(cid, "dispatch", "A001", department_id="billing", instructions="请处理")
    assert answer.status_code == 403
    assert answer.json()["role"] == "agent"
    assert centre.get(cid).json()["state"] == "with_duty_manager"


def test_an_action_the_state_does_not_allow_is_refused_naming_the_state_and_the_choices(
    centre: Centre,
) -> None:
    cid = centre.receive()
    answer = centre.act(cid, "accept", "DM01")
    assert answer.status_code == 409
    body = answer.json()
    assert body["error"] == "illegal_action" and body["state"] == "with_duty_manager"
    assert {"acknowledge", "dispatch", "resolve"} <= set(body["allowed_actions"])
    assert "state 'with_duty_manager'" in body["message"]
    assert "dispatch" in body["message"]


def test_a_rule_that_blocks_for_now_is_a_conflict_with_the_reason(centre: Centre) -> None:
    cid = centre.receive()
    assert centre.act(cid, "acknowledge", "DM01").is_success
    again = centre.act(cid, "acknowledge", "DM01")
    assert again.status_code == 409
    assert again.json()["error"] == "rule_refused"
    assert "already acknowledged by DM01" in again.json()["reason"]
    assert "dispatch" in again.json()["allowed_actions"]


def test_missing_and_malformed_fields_are_named(centre: Centre) -> None:
    cid = centre.receive()
    cases = [
        ({"department_id": "billing"}, "instructions"),
        ({"department_id": "legal", "instructions": "x"}, "department_id"),
    ]
    for body, field in cases:
        answer = centre.act(cid, "dispatch", "DM01", **body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["fields"][0]["field"] == field
    typo = centre.act(cid, "dispatch", "DM01", departmnt="billing", instructions="x")
    assert typo.status_code == 422 and typo.json()["fields"][0]["field"] == "departmnt"
    unknown = centre.act(cid, "teleport", "DM01")
    assert unknown.status_code == 422 and "unknown action 'teleport'" in unknown.json()["message"]
    assert centre.act(cid, "dispatch", "DM01", department_id="billing", instructions="x").is_success
    bad_code = centre.act(cid, "return", "B07", reason_code="lazy", reason="不想处理")
    assert bad_code.status_code == 422
    assert bad_code.json()["fields"][0]["field"] == "reason_code"
    assert "not_ours" in bad_code.json()["message"]


def test_only_the_system_takes_the_customers_feedback(centre: Centre) -> None:
    cid = at_billing(centre, until="replied")
    answer = centre.act(cid, "feedback", "DM01", result="satisfied")
    assert answer.status_code == 403
    assert "only system may do this" in answer.json()["message"]


def test_a_complaint_can_be_looked_up_by_its_reference_and_phones_are_masked_for_qa(
    centre: Centre,
) -> None:
    cid = centre.receive()
    reference = centre.get(cid).json()["reference"]
    by_reference = centre.get(reference, "Q01").json()
    assert by_reference["id"] == cid
    assert by_reference["customer_phone"] == "+86138****8000"
    assert by_reference["allowed_actions"] == []
    assert centre.get(cid, "A001").json()["customer_phone"] == "+8613800138000"
    acted = centre.act(reference, "acknowledge", "DM01")
    assert acted.status_code == 200 and acted.json()["complaint"]["id"] == cid


def test_without_a_token_nothing_is_shown(centre: Centre) -> None:
    cid = centre.receive()
    assert centre.client.get(f"/complaints/{cid}").status_code == 401
    assert centre.client.post(f"/complaints/{cid}/actions/acknowledge").status_code == 401


def test_another_duty_managers_token_cannot_act_on_a_complaint_they_do_not_hold(
    centre: Centre,
) -> None:
    cid = centre.receive()  # 王经理 (DM01) is on duty and holds it
    assert centre.get(cid, "DM02").json()["allowed_actions"] == []
    for action, body in (
        ("acknowledge", {}),
        ("dispatch", {"department_id": "billing", "instructions": "请处理"}),
        ("resolve", {"resolution": "已解释", "root_cause": "service"}),
    ):
        answer = centre.act(cid, action, "DM02", **body)
        assert answer.status_code == 403, answer.text
        refused = answer.json()
        assert refused["holder_staff_id"] == "DM01" and refused["duty_manager_id"] == "DM01"
        assert "held by duty manager DM01" in refused["message"]
    assert centre.get(cid).json()["acknowledged_at"] is None
    assert centre.verify(cid)["entries"] == 1  # the refusals left no trace
    assert centre.act(cid, "acknowledge", "DM01").status_code == 200
    assert "dispatch" in centre.get(cid, "SV01").json()["allowed_actions"]
