"""A caller who calls again (催办) reaches whoever holds the complaint: intake's
`complaint.urge_requested` becomes a lifecycle urge of the holder, with the agent and the
caller's words in the history and in the event notify turns into the urge SMS."""

from __future__ import annotations

import pytest

from shared.contracts import URGE_REQUESTED, UrgeRequested
from shared.events import Actor as EventActor
from shared.events import Envelope, registry
from tests.escalation.conftest import PHONES, Centre

pytestmark = pytest.mark.postgres

WORDS = "已经三天了还没人联系我，请尽快处理。"


def urge_requested(centre: Centre, complaint_id: str, text: str = WORDS) -> Envelope:
    return registry.new(
        URGE_REQUESTED.name,
        UrgeRequested(
            complaint_id=complaint_id,
            reference=centre.row(complaint_id).reference,
            text=text,
            requested_by="A001",
        ),
        source="intake",
        tenant="default",
        actor=EventActor(id="A001", role="agent"),
        complaint_id=complaint_id,
    )


def recipients(centre: Centre, complaint_id: str) -> set[tuple[str, str]]:
    event = centre.last_event(complaint_id)
    return {(r["audience"], r["phone"]) for r in event.payload["recipients"]}


def test_a_callers_urge_reaches_the_duty_manager_holding_the_complaint(centre: Centre) -> None:
    cid = centre.receive()
    assert centre.deliver(urge_requested(centre, cid))
    event = centre.last_event(cid)
    assert event.type == "complaint.urged"
    assert event.actor.model_dump() == {"id": "system", "role": "system"}
    assert recipients(centre, cid) == {("duty_manager", PHONES["DM01"])}
    assert WORDS in event.payload["reason"]
    details = event.payload["details"]
    assert (details["via"], details["requested_by"], details["caller_words"]) == (
        "caller",
        "A001",
        WORDS,
    )
    assert event.payload["urge_count"] == 1 and event.payload["escalation_level"] == 0
    entry = centre.history(cid)[-1]
    assert (entry["action"], entry["actor_role"]) == ("urge", "system")
    assert entry["payload"]["requested_by"] == "A001"
    assert entry["payload"]["caller_words"] == WORDS
    assert centre.verify(cid)["valid"]


def test_a_callers_urge_reaches_the_department_desk_once_dispatched(centre: Centre) -> None:
    cid = centre.receive()
    answer = centre.act(cid, "dispatch", "DM01", department_id="billing", instructions="核对账单")
    assert answer.status_code == 200, answer.text
    assert centre.deliver(urge_requested(centre, cid, "客户再次来电，情绪很激动"))
    assert centre.last_event(cid).type == "complaint.urged"
    assert recipients(centre, cid) == {("department", "+8613700137001")}
    assert centre.get(cid).json()["urge_count"] == 1


def test_the_same_urge_delivered_twice_urges_once(centre: Centre) -> None:
    cid = centre.receive()
    envelope = urge_requested(centre, cid)
    assert centre.deliver(envelope)
    assert not centre.deliver(envelope)
    assert centre.get(cid).json()["urge_count"] == 1


def test_an_urge_for_a_complaint_closed_meanwhile_changes_nothing(centre: Centre) -> None:
    cid = centre.receive()
    centre.act(cid, "resolve", "DM01", resolution="已退款", root_cause="system")
    centre.feedback(cid, "satisfied")
    assert centre.row(cid).state == "closed"
    seq = centre.row(cid).history_seq
    assert centre.deliver(urge_requested(centre, cid))  # handled: logged, not retried
    assert centre.row(cid).history_seq == seq
    assert centre.last_event(cid).type == "complaint.closed"
