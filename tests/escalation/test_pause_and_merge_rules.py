"""The rules of pausing a complaint's clock (挂起) and of merging a duplicate into its
master (并案), judged by the lifecycle alone: no database, no clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.escalation.lifecycle import (
    ComplaintState,
    Forbidden,
    GuardFailed,
    IllegalAction,
    InvalidCommand,
    LifecycleConfig,
)
from shared.vocabulary import ClosureReason, State
from tests.escalation.test_lifecycle import (
    BILLING_CLERK,
    DUTY_MANAGER,
    MONDAY_9AM,
    NETWORK_CLERK,
    SUPERVISOR,
    SYSTEM,
    act,
    closed_as_satisfied,
    in_progress_at_billing,
    with_duty_manager,
)

HOUR = timedelta(hours=1)
WAIT = {"waiting_on": "customer", "reason": "客户出差，下周一才能提供发票"}


def asked_to_pause(**extra: object) -> ComplaintState:
    return act(in_progress_at_billing(), "request-pause", BILLING_CLERK, **WAIT, **extra).new


def paused(at=MONDAY_9AM + HOUR, **extra: object) -> ComplaintState:  # type: ignore[no-untyped-def]
    return act(asked_to_pause(**extra), "decide-pause", DUTY_MANAGER, at=at, decision="approve").new


def test_a_clerk_asks_and_the_clock_stops_only_when_the_duty_manager_approves() -> None:
    asked = asked_to_pause()
    assert asked.pending_pause is not None and asked.paused_at is None
    assert asked.pending_pause.waiting_on == "customer"
    approved = act(asked, "decide-pause", DUTY_MANAGER, at=MONDAY_9AM + HOUR, decision="approve")
    assert approved.event_type == "complaint.pause_decided"
    new = approved.new
    assert (new.paused_at, new.pending_pause, new.pause_count) == (MONDAY_9AM + HOUR, None, 1)
    # No time to resume asked for: it ends by itself after the centre's longest pause.
    assert new.paused_until == MONDAY_9AM + HOUR + LifecycleConfig().max_pause
    assert approved.payload["requested_by"] == BILLING_CLERK.staff_id
    assert new.state == State.IN_PROGRESS  # the state does not change, only the clock


def test_a_denied_request_leaves_the_clock_running() -> None:
    denied = act(
        asked_to_pause(), "decide-pause", DUTY_MANAGER, decision="deny", reason="请先电话联系"
    )
    assert (denied.new.pending_pause, denied.new.paused_at, denied.new.pause_count) == (
        None,
        None,
        0,
    )


def test_resuming_counts_the_time_the_clock_stood_still_to_the_second() -> None:
    stopped = paused(at=MONDAY_9AM + HOUR)
    later = MONDAY_9AM + HOUR + timedelta(hours=26, minutes=7, seconds=5)
    resumed = act(stopped, "resume", BILLING_CLERK, at=later)
    assert resumed.event_type == "complaint.resumed"
    assert resumed.payload["pause_seconds"] == 26 * 3600 + 7 * 60 + 5
    assert resumed.payload["via"] == "staff"
    assert (resumed.new.paused_at, resumed.new.paused_seconds) == (None, 26 * 3600 + 7 * 60 + 5)


def test_a_reply_while_paused_ends_the_pause_and_says_how_long_it_stood() -> None:
    stopped = paused(at=MONDAY_9AM + HOUR)
    answer = {"resolution": "已补开发票并寄出", "root_cause": "process"}
    replied = act(stopped, "reply", BILLING_CLERK, at=MONDAY_9AM + 3 * HOUR, **answer)
    assert replied.new.state == State.REPLIED
    assert replied.new.paused_at is None
    assert replied.payload["pause_ended_seconds"] == 2 * 3600
    assert replied.new.paused_seconds == 2 * 3600


def test_the_centre_limits_how_often_and_how_long_a_clock_may_stand_still() -> None:
    rules = LifecycleConfig(max_pauses=1, max_pause=timedelta(days=3))
    too_long = MONDAY_9AM + timedelta(days=4)
    with pytest.raises(InvalidCommand) as refused:
        act(
            in_progress_at_billing(),
            "request-pause",
            BILLING_CLERK,
            config=rules,
            resume_at=too_long.isoformat(),
            **WAIT,
        )
    assert refused.value.field == "resume_at"
    assert "at most 3 days" in refused.value.reason

    once = act(in_progress_at_billing(), "pause", DUTY_MANAGER, config=rules, **WAIT).new
    again = act(once, "resume", DUTY_MANAGER, config=rules, at=MONDAY_9AM + HOUR).new
    with pytest.raises(GuardFailed, match=r"already paused 1 times \(the limit is 1\)"):
        act(again, "request-pause", BILLING_CLERK, config=rules, at=MONDAY_9AM + 2 * HOUR, **WAIT)


def test_nothing_is_paused_twice_and_only_a_paused_clock_resumes() -> None:
    stopped = paused()
    with pytest.raises(GuardFailed, match="already paused"):
        act(stopped, "pause", DUTY_MANAGER, **WAIT)
    with pytest.raises(GuardFailed, match="waiting for a decision"):
        act(asked_to_pause(), "request-pause", BILLING_CLERK, **WAIT)
    with pytest.raises(GuardFailed, match="is not paused"):
        act(in_progress_at_billing(), "resume", BILLING_CLERK)
    with pytest.raises(GuardFailed, match="no request to pause"):
        act(in_progress_at_billing(), "decide-pause", DUTY_MANAGER, decision="approve")


def test_only_the_department_holding_it_asks_and_only_the_desk_decides() -> None:
    with pytest.raises(Forbidden, match="not with your department"):
        act(in_progress_at_billing(), "request-pause", NETWORK_CLERK, **WAIT)
    with pytest.raises(Forbidden):
        act(asked_to_pause(), "decide-pause", BILLING_CLERK, decision="approve")
    # A request names whom it waits on, from the list.
    with pytest.raises(InvalidCommand) as refused:
        act(
            in_progress_at_billing(),
            "request-pause",
            BILLING_CLERK,
            waiting_on="weather",
            reason="台风",
        )
    assert refused.value.field == "waiting_on"


def test_the_desk_pauses_its_own_complaint_and_the_timer_resumes_it() -> None:
    stopped = act(
        with_duty_manager(),
        "pause",
        DUTY_MANAGER,
        **WAIT,
        resume_at=(MONDAY_9AM + 5 * HOUR).isoformat(),
    )
    assert stopped.event_type == "complaint.paused"
    assert stopped.new.paused_until == MONDAY_9AM + 5 * HOUR
    resumed = act(stopped.new, "resume", SYSTEM, at=MONDAY_9AM + 5 * HOUR)
    assert resumed.payload["via"] == "timer"
    assert resumed.payload["pause_seconds"] == 5 * 3600


# --- merging duplicates ---------------------------------------------------------------


def test_a_duplicate_closes_as_merged_pointing_to_its_master() -> None:
    merged = act(with_duty_manager(), "merge", DUTY_MANAGER, master="c-master")
    assert merged.event_type == "complaint.merged"
    assert merged.new.state == State.CLOSED
    assert merged.new.closure_reason == ClosureReason.MERGED
    assert merged.new.merged_into == "c-master"
    assert (merged.new.holder_role, merged.new.holder_staff_id) == (None, None)


def test_a_complaint_at_a_department_can_be_merged_by_the_desk_but_not_by_the_clerk() -> None:
    merged = act(in_progress_at_billing(), "merge", SUPERVISOR, master="c-master")
    assert merged.new.state == State.CLOSED
    with pytest.raises(Forbidden):
        act(in_progress_at_billing(), "merge", BILLING_CLERK, master="c-master")


def test_an_answered_or_closed_complaint_is_not_merged_and_a_merged_one_is_not_reopened() -> None:
    with pytest.raises(IllegalAction) as refused:
        act(closed_as_satisfied(), "merge", DUTY_MANAGER, master="c-master")
    assert refused.value.allowed == ["reopen"]
    merged = act(with_duty_manager(), "merge", DUTY_MANAGER, master="c-master").new
    with pytest.raises(GuardFailed, match="merged into complaint c-master; reopen that one"):
        act(merged, "reopen", DUTY_MANAGER, reason="客户又来电")


def test_a_merge_ends_a_pause_and_drops_a_request_for_one() -> None:
    merged = act(
        paused(at=MONDAY_9AM + HOUR),
        "merge",
        DUTY_MANAGER,
        at=MONDAY_9AM + 2 * HOUR,
        master="c-master",
    )
    assert merged.new.paused_at is None
    assert merged.payload["pause_ended_seconds"] == 3600
    assert act(asked_to_pause(), "merge", DUTY_MANAGER, master="m").new.pending_pause is None
