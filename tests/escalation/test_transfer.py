"""Transfers between departments (转办): where the centre's rulebook allows it, the
department holding a complaint sends it straight on to another department with a reason,
without the round trip through the duty desk that a return takes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.escalation.conftest import DEPARTMENTS, PHONES, Centre

pytestmark = pytest.mark.postgres

BILLING_DESK, NETWORK_DESK = ("+86" + d["contact_phones"][0] for d in DEPARTMENTS)
NOT_OURS = "线路中断导致扣费异常，应由网络部处理"


@pytest.fixture
def transfers(make_centre: Callable[..., Centre]) -> Centre:
    """A centre whose rulebook lets departments transfer (ESCALATION_ALLOW_TRANSFER)."""
    return make_centre(allow_transfer=True)


def at_billing(centre: Centre, *, accepted: bool = True) -> str:
    cid = centre.receive()
    assert centre.act(cid, "acknowledge", "DM01").is_success
    order = {"department_id": "billing", "instructions": "核对 3 月账单"}
    assert centre.act(cid, "dispatch", "DM01", **order).is_success
    if accepted:
        assert centre.act(cid, "accept", "B07").is_success
    return cid


def queue_ids(centre: Centre, department: str, who: str) -> list[str]:
    answer = centre.client.get(f"/departments/{department}/queue", headers=centre.as_(who))
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


def field_named(answer: Any) -> str:
    assert answer.status_code == 422, answer.text
    return answer.json()["fields"][0]["field"]  # type: ignore[no-any-return]


def test_a_clerk_transfers_a_complaint_and_the_new_department_holds_it_and_is_texted(
    transfers: Centre,
) -> None:
    cid = at_billing(transfers)
    assert cid in queue_ids(transfers, "billing", "B07")
    before = transfers.get(cid, "B07").json()
    assert "transfer" in before["allowed_actions"]

    answer = transfers.act(cid, "transfer", "B07", department_id="network", reason=NOT_OURS)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["event_type"], body["from_state"], body["to_state"]) == (
        "complaint.transferred",
        "in_progress",
        "dispatched",
    )
    # The network team holds it now and must accept it, on a fresh acceptance clock.
    now = transfers.get(cid, "N03").json()
    assert (now["department_id"], now["holder_role"], now["holder_staff_id"]) == (
        "network",
        "department",
        None,
    )
    assert now["stage"] == "acceptance" and now["due_at"] != before["due_at"]
    assert "accept" in now["allowed_actions"]
    # No round trip through the desk: not a return, the duty manager stays who they were.
    assert (now["bounce_count"], now["duty_manager_id"]) == (0, "DM01")

    # The network's desk is texted; billing, which gave it up, is not.
    event = transfers.last_event(cid)
    assert event.type == "complaint.transferred"
    assert event.payload["department_id"] == "network"
    assert event.payload["details"]["from_department_id"] == "billing"
    assert event.payload["details"]["from_department_name"] == DEPARTMENTS[0]["name"]
    assert {(r["audience"], r["phone"]) for r in event.payload["recipients"]} == {
        ("department", NETWORK_DESK)
    }
    assert BILLING_DESK != NETWORK_DESK

    # The history says from where, to where and why; the chain still verifies.
    entry = transfers.history(cid)[-1]
    assert (entry["action"], entry["actor_id"]) == ("transfer", "B07")
    assert entry["payload"]["from_department_id"] == "billing"
    assert entry["payload"]["department_id"] == "network"
    assert entry["payload"]["reason"] == NOT_OURS
    assert transfers.verify(cid)["valid"]

    # Billing no longer sees it, in its queue or at all; the network team does.
    assert cid not in queue_ids(transfers, "billing", "B07")
    assert transfers.get(cid, "B07").status_code == 404
    assert cid in queue_ids(transfers, "network", "N03")
    assert transfers.act(cid, "accept", "N03").is_success


def test_a_complaint_not_yet_accepted_can_be_transferred_too(transfers: Centre) -> None:
    cid = at_billing(transfers, accepted=False)
    answer = transfers.act(cid, "transfer", "B08", department_id="network", reason=NOT_OURS)
    assert answer.status_code == 200, answer.text
    assert answer.json()["complaint"]["department_id"] == "network"


def test_a_transfer_to_the_same_department_or_an_unknown_one_is_refused_naming_department_id(
    transfers: Centre,
) -> None:
    cid = at_billing(transfers)
    same = transfers.act(cid, "transfer", "B07", department_id="billing", reason=NOT_OURS)
    assert field_named(same) == "department_id"
    unknown = transfers.act(cid, "transfer", "B07", department_id="legal", reason=NOT_OURS)
    assert field_named(unknown) == "department_id"
    assert "no active department 'legal'" in unknown.json()["message"]
    # A department that has closed its doors takes nothing either.
    network = {k: v for k, v in DEPARTMENTS[1].items() if k != "id"} | {"active": False}
    closed = transfers.client.put("/departments/network", json=network, headers=transfers.admin)
    assert closed.status_code == 200, closed.text
    gone = transfers.act(cid, "transfer", "B07", department_id="network", reason=NOT_OURS)
    assert field_named(gone) == "department_id"
    # And a transfer says why.
    silent = transfers.act(cid, "transfer", "B07", department_id="network")
    assert field_named(silent) == "reason"
    still = transfers.get(cid, "B07").json()
    assert (still["state"], still["department_id"]) == ("in_progress", "billing")
    assert len(transfers.history(cid)) == 4


def test_where_the_centre_does_not_allow_transfers_it_is_409_naming_the_state_and_actions(
    centre: Centre,
) -> None:
    assert centre.config.allow_transfer is False  # the default: every centre keeps its rule
    cid = at_billing(centre)
    assert "transfer" not in centre.get(cid, "B07").json()["allowed_actions"]
    answer = centre.act(cid, "transfer", "B07", department_id="network", reason=NOT_OURS)
    assert answer.status_code == 409, answer.text
    body = answer.json()
    assert body["error"] == "illegal_action" and body["state"] == "in_progress"
    assert {"return", "reply"} <= set(body["allowed_actions"])
    assert "transfer" not in body["allowed_actions"]
    assert "state 'in_progress'" in body["message"]
    assert centre.get(cid, "B07").json()["department_id"] == "billing"


def test_a_clerk_of_another_department_cannot_transfer_it(transfers: Centre) -> None:
    cid = at_billing(transfers)
    # As for a return: another department's complaint is not theirs to see.
    answer = transfers.act(cid, "transfer", "N03", department_id="network", reason=NOT_OURS)
    assert answer.status_code == 404, answer.text
    assert transfers.get(cid).json()["department_id"] == "billing"
    # An agent may not either, whatever the centre allows.
    agent = transfers.act(cid, "transfer", "A001", department_id="network", reason=NOT_OURS)
    assert agent.status_code == 403


def test_the_duty_manager_answering_for_it_may_transfer_it_as_they_dispatch(
    transfers: Centre,
) -> None:
    cid = at_billing(transfers)
    other = transfers.act(cid, "transfer", "DM02", department_id="network", reason="网络故障")
    assert other.status_code == 403
    answer = transfers.act(cid, "transfer", "DM01", department_id="network", reason="网络故障")
    assert answer.status_code == 200, answer.text
    # The duty manager acted: the network's desk is told, and nobody tells DM01 of it.
    event = transfers.last_event(cid)
    assert ("department", NETWORK_DESK) in {
        (r["audience"], r["phone"]) for r in event.payload["recipients"]
    }
    assert PHONES["DM01"] not in {r["phone"] for r in event.payload["recipients"]}
