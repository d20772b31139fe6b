"""A complaint's fact row, event by event: pure functions, no database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.analytics.facts import projection
from shared.contracts import RootCauseRevised
from shared.events import registry
from shared.vocabulary import Stage
from tests.analytics.story import BEIJING, P1, P3, Story, bj, fixture_month


def facts_of_story(story: Story | None = None) -> dict[str, dict[str, Any]]:
    story = story or fixture_month()
    facts: dict[str, dict[str, Any]] = {}
    for envelope in story.events:
        event = registry.decode(projection_bytes(envelope))
        cid = envelope.complaint_id or ""
        at = envelope.occurred_at
        if event.type == "complaint.received":
            facts[cid] = projection.received(facts.get(cid), event.payload, at, BEIJING)
        else:
            after = projection.lifecycle(facts.get(cid), event.payload, event.type, at, BEIJING)
            assert after is not None
            facts[cid] = after
    return {f["reference"].split("-")[1]: f for f in facts.values()}


def projection_bytes(envelope: Any) -> bytes:
    from shared.events import encode

    return encode(envelope)


def hours(n: float) -> int:
    return int(timedelta(hours=n).total_seconds())


def test_a_complaint_answered_in_time_has_every_stage_met() -> None:
    c1 = facts_of_story()["C1"]
    assert (c1["state"], c1["department_id"], c1["root_cause"]) == ("closed", "billing", "system")
    assert c1["registered_month"] == "2026-03" and c1["registered_day"].isoformat() == "2026-03-02"
    assert [c1[f"{s}_seconds"] for s in list(Stage)] == [
        600,
        hours(1),
        hours(1),
        hours(24),
        hours(4),
    ]
    assert all(c1[f"{s}_met"] for s in list(Stage))
    assert (c1["deadlines_missed"], c1["feedback"], c1["closure_reason"]) == (
        0,
        "satisfied",
        "satisfied",
    )


def test_a_returned_reopened_escalated_complaint_adds_up_every_visit_of_each_stage() -> None:
    c2 = facts_of_story()["C2"]
    assert c2["acknowledgement_seconds"] == 50 * 60 and c2["acknowledgement_met"] is False
    assert c2["handling_seconds"] == 90 * 60 and c2["handling_met"] is True
    assert c2["acceptance_seconds"] == hours(2 + 1 + 13) and c2["acceptance_met"] is False
    assert c2["resolution_seconds"] == hours(52) and c2["resolution_met"] is True
    assert c2["follow_up_seconds"] == hours(6) and c2["follow_up_met"] is True
    assert c2["deadlines_missed"] == 3
    assert (c2["returns"], c2["reopens"], c2["urges"], c2["escalations"]) == (1, 1, 2, 1)
    assert c2["escalation_level"] == 2  # the highest reached, though each stage restarts at 0
    assert (c2["department_id"], c2["root_cause"], c2["root_cause_reported"]) == (
        "network",
        "system",
        "system",
    )
    assert (c2["feedback"], c2["unsatisfied"]) == ("satisfied", 1)


def test_a_transfer_makes_the_complaint_the_new_departments_and_restarts_its_acceptance() -> None:
    s = Story()
    s.received("T1", bj(3, 2, 9), category="billing", phone=P1)
    s.act("T1", "acknowledged", "acknowledge", bj(3, 2, 9, 10), stage="handling")
    s.act(
        "T1",
        "dispatched",
        "dispatch",
        bj(3, 2, 9, 40),
        to="dispatched",
        stage="acceptance",
        department="billing",
    )
    s.act("T1", "accepted", "accept", bj(3, 2, 10, 40), to="in_progress", stage="resolution")
    # Billing finds it is the network team's and sends it straight on (转办).
    s.act(
        "T1",
        "transferred",
        "transfer",
        bj(3, 2, 12, 40),
        to="dispatched",
        stage="acceptance",
        department="network",
        reason="线路故障，归网络部",
        details={"from_department_id": "billing"},
    )
    t1 = facts_of_story(s)["T1"]
    assert (t1["state"], t1["department_id"]) == ("dispatched", "network")
    assert t1["dispatched_at"] == bj(3, 2, 12, 40) and t1["accepted_at"] is None
    assert (t1["stage"], t1["stage_entered_at"]) == ("acceptance", bj(3, 2, 12, 40))
    assert t1["acceptance_seconds"] == hours(1)  # billing's; the network's runs from now
    assert t1["resolution_seconds"] == hours(2)
    assert t1["returns"] == 0  # not sent back to the desk

    # The network team sends it on before accepting it: the roads office's clock starts.
    s.act(
        "T1",
        "transferred",
        "transfer",
        bj(3, 2, 13, 10),
        to="dispatched",
        stage="acceptance",
        department="roads",
        reason="道路设施",
        details={"from_department_id": "network"},
    )
    t1 = facts_of_story(s)["T1"]
    assert (t1["department_id"], t1["stage_entered_at"]) == ("roads", bj(3, 2, 13, 10))
    assert t1["acceptance_seconds"] == hours(1.5)


def test_closed_unreached_late_and_an_open_complaint_keep_their_current_deadline() -> None:
    f = facts_of_story()
    c3, c4, c5 = f["C3"], f["C4"], f["C5"]
    assert c3["follow_up_seconds"] == hours(46) + 55 * 60 and c3["follow_up_met"] is False
    assert (c3["closure_reason"], c3["feedback"], c3["department_id"]) == (
        "unreached",
        "unreachable",
        None,
    )
    assert (c4["state"], c4["stage"], c4["due_at"]) == (
        "in_progress",
        "resolution",
        bj(3, 20, 11, 20),
    )
    assert c4["resolution_seconds"] is None and c4["resolution_met"] is None
    assert c4["customer_key"] == P3
    assert (c5["state"], c5["stage"], c5["due_at"]) == (
        "with_duty_manager",
        "acknowledgement",
        bj(3, 31, 22, 30),
    )
    assert c5["registered_day"].isoformat() == "2026-03-31"  # 14:00 UTC, 22:00 in Beijing


def test_qa_revision_stands_against_a_later_reported_cause() -> None:
    c3 = facts_of_story()["C3"]
    revision = RootCauseRevised(
        complaint_id=c3["complaint_id"],
        reference=c3["reference"],
        root_cause="management",
        previous="service",
        revised_by="QA1",
        revised_at=bj(3, 20, 9),
    )
    after = projection.revised(c3, revision, bj(3, 20, 9))
    assert (after["root_cause"], after["root_cause_reported"], after["root_cause_revisions"]) == (
        "management",
        "service",
        1,
    )
    assert after["updated_at"] == bj(3, 20, 9)


def test_an_older_lifecycle_entry_than_the_fact_holds_changes_nothing() -> None:
    story = fixture_month()
    c1 = facts_of_story()["C1"]
    first = next(e for e in story.events if e.type == "complaint.assigned")
    event = registry.decode(projection_bytes(first))
    assert projection.lifecycle(c1, event.payload, event.type, first.occurred_at, BEIJING) is None


def test_history_an_import_brings_closes_when_the_older_system_closed_it() -> None:
    from datetime import UTC, datetime

    from shared.contracts import LifecycleChanged

    imported_at = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
    closed_then = datetime(2020, 3, 20, 10, 0, tzinfo=UTC)
    closing = LifecycleChanged(
        complaint_id="c-old",
        reference="TS20200318-000001",
        action="import",
        from_state="received",
        to_state="closed",
        history_seq=1,
        closure_reason="imported",
        details={"closed_at": closed_then.isoformat(), "resolution": "已修复路灯"},
    )
    fact = projection.lifecycle(None, closing, "complaint.closed", imported_at, BEIJING)
    assert fact is not None
    assert (fact["closed_at"], fact["closure_reason"]) == (closed_then, "imported")
    # A closure of today, by the lifecycle itself, keeps the event's own time.
    today = closing.model_copy(update={"action": "feedback", "closure_reason": "satisfied"})
    fact = projection.lifecycle(None, today, "complaint.closed", imported_at, BEIJING)
    assert fact is not None and fact["closed_at"] == imported_at


def _at_billing(s: Story, name: str) -> None:
    s.received(name, bj(3, 2, 9), category="billing", phone=P1)
    s.act(name, "acknowledged", "acknowledge", bj(3, 2, 9, 10), stage="handling")
    s.act(
        name,
        "dispatched",
        "dispatch",
        bj(3, 2, 9, 40),
        to="dispatched",
        stage="acceptance",
        department="billing",
    )
    # Accepted at 10:00 on 2 March: 48 hours to resolve, due 4 March 10:00.
    s.act(name, "accepted", "accept", bj(3, 2, 10), to="in_progress", stage="resolution")


def test_the_time_a_clock_stood_still_is_nobody_s_delay() -> None:
    s = Story()
    _at_billing(s, "P1")
    due = bj(3, 4, 10)
    s.act("P1", "pause_decided", "decide-pause", bj(3, 2, 11), paused_since=bj(3, 2, 11))
    # Resumed after 30 hours: escalation moved the deadline by as much.
    s.act(
        "P1",
        "resumed",
        "resume",
        bj(3, 3, 17),
        due_at=due + timedelta(hours=30),
        paused_seconds=hours(30),
    )
    # Answered 20 hours after the first deadline: late by the wall clock, in time by the
    # clock that ran.
    s.act("P1", "replied", "reply", bj(3, 4, 20), to="replied", stage="follow_up",
          paused_seconds=hours(30))  # fmt: skip
    p1 = facts_of_story(s)["P1"]
    assert p1["resolution_seconds"] == hours(58 - 30)
    assert p1["resolution_met"] is True
    assert p1["deadlines_missed"] == 0
    assert p1["paused_seconds"] == hours(30)


def test_a_reply_that_ends_a_pause_is_judged_with_the_pause_left_out() -> None:
    s = Story()
    _at_billing(s, "P2")
    s.act("P2", "paused", "pause", bj(3, 2, 12), paused_since=bj(3, 2, 12))
    # Still paused when billing answers, 60 hours after accepting; 50 of them paused.
    s.act(
        "P2",
        "replied",
        "reply",
        bj(3, 4, 22),
        to="replied",
        stage="follow_up",
        paused_seconds=hours(58),
        details={"pause_ended_seconds": hours(58)},
    )
    p2 = facts_of_story(s)["P2"]
    assert p2["resolution_seconds"] == hours(2)
    assert p2["resolution_met"] is True

    late = Story()
    _at_billing(late, "P3")
    late.act("P3", "replied", "reply", bj(3, 4, 22), to="replied", stage="follow_up")
    assert facts_of_story(late)["P3"]["resolution_met"] is False  # the same, never paused


def test_a_merged_duplicate_points_to_its_master() -> None:
    s = Story()
    s.received("D1", bj(3, 2, 9), category="billing", phone=P3)
    s.act("D1", "merged", "merge", bj(3, 2, 9, 5), to="closed", details={"master_id": "M-1"},
          closure_reason="merged")  # fmt: skip
    d1 = facts_of_story(s)["D1"]
    assert (d1["state"], d1["closure_reason"], d1["merged_into"]) == ("closed", "merged", "M-1")
