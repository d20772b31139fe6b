"""Pausing a complaint's clock (挂起) on PostgreSQL, with a controllable clock: a department
waiting on the customer asks, the duty manager approves, no breach falls due while the
clock stands still, and every deadline moves by exactly the pause."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from services.escalation.config import DEFAULT_SLA_MINUTES
from services.escalation.lifecycle import GuardFailed, InvalidCommand
from shared.vocabulary import Action
from tests.escalation.conftest import PHONES, Centre
from tests.escalation.test_sla import CLERK, DM, T0, do, into_stage, make_t0, tick, timer_entries

pytestmark = pytest.mark.postgres

__all__ = ["make_t0"]  # the fixture, used by name

RESOLUTION = timedelta(minutes=DEFAULT_SLA_MINUTES["resolution"]["normal"])
WAIT = {"waiting_on": "customer", "reason": "客户出差，下周一才能提供发票"}


@pytest.fixture
def centre(make_t0: Callable[..., Centre]) -> Centre:
    return make_t0(escalation_step_percent=50)


def test_a_paused_complaint_s_deadline_moves_by_exactly_the_pause(centre: Centre) -> None:
    cid = into_stage(centre, "resolution", "normal")
    due = centre.row(cid).due_at
    assert due == T0 + RESOLUTION

    do(centre, cid, Action.REQUEST_PAUSE, CLERK, T0 + timedelta(hours=1), **WAIT)
    asked = centre.last_event(cid)
    assert asked.type == "complaint.pause_requested"
    # The duty manager who dispatched it decides, and is texted.
    assert {r["phone"] for r in asked.payload["recipients"]} == {PHONES["DM01"]}
    # It waits among the desk's decisions, saying what is asked.
    queue = centre.client.get("/queues/decisions", headers=centre.as_("DM01"))
    assert queue.status_code == 200, queue.text
    item = next(i for i in queue.json()["items"] if i["id"] == cid)
    assert (item["pending_pause"], item["awaiting"]) == (True, "pause")

    stopped_at = T0 + timedelta(hours=2)
    do(centre, cid, Action.DECIDE_PAUSE, DM, stopped_at, decision="approve")
    decided = centre.last_event(cid)
    assert {r["phone"] for r in decided.payload["recipients"]} == {PHONES["B07"]}
    assert decided.payload["paused_since"] is not None

    # Long past the old deadline, and all its escalation steps: nothing happens.
    assert tick(centre, due + RESOLUTION).complaints == 0
    assert timer_entries(centre, cid) == []

    resumed_at = stopped_at + timedelta(hours=100, minutes=3, seconds=7)
    do(centre, cid, Action.RESUME, CLERK, resumed_at)
    row = centre.row(cid)
    pause = resumed_at - stopped_at
    assert row.due_at == due + pause
    assert row.next_breach_at == due + pause
    assert (row.paused_at, row.paused_seconds) == (None, int(pause.total_seconds()))

    # The breach comes as much later as the clock stood still, not a second before.
    assert tick(centre, due + pause - timedelta(seconds=1)).urged == 0
    assert tick(centre, due + pause).urged == 1
    assert timer_entries(centre, cid) == [("urge", 1)]
    assert centre.verify(cid)["valid"]


def test_a_pause_with_a_time_to_resume_runs_out_by_itself(centre: Centre) -> None:
    cid = into_stage(centre, "acceptance", "normal")
    due = centre.row(cid).due_at
    until = T0 + timedelta(hours=30)
    do(
        centre,
        cid,
        Action.PAUSE,
        DM,
        T0 + timedelta(minutes=10),
        resume_at=until.isoformat(),
        **WAIT,
    )
    assert centre.row(cid).next_breach_at == until

    assert tick(centre, until - timedelta(seconds=1)).complaints == 0
    # The worker comes two hours late: the pause still ended when it was set to end.
    result = tick(centre, until + timedelta(hours=2))
    assert result.urged == 0
    row = centre.row(cid)
    assert row.paused_at is None
    assert row.due_at == due + (until - (T0 + timedelta(minutes=10)))
    entry = centre.history(cid)[-1]
    assert (entry["action"], entry["actor_id"], entry["payload"]["via"]) == (
        "resume",
        "system",
        "timer",
    )
    # The department holding it hears that its clock runs again.
    event = centre.last_event(cid)
    assert event.type == "complaint.resumed"
    assert {r["audience"] for r in event.payload["recipients"]} == {"department"}


def test_a_complaint_urged_before_its_pause_is_not_urged_again_after_it(centre: Centre) -> None:
    cid = into_stage(centre, "resolution", "normal")
    due = centre.row(cid).due_at
    assert tick(centre, due).urged == 1
    stopped_at = due + timedelta(minutes=5)
    pause = timedelta(hours=40)
    do(
        centre,
        cid,
        Action.PAUSE,
        DM,
        stopped_at,
        resume_at=(stopped_at + pause).isoformat(),
        **WAIT,
    )
    step = RESOLUTION / 2
    # Level 2 would have fallen due at due + step, while the clock stood still.
    assert tick(centre, due + step).escalated == 0
    tick(centre, stopped_at + pause)  # the pause runs out
    assert timer_entries(centre, cid) == [("urge", 1)]
    assert tick(centre, due + step + pause - timedelta(seconds=1)).escalated == 0
    assert tick(centre, due + step + pause).escalated == 1
    assert timer_entries(centre, cid) == [("urge", 1), ("escalate", 2)]


def test_limits_and_refusals_answer_with_the_field_or_the_state(
    make_t0: Callable[..., Centre],
) -> None:
    centre = make_t0(max_pauses=1, max_pause_hours=48)
    cid = into_stage(centre, "resolution", "normal")
    far = (T0 + timedelta(days=5)).isoformat()
    with pytest.raises(InvalidCommand) as refused:
        do(centre, cid, Action.REQUEST_PAUSE, CLERK, T0, resume_at=far, **WAIT)
    assert refused.value.field == "resume_at"
    do(centre, cid, Action.PAUSE, DM, T0, **WAIT)
    assert centre.row(cid).paused_until == T0 + timedelta(hours=48)
    do(centre, cid, Action.RESUME, DM, T0 + timedelta(hours=1))
    with pytest.raises(GuardFailed, match="the limit is 1"):
        do(centre, cid, Action.REQUEST_PAUSE, CLERK, T0 + timedelta(hours=2), **WAIT)


def test_through_the_api_a_clerk_asks_another_department_cannot_and_the_desk_sees_it(
    centre: Centre,
) -> None:
    cid = centre.receive()
    assert centre.act(cid, "acknowledge", "DM01").is_success
    order = {"department_id": "billing", "instructions": "核对 3 月账单"}
    assert centre.act(cid, "dispatch", "DM01", **order).is_success
    assert centre.act(cid, "accept", "B07").is_success

    assert centre.act(cid, "request-pause", "N03", **WAIT).status_code == 404
    answer = centre.act(cid, "request-pause", "B07", **WAIT)
    assert answer.status_code == 200, answer.text
    seen = centre.get(cid, "DM01").json()
    assert seen["pending_pause"]["waiting_on"] == "customer"
    assert seen["pending_pause"]["requested_by"] == "B07"
    again = centre.act(cid, "request-pause", "B07", **WAIT)
    assert again.status_code == 409
    assert "waiting for a decision" in again.json()["message"]
    approved = centre.act(cid, "decide-pause", "DM01", decision="approve")
    assert approved.status_code == 200, approved.text
    body = approved.json()["complaint"]
    assert body["paused_at"] is not None and body["pending_pause"] is None
    queue = centre.client.get("/departments/billing/queue", headers=centre.as_("B07")).json()
    item = next(i for i in queue["items"] if i["id"] == cid)
    assert (item["paused"], item["awaiting"]) == (True, "paused")
    assert centre.act(cid, "resume", "B07").status_code == 200
