"""Complaints from an older system: what it had closed lands closed, as it stood there, in
one history entry, with no duty manager, no SLA clock and no SMS; what it still had open
becomes live work that says where it came from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.escalation.conftest import PHONES, Centre, received_event

pytestmark = pytest.mark.postgres

CAME_IN = datetime(2020, 3, 18, 0, 30, tzinfo=UTC)  # 08:30 in Beijing
CLOSED_THEN = datetime(2020, 3, 19, 9, 30, tzinfo=UTC)


def test_a_complaint_closed_in_the_old_system_lands_closed_without_sms_clock_or_duty_manager(
    centre: Centre,
) -> None:
    cid = centre.receive(
        imported=True,
        registered_at=CAME_IN,
        imported_state="closed",
        imported_resolution="已退还多扣的话费",
        imported_department="billing",
        imported_closed_at=CLOSED_THEN,
    )
    seen = centre.get(cid, "SV01").json()
    assert (seen["state"], seen["closure_reason"], seen["imported"]) == ("closed", "imported", True)
    assert (seen["resolution"], seen["department_id"]) == ("已退还多扣的话费", "billing")
    assert seen["holder_staff_id"] is None and seen["duty_manager_id"] is None
    assert seen["due_at"] is None and seen["stage"] is None  # no SLA clock, nothing to breach
    assert centre.row(cid).next_breach_at is None
    (entry,) = centre.history(cid, "SV01")
    assert (entry["action"], entry["from_state"], entry["to_state"], entry["actor_role"]) == (
        "import",
        "received",
        "closed",
        "system",
    )
    assert entry["payload"]["closed_at"] == CLOSED_THEN.isoformat()
    (event,) = centre.events(cid)
    assert event.type == "complaint.closed"
    assert event.payload["recipients"] == []  # nobody is told: it is history
    assert event.payload["closure_reason"] == "imported"
    assert centre.verify(cid, "SV01")["valid"]


def test_an_older_systems_department_is_matched_by_id_or_name_or_kept_as_written(
    centre: Centre,
) -> None:
    by_name = centre.receive(
        imported=True, imported_state="closed", imported_department="账务部 Billing"
    )
    assert centre.row(by_name).department_id == "billing"
    unknown = centre.receive(imported=True, imported_state="closed", imported_department="城管局")
    assert centre.row(unknown).department_id is None
    assert centre.last_event(unknown).payload["details"]["imported_department"] == "城管局"
    bare = centre.receive(imported=True, imported_state="closed")
    assert centre.row(bare).state == "closed" and centre.row(bare).resolution is None


def test_a_complaint_still_open_in_the_old_system_becomes_live_work_that_says_so(
    centre: Centre,
) -> None:
    before = datetime.now(UTC)
    cid = centre.receive(imported=True, registered_at=CAME_IN, imported_department="城管局")
    seen = centre.get(cid).json()
    assert (seen["state"], seen["holder_staff_id"], seen["imported"]) == (
        "with_duty_manager",
        "DM01",
        True,
    )
    # Its clock starts now, not in 2020: it is not overdue the moment it arrives.
    assert datetime.fromisoformat(seen["due_at"]) > before + timedelta(minutes=10)
    assert seen["overdue"] is False
    event = centre.last_event(cid)
    assert event.type == "complaint.assigned"
    assert {(r["audience"], r["phone"]) for r in event.payload["recipients"]} >= {
        ("duty_manager", PHONES["DM01"])
    }
    details = event.payload["details"]
    assert details["imported"] is True and details["imported_department"] == "城管局"
    assert details["registered_at"] == CAME_IN.isoformat()
    assert "imported" in event.payload["summary"]


def test_a_live_complaint_is_not_marked_imported(centre: Centre) -> None:
    cid = centre.receive()
    assert centre.get(cid).json()["imported"] is False
    assert "imported" not in centre.last_event(cid).payload["details"]


def test_an_import_delivered_twice_lands_once(centre: Centre) -> None:
    envelope = received_event(imported=True, imported_state="closed")
    assert centre.deliver(envelope)
    assert not centre.deliver(envelope)
    assert len(centre.events(str(envelope.complaint_id))) == 1
