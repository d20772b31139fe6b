"""Joint handling (主办/协办) on PostgreSQL with a controllable clock: billing leads, the
network team and the roads office assist; the network contributes in time, the roads
office is late and is urged once; the lead answers for all once the parts are in."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from services.escalation.config import DEFAULT_SLA_MINUTES
from services.escalation.lifecycle import Actor, GuardFailed
from shared.vocabulary import Action
from tests.escalation.conftest import Centre
from tests.escalation.test_sla import CLERK, DM, T0, do, make_t0, tick

pytestmark = pytest.mark.postgres

__all__ = ["make_t0"]  # the fixture, used by name

NETWORK = Actor("N03", "department", "network")
ROADS = Actor("R05", "department", "roads")
ROADS_DESK = "+8613700137003"
PART = timedelta(minutes=DEFAULT_SLA_MINUTES["resolution"]["normal"]) / 2  # 50 % by default
ANSWER = {"resolution": "已退还多扣费用；线路与路面均已修复", "root_cause": "system"}


@pytest.fixture
def centre(make_t0: Callable[..., Centre]) -> Centre:
    centre = make_t0()
    roads = {"id": "roads", "name": "道路办 Roads", "contact_phones": [ROADS_DESK[3:]]}
    assert centre.client.post("/departments", json=roads, headers=centre.admin).status_code == 201
    clerk = {"id": "R05", "name": "郑科员", "phone": "13900139055", "role": "department"}
    answer = centre.client.post(
        "/staff", json=clerk | {"department_id": "roads"}, headers=centre.admin
    )
    assert answer.status_code == 201, answer.text
    return centre


def parts(centre: Centre, cid: str) -> dict[str, dict[str, Any]]:
    seen = centre.get(cid).json()
    return {p["department_id"]: p for p in seen["assists"]}


def test_two_helpers_one_late_the_late_one_is_urged_and_the_lead_answers_for_all(
    centre: Centre,
) -> None:
    cid = centre.arrive(T0 - timedelta(minutes=5))
    order = {"department_id": "billing", "instructions": "主办核对扣费；网络部、道路办协办"}
    do(centre, cid, Action.DISPATCH, DM, T0, assisting=["network", "roads"], **order)
    dispatched = centre.last_event(cid)
    told = {(r["audience"], r["phone"]) for r in dispatched.payload["recipients"]}
    # The lead's desk and each helper's, each with its own words.
    assert ("department", "+8613700137001") in told
    assert ("assisting_department", "+8613700137002") in told
    assert ("assisting_department", ROADS_DESK) in told
    assert dispatched.payload["details"]["assist_due_at"] == (T0 + PART).isoformat()
    assert dispatched.payload["assisting"] == ["network", "roads"]

    do(centre, cid, Action.ACCEPT, CLERK, T0 + timedelta(minutes=10))
    do(centre, cid, Action.ACCEPT_ASSIST, NETWORK, T0 + timedelta(minutes=20))
    do(
        centre,
        cid,
        Action.CONTRIBUTE,
        NETWORK,
        T0 + timedelta(hours=3),
        contribution="光缆已于当日修复",
    )
    contributed = centre.last_event(cid)
    assert contributed.type == "complaint.assist_contributed"
    assert {r["phone"] for r in contributed.payload["recipients"]} == {"+8613700137001"}

    # The roads office's part falls due: it alone is urged, once, whatever the ticks.
    assert tick(centre, T0 + PART - timedelta(seconds=1)).assists_urged == 0
    assert tick(centre, T0 + PART).assists_urged == 1
    assert tick(centre, T0 + PART + timedelta(hours=1)).assists_urged == 0
    urged = centre.last_event(cid)
    assert (urged.type, urged.payload["action"]) == ("complaint.urged", "urge-assist")
    assert {(r["audience"], r["phone"]) for r in urged.payload["recipients"]} == {
        ("assisting_department", ROADS_DESK)
    }
    assert urged.payload["details"]["assist_breach"]["due_at"] == (T0 + PART).isoformat()
    seen = parts(centre, cid)
    assert (seen["network"]["status"], seen["network"]["overdue"]) == ("contributed", False)
    assert seen["network"]["contribution"] == "光缆已于当日修复"
    assert seen["roads"]["status"] == "dispatched"
    assert seen["roads"]["due_at"].startswith((T0 + PART).strftime("%Y-%m-%dT%H:%M"))

    # The lead cannot answer yet; the roads office contributes late; then it can.
    with pytest.raises(GuardFailed) as waiting:
        do(centre, cid, Action.REPLY, CLERK, T0 + PART + timedelta(hours=2), **ANSWER)
    assert waiting.value.missing == ["assist:roads"]
    do(
        centre,
        cid,
        Action.CONTRIBUTE,
        ROADS,
        T0 + PART + timedelta(hours=3),
        contribution="路面已修补",
    )
    do(centre, cid, Action.REPLY, CLERK, T0 + PART + timedelta(hours=4), **ANSWER)
    assert centre.row(cid).state == "replied"
    assert centre.verify(cid)["valid"]


def test_a_helper_sees_the_complaint_and_its_queue_holds_its_part(centre: Centre) -> None:
    cid = centre.receive()
    assert centre.act(cid, "acknowledge", "DM01").is_success
    order = {"department_id": "billing", "instructions": "核对", "assisting": ["network"]}
    dispatched = centre.act(cid, "dispatch", "DM01", **order)
    assert dispatched.status_code == 200, dispatched.text
    # The network clerk reads it and finds it waiting for them, as a helper.
    seen = centre.get(cid, "N03")
    assert seen.status_code == 200, seen.text
    assert "accept-assist" in seen.json()["allowed_actions"]
    queue = centre.client.get("/departments/network/queue", headers=centre.as_("N03")).json()
    item = next(i for i in queue["items"] if i["id"] == cid)
    assert (item["assisting"], item["awaiting"]) == (True, "assist")
    # The roads office, not asked, still does not know it exists.
    roads = centre.env.token("department", "R05", "roads")
    assert centre.client.get(f"/complaints/{cid}", headers=roads).status_code == 404
    part = {"contribution": "?"}
    path = f"/complaints/{cid}/actions/contribute"
    assert centre.client.post(path, json=part, headers=roads).status_code == 404
    # Once contributed, it leaves the network's queue; billing's shows it waits on nobody.
    assert centre.act(cid, "contribute", "N03", contribution="已修复").status_code == 200
    queue = centre.client.get("/departments/network/queue", headers=centre.as_("N03")).json()
    assert cid not in [i["id"] for i in queue["items"]]
    assert centre.act(cid, "accept", "B07").is_success
    lead = centre.client.get("/departments/billing/queue", headers=centre.as_("B07")).json()
    assert next(i for i in lead["items"] if i["id"] == cid)["awaiting"] == "answer"


def test_an_unknown_helper_is_refused_naming_assisting_and_nothing_is_written(
    centre: Centre,
) -> None:
    cid = centre.receive()
    assert centre.act(cid, "acknowledge", "DM01").is_success
    order = {"department_id": "billing", "instructions": "核对", "assisting": ["legal"]}
    refused = centre.act(cid, "dispatch", "DM01", **order)
    assert refused.status_code == 422, refused.text
    assert refused.json()["fields"][0]["field"] == "assisting"
    assert centre.row(cid).state == "with_duty_manager"
    assert centre.get(cid).json()["assists"] == []
