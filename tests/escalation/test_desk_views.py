"""What the workbench's desk pages ask the escalation service: what waits for a duty
manager's decision, what a supervisor watches, each department's open load, and a
supervisor's reassignment (改派) of a complaint to another duty manager."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from shared.clock import utcnow
from tests.escalation.conftest import Centre

pytestmark = pytest.mark.postgres


def ids(centre: Centre, path: str, who: str) -> list[str]:
    answer = centre.client.get(path, headers=centre.as_(who))
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


def dispatched(centre: Centre, department: str = "billing", **fields: Any) -> str:
    complaint_id = centre.receive(**fields)
    answer = centre.act(
        complaint_id, "dispatch", "DM01", department_id=department, instructions="请核实"
    )
    assert answer.status_code == 200, answer.text
    return complaint_id


def test_requests_for_more_time_and_returns_wait_for_the_desk_that_dispatched(
    centre: Centre,
) -> None:
    asking = dispatched(centre)
    assert centre.act(asking, "accept", "B07").status_code == 200
    until = (utcnow() + timedelta(days=3)).isoformat()
    answer = centre.act(asking, "request-extension", "B07", until=until, reason="需调取录音")
    assert answer.status_code == 200, answer.text
    returned = dispatched(centre)
    answer = centre.act(returned, "return", "B07", reason_code="not_ours", reason="非本部门")
    assert answer.status_code == 200, answer.text
    quiet = dispatched(centre)

    waiting = ids(centre, "/queues/decisions", "DM01")
    assert set(waiting) == {asking, returned}
    assert quiet not in waiting
    assert ids(centre, "/queues/decisions", "DM02") == []
    # A supervisor sees every request for more time, and no duty manager's returns.
    assert ids(centre, "/queues/decisions", "SV01") == [asking]
    # Deciding takes it off the list.
    assert centre.act(asking, "decide-extension", "DM01", decision="approve").status_code == 200
    assert ids(centre, "/queues/decisions", "DM01") == [returned]
    # Clerks and agents decide nothing here.
    for who in ("B07", "A001"):
        refused = centre.client.get("/queues/decisions", headers=centre.as_(who))
        assert refused.status_code == 403, refused.text


def test_the_escalated_queue_holds_what_was_escalated_or_returned(centre: Centre) -> None:
    calm = dispatched(centre)
    returned = dispatched(centre)
    centre.act(returned, "return", "B07", reason_code="insufficient_info", reason="缺少账号")
    raised = centre.receive()
    answer = centre.act(raised, "escalate", "SV01", reason="客户第三次来电")
    assert answer.status_code == 200, answer.text
    assert set(ids(centre, "/queues/escalated", "SV01")) == {returned, raised}
    assert calm not in ids(centre, "/queues/escalated", "SV01")
    assert centre.client.get("/queues/escalated", headers=centre.as_("DM01")).status_code == 403


def test_each_active_department_shows_its_open_load(centre: Centre) -> None:
    for _ in range(2):
        dispatched(centre, "billing")
    taken = dispatched(centre, "billing")
    assert centre.act(taken, "accept", "B07").status_code == 200
    dispatched(centre, "network")
    answer = centre.client.get("/queues/departments", headers=centre.as_("DM01"))
    assert answer.status_code == 200, answer.text
    loads = {row["department_id"]: row for row in answer.json()}
    assert loads["billing"]["open"] == 3
    assert loads["billing"]["waiting"] == 2
    assert loads["billing"]["overdue"] == 0
    assert loads["network"]["open"] == 1
    assert loads["billing"]["name"] == "账务部 Billing"
    refused = centre.client.get("/queues/departments", headers=centre.as_("B07"))
    assert refused.status_code == 403


def test_a_supervisor_reassigns_a_complaint_to_another_duty_manager(centre: Centre) -> None:
    complaint_id = centre.receive()
    assert centre.get(complaint_id).json()["holder_staff_id"] == "DM01"
    answer = centre.act(complaint_id, "reassign", "SV01", staff_id="DM02", reason="王经理外出")
    assert answer.status_code == 200, answer.text
    moved = answer.json()
    assert moved["to_state"] == "with_duty_manager"
    assert moved["complaint"]["holder_staff_id"] == "DM02"
    assert moved["complaint"]["duty_manager_id"] == "DM02"
    assert ids(centre, "/queues/mine", "DM02") == [complaint_id]
    assert ids(centre, "/queues/mine", "DM01") == []
    entry = centre.history(complaint_id)[-1]
    assert entry["action"] == "reassign"
    assert entry["payload"]["previous_staff_id"] == "DM01"
    # Published as a hand-over, and the new manager is told.
    event = centre.last_event(complaint_id)
    assert event.type == "complaint.handed_over"
    assert [r["staff_id"] for r in event.payload["recipients"]] == ["DM02"]
    # Only to an active duty manager, and only by a supervisor.
    wrong = centre.act(complaint_id, "reassign", "SV01", staff_id="B07")
    assert wrong.status_code == 422, wrong.text
    assert "staff_id" in wrong.json()["message"]
    again = centre.act(complaint_id, "reassign", "SV01", staff_id="DM02")
    assert again.status_code == 409, again.text
    assert centre.act(complaint_id, "reassign", "DM01", staff_id="DM01").status_code == 403
    assert "reassign" in centre.get(complaint_id, "SV01").json()["allowed_actions"]
    assert "reassign" not in centre.get(complaint_id, "DM02").json()["allowed_actions"]
    assert centre.verify(complaint_id)["valid"]


def test_a_complaint_at_a_department_keeps_its_holder_when_reassigned(centre: Centre) -> None:
    complaint_id = dispatched(centre)
    answer = centre.act(complaint_id, "reassign", "SV01", staff_id="DM02")
    assert answer.status_code == 200, answer.text
    after = answer.json()["complaint"]
    assert (after["state"], after["holder_role"], after["duty_manager_id"]) == (
        "dispatched",
        "department",
        "DM02",
    )
    # A return now goes to the new manager.
    centre.act(complaint_id, "return", "B07", reason_code="not_ours", reason="非本部门")
    assert centre.get(complaint_id).json()["holder_staff_id"] == "DM02"
