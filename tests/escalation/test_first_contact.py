"""当场解答: the agent on the line answers the caller (from the knowledge base, say), the
caller says that settles it, and the complaint is closed there and then — only while
nobody has dispatched it, only with the caller's word, and on its history like any other
step."""

from __future__ import annotations

from typing import Any

import pytest

from tests.escalation.conftest import Centre

pytestmark = pytest.mark.postgres

ANSWER = "A市不在国家集中供暖范围内，目前没有统一供暖的规划；已告知客户可自建分户采暖。"
FIRST_CONTACT = "resolve-at-first-contact"


def answered(centre: Centre, cid: str, who: str = "A001", **body: Any) -> Any:
    fields: dict[str, Any] = {"resolution": ANSWER, "customer_confirmed": True, **body}
    return centre.act(cid, FIRST_CONTACT, who, **fields)


def test_the_agent_who_took_the_call_closes_it_with_the_answer_given_and_the_history_says_so(
    centre: Centre,
) -> None:
    cid = centre.receive(category="urban_construction", answered_from_article=7)
    seen = centre.get(cid, "A001").json()
    assert seen["state"] == "with_duty_manager"
    assert seen["registered_by"] == "A001" and seen["answered_from_article"] == 7
    assert FIRST_CONTACT in seen["allowed_actions"]
    done = answered(centre, cid, root_cause="business")
    assert done.status_code == 200, done.text
    result = done.json()
    assert (result["from_state"], result["to_state"]) == ("with_duty_manager", "closed")
    assert result["event_type"] == "complaint.closed"
    closed = result["complaint"]
    assert closed["closure_reason"] == "first_contact"
    assert closed["resolution"] == ANSWER and closed["root_cause"] == "business"
    assert closed["holder_staff_id"] is None and closed["due_at"] is None
    assert closed["allowed_actions"] == []  # nothing left for the agent
    history = centre.history(cid)
    assert [e["action"] for e in history] == ["assign", FIRST_CONTACT]
    entry = history[-1]
    assert (entry["actor_id"], entry["actor_role"]) == ("A001", "agent")
    assert (entry["from_state"], entry["to_state"]) == ("with_duty_manager", "closed")
    assert entry["payload"]["resolution"] == ANSWER
    assert entry["payload"]["customer_confirmed"] is True
    assert entry["payload"]["answered_from_article"] == 7
    assert entry["payload"]["closure_reason"] == "first_contact"
    assert centre.verify(cid)["valid"]
    event = centre.last_event(cid)
    assert event.type == "complaint.closed"
    assert event.payload["action"] == FIRST_CONTACT
    assert event.payload["closure_reason"] == "first_contact"
    assert event.payload["resolution"] == ANSWER
    # Nobody is sent anything to do (no desk, no follow-up clock), and it is done.
    assert event.payload["recipients"] == []
    again = answered(centre, cid)
    assert again.status_code == 409 and again.json()["state"] == "closed"


def test_without_the_callers_confirmation_it_is_not_closed(centre: Centre) -> None:
    cid = centre.receive()
    for body in ({"customer_confirmed": None}, {"customer_confirmed": False}):
        refused = answered(centre, cid, **body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["fields"][0]["field"] == "customer_confirmed"
    unanswered = centre.act(cid, FIRST_CONTACT, "A001", customer_confirmed=True)
    assert unanswered.status_code == 422
    assert unanswered.json()["fields"][0]["field"] == "resolution"
    assert centre.get(cid).json()["state"] == "with_duty_manager"
    assert [e["action"] for e in centre.history(cid)] == ["assign"]


def test_once_dispatched_it_is_too_late_to_answer_it_on_the_line(centre: Centre) -> None:
    cid = centre.receive()
    sent = centre.act(cid, "dispatch", "DM01", department_id="billing", instructions="核对账单")
    assert sent.status_code == 200, sent.text
    for who in ("A001", "DM01"):
        late = answered(centre, cid, who)
        assert late.status_code == 409, late.text
        body = late.json()
        assert body["state"] == "dispatched"
        assert FIRST_CONTACT not in body["allowed_actions"] and "accept" in body["allowed_actions"]
        assert "dispatched" in body["message"]
    # Back at the desk after a department had it, it is the desk's to answer.
    back = centre.act(cid, "return", "B07", reason_code="not_ours", reason="非本部门")
    assert back.status_code == 200, back.text
    refused = answered(centre, cid, "DM01")
    assert refused.status_code == 409, refused.text
    assert refused.json()["state"] == "with_duty_manager"
    assert "resolve" in refused.json()["allowed_actions"]
    assert "been with a department" in refused.json()["message"]
    assert centre.get(cid).json()["state"] == "with_duty_manager"


def test_only_the_agent_who_took_the_call_its_duty_manager_or_a_supervisor(centre: Centre) -> None:
    cid = centre.receive()
    other_agent = centre.env.token("agent", "A002")
    refused = centre.client.post(
        f"/complaints/{cid}/actions/{FIRST_CONTACT}",
        json={"resolution": ANSWER, "customer_confirmed": True},
        headers=other_agent,
    )
    assert refused.status_code == 403 and "A001" in refused.json()["message"]
    assert answered(centre, cid, "DM02").status_code == 403  # another shift's manager
    # A department's clerk does not even see a complaint at the desk.
    assert answered(centre, cid, "B07").status_code == 404
    assert answered(centre, cid, "DM01").status_code == 200  # its duty manager
    assert answered(centre, centre.receive(), "SV01").status_code == 200


def test_a_compensation_claim_is_not_settled_on_the_line(centre: Centre) -> None:
    cid = centre.receive(nature="compensation")
    refused = answered(centre, cid)
    assert refused.status_code == 409, refused.text
    assert "compensation" in refused.json()["message"]
    assert centre.get(cid).json()["state"] == "with_duty_manager"


def test_a_complaint_closed_at_first_contact_can_still_be_reopened_by_the_desk(
    centre: Centre,
) -> None:
    cid = centre.receive()
    assert answered(centre, cid).status_code == 200
    reopened = centre.act(cid, "reopen", "DM01", reason="客户再次来电：答复不适用于其小区")
    assert reopened.status_code == 200, reopened.text
    assert reopened.json()["to_state"] == "with_duty_manager"
    # The caller came back: it is not answered at first contact again.
    again = answered(centre, cid, "DM01")
    assert again.status_code == 409 and "reopened" in again.json()["message"]
