"""The duty roster: who gets a new complaint at each moment, who takes over when the
manager on duty cannot, and the hand-over of open complaints at a shift change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.escalation import sla
from services.escalation.complaints import flows, service
from services.escalation.lifecycle import Actor, Command
from shared.vocabulary import Action
from tests.escalation.conftest import PHONES, Centre

pytestmark = pytest.mark.postgres

# A day well after the week the centre fixture puts DM01 on duty.
DAY = (datetime.now(UTC) + timedelta(days=40)).replace(hour=0, minute=0, second=0, microsecond=0)
MORNING, EVENING, NIGHT = (
    DAY + timedelta(hours=8),
    DAY + timedelta(hours=16),
    DAY + timedelta(hours=24),
)


def shift(centre: Centre, staff: str, starts: datetime, ends: datetime, **more: Any) -> Any:
    body = {"staff_id": staff, "starts_at": starts.isoformat(), "ends_at": ends.isoformat()}
    return centre.client.post("/roster/shifts", json=body | more, headers=centre.admin)


def on_duty(centre: Centre, at: datetime) -> dict[str, Any]:
    answer = centre.client.get(
        "/roster/on-duty", params={"at": at.isoformat()}, headers=centre.as_("A001")
    )
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_a_new_complaint_goes_to_the_manager_on_duty_at_that_moment(centre: Centre) -> None:
    assert shift(centre, "DM01", MORNING, EVENING).status_code == 201
    assert shift(centre, "DM02", EVENING, NIGHT).status_code == 201  # shifts may touch

    last_of_morning = centre.arrive(EVENING - timedelta(microseconds=1))
    first_of_evening = centre.arrive(EVENING)
    after_hours = centre.arrive(NIGHT)

    assert centre.row(last_of_morning).holder_staff_id == "DM01"
    assert centre.row(first_of_evening).holder_staff_id == "DM02"
    nobody = centre.row(after_hours)
    assert (nobody.holder_role, nobody.holder_staff_id, nobody.duty_manager_id) == (
        "supervisor",
        None,
        None,
    )
    # The supervisors see it in their queue, and were told by SMS.
    queue = centre.client.get("/queues/mine", headers=centre.as_("SV01")).json()
    assert after_hours in [item["id"] for item in queue["items"]]
    assigned = centre.last_event(after_hours)
    assert assigned.type == "complaint.assigned"
    assert PHONES["SV01"] in {r["phone"] for r in assigned.payload["recipients"]}
    assert assigned.payload["details"]["assigned_via"] == "supervisors"

    assert on_duty(centre, MORNING)["staff_id"] == "DM01"
    assert on_duty(centre, EVENING)["staff_id"] == "DM02"
    assert on_duty(centre, NIGHT) | {"at": None} == {
        "at": None,
        "staff_id": None,
        "role": "supervisor",
        "shift": None,
        "via": "supervisors",
        "name": None,
        "phone": None,
        "tenant": None,
        "roster_tenant": None,
    }


def test_when_the_manager_on_duty_has_left_the_backup_takes_new_complaints(
    centre: Centre,
) -> None:
    assert shift(centre, "DM01", MORNING, EVENING, backup_staff_id="DM02").status_code == 201
    person = {"name": "王经理", "phone": "13900139001", "role": "duty_manager", "active": False}
    assert centre.client.put("/staff/DM01", json=person, headers=centre.admin).status_code == 200
    cid = centre.arrive(MORNING + timedelta(hours=1))
    assert centre.row(cid).holder_staff_id == "DM02"
    assert on_duty(centre, MORNING)["via"] == "backup"


def test_the_roster_refuses_overlaps_and_people_who_are_not_duty_managers(
    centre: Centre,
) -> None:
    first = shift(centre, "DM01", MORNING, EVENING)
    overlap = shift(centre, "DM02", EVENING - timedelta(hours=1), NIGHT)
    assert overlap.status_code == 409
    assert first.json()["id"] in overlap.json()["message"]
    clerk = shift(centre, "B07", EVENING, NIGHT)
    assert clerk.status_code == 422
    assert "staff_id" in clerk.text and "not a duty_manager" in clerk.text
    backwards = shift(centre, "DM02", NIGHT, EVENING)
    assert backwards.status_code == 422 and "ends_at" in backwards.text
    # Only admins and supervisors plan; a duty manager may not.
    body = {"staff_id": "DM02", "starts_at": EVENING.isoformat(), "ends_at": NIGHT.isoformat()}
    refused = centre.client.post("/roster/shifts", json=body, headers=centre.as_("DM01"))
    assert refused.status_code == 403
    # A shift still to come can be removed; one that started is history.
    assert (
        centre.client.delete(
            f"/roster/shifts/{first.json()['id']}", headers=centre.admin
        ).status_code
        == 204
    )
    this_week = centre.client.get(
        "/roster/shifts", params={"staff_id": "DM01"}, headers=centre.as_("SV01")
    ).json()
    started = [s for s in this_week if datetime.fromisoformat(s["starts_at"]) < datetime.now(UTC)]
    refused = centre.client.delete(f"/roster/shifts/{started[0]['id']}", headers=centre.admin)
    assert refused.status_code == 409 and "has started" in refused.text


def test_at_a_shift_change_open_complaints_move_to_the_incoming_manager_once(
    centre: Centre,
) -> None:
    assert shift(centre, "DM01", MORNING, EVENING).status_code == 201
    assert shift(centre, "DM02", EVENING, NIGHT).status_code == 201
    sla.tick(centre.env.db, centre.outbox, now=MORNING, config=centre.config)
    waiting = centre.arrive(MORNING + timedelta(hours=1), severity="urgent")
    dispatched = centre.arrive(MORNING + timedelta(hours=2))
    flows.apply(
        centre.env.db,
        centre.outbox,
        dispatched,
        Command(
            Action.DISPATCH,
            Actor("DM01", "duty_manager"),
            {"department_id": "billing", "instructions": "核对账单"},
        ),
        now=MORNING + timedelta(hours=2),
        config=centre.config,
    )
    closed_before = len(centre.events())

    sla.tick(centre.env.db, centre.outbox, now=EVENING, config=centre.config)
    sla.tick(centre.env.db, centre.outbox, now=EVENING + timedelta(minutes=1), config=centre.config)

    held = centre.row(waiting)
    assert (held.holder_staff_id, held.duty_manager_id) == ("DM02", "DM02")
    assert held.acknowledged_at is None  # the incoming manager confirms they have it
    at_department = centre.row(dispatched)
    assert (at_department.holder_role, at_department.duty_manager_id) == ("department", "DM02")
    for cid in (waiting, dispatched):
        with centre.env.db.read() as session:
            entries = service.history_of(session, cid)
        handed = [e for e in entries if e.action == "hand-over"]
        assert len(handed) == 1
        assert handed[0].payload["previous_staff_id"] == "DM01"
        assert handed[0].payload["shift_change"] is True
        assert centre.verify(cid)["valid"] is True

    new_events = centre.events()[closed_before:]
    per_complaint = [e for e in new_events if e.type == "complaint.handed_over"]
    assert len(per_complaint) == 2 and all(not e.payload["recipients"] for e in per_complaint)
    (summary,) = [e for e in new_events if e.type == "duty.handed_over"]
    assert summary.payload["from_staff_id"] == "DM01"
    assert summary.payload["to_staff_id"] == "DM02"
    assert [r["phone"] for r in summary.payload["recipients"]] == [PHONES["DM02"]]
    assert {c["complaint_id"] for c in summary.payload["complaints"]} == {waiting, dispatched}
    assert "2 open complaints" in summary.payload["summary"]
    assert "1 urgent" in summary.payload["summary"]
