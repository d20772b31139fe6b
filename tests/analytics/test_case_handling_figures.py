"""Figures of case handling, read back through the API: duplicates merged into their
master count once with every caller; joint complaints give each department its figures
as a helper (协办) beside those as the lead."""

from __future__ import annotations

import pytest

from tests.analytics.conftest import Analytics, load
from tests.analytics.story import P1, P2, P3, Story, bj

pytestmark = pytest.mark.postgres

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def test_the_master_counts_once_and_its_callers_all(analytics: Analytics) -> None:
    s = Story()
    for name, phone, minute in (("M", P1, 0), ("D1", P2, 5), ("D2", P3, 9), ("D3", P1, 20)):
        s.received(name, bj(3, 2, 9, minute), category="billing", phone=phone)
    for name in ("D1", "D2", "D3"):
        s.act(name, "merged", "merge", bj(3, 2, 10), to="closed", closure_reason="merged",
              details={"master_id": s.complaints["M"].id})  # fmt: skip
    s.received("other", bj(3, 3, 9), category="billing", phone=P2)
    assert load(analytics.env.db, s.events) == len(s.events)

    o = analytics.get("/analytics/overview", **MARCH)
    # To handle: the pipe and the other one. Waiting: three people (P1 rang twice).
    assert (o["volume"], o["merged_duplicates"], o["callers"]) == (2, 3, 3)
    assert o["closed"] == 0  # a merged duplicate is not a complaint closed


def test_each_helper_department_has_its_parts_in_time_late_and_owed(analytics: Analytics) -> None:
    s = Story()
    due = bj(3, 3, 9)
    for name in ("J1", "J2"):
        s.received(name, bj(3, 2, 9), category="billing", phone=P1)
        s.act(name, "acknowledged", "acknowledge", bj(3, 2, 9, 5), stage="handling")
        s.act(
            name,
            "dispatched",
            "dispatch",
            bj(3, 2, 9, 10),
            to="dispatched",
            stage="acceptance",
            department="billing",
            details={"assisting": ["network", "roads"], "assist_due_at": due.isoformat()},
        )
    # J1: the network in time, the roads office a day late. J2: the network declines,
    # the roads office still owes its part.
    s.act("J1", "assist_contributed", "contribute", bj(3, 2, 15),
          details={"assist_department_id": "network"})  # fmt: skip
    s.act("J1", "assist_contributed", "contribute", bj(3, 4, 9),
          details={"assist_department_id": "roads"})  # fmt: skip
    s.act("J2", "assist_declined", "decline-assist", bj(3, 2, 16),
          details={"assist_department_id": "network"})  # fmt: skip
    assert load(analytics.env.db, s.events) == len(s.events)

    answer = analytics.get("/analytics/assists", month="2026-03")
    by = {d["department"]: d for d in answer["departments"]}
    assert by["network"]["as_assisting"] == {
        "parts": 2, "contributed": 1, "on_time": 1, "late": 0,
        "declined": 1, "released": 0, "owed": 0,
    }  # fmt: skip
    assert by["roads"]["as_assisting"] == {
        "parts": 2, "contributed": 1, "on_time": 0, "late": 2,
        "declined": 0, "released": 0, "owed": 1,
    }  # fmt: skip
    assert by["billing"]["led_with_helpers"] == 2
    assert by["billing"]["as_assisting"]["parts"] == 0
