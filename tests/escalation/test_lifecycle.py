"""The complaint lifecycle, told as the people in a call centre live it."""

from __future__ import annotations

import json
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.escalation.lifecycle import (
    RULES,
    TRANSITIONS,
    Actor,
    AssistPart,
    Command,
    ComplaintState,
    Decision,
    Forbidden,
    GuardFailed,
    IllegalAction,
    InvalidCommand,
    LifecycleConfig,
    actions_allowed_in,
    allowed_actions,
    decide,
    parse_action,
)
from shared.vocabulary import Action, State

MONDAY_9AM = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

SYSTEM = Actor("escalation-service", "system")
DUTY_MANAGER = Actor("DM01", "duty_manager")
NEXT_DUTY_MANAGER = Actor("DM02", "duty_manager")
SUPERVISOR = Actor("SV01", "supervisor")
BILLING_CLERK = Actor("B07", "department", "billing")
OTHER_BILLING_CLERK = Actor("B08", "department", "billing")
NETWORK_CLERK = Actor("N03", "department", "network")
CLERK_WITHOUT_DEPARTMENT = Actor("X01", "department")
AGENT = Actor("A001", "agent")
VIEWER = Actor("V01", "viewer")
QA_ANALYST = Actor("Q01", "qa")
ADMIN = Actor("AD01", "admin")
CAST = [
    SYSTEM,
    DUTY_MANAGER,
    NEXT_DUTY_MANAGER,
    SUPERVISOR,
    BILLING_CLERK,
    NETWORK_CLERK,
    CLERK_WITHOUT_DEPARTMENT,
    AGENT,
    VIEWER,
    QA_ANALYST,
    ADMIN,
]

RESOLUTION = {"resolution": "Refunded the double charge", "root_cause": "system"}


def act(
    complaint: ComplaintState,
    action: str,
    actor: Actor,
    *,
    at: datetime = MONDAY_9AM,
    config: LifecycleConfig | None = None,
    **data: Any,
) -> Decision:
    command = Command(parse_action(action), actor, data)
    return decide(complaint, command, now=at, config=config or LifecycleConfig())


# A few complaints at well-known points of their lives, reached through the lifecycle itself.


def received(nature: str = "genuine") -> ComplaintState:
    return ComplaintState.new(nature=nature)


def with_duty_manager(nature: str = "genuine") -> ComplaintState:
    return act(received(nature), "assign", SYSTEM, staff_id="DM01").new


def dispatched_to_billing(nature: str = "genuine") -> ComplaintState:
    instructions = "Customer was charged twice in February; check the invoice"
    complaint = with_duty_manager(nature)
    return act(
        complaint, "dispatch", DUTY_MANAGER, department_id="billing", instructions=instructions
    ).new


def in_progress_at_billing(nature: str = "genuine") -> ComplaintState:
    return act(dispatched_to_billing(nature), "accept", BILLING_CLERK).new


def replied_by_billing(nature: str = "genuine", **extra: Any) -> ComplaintState:
    return act(in_progress_at_billing(nature), "reply", BILLING_CLERK, **RESOLUTION, **extra).new


def closed_as_satisfied() -> ComplaintState:
    return act(replied_by_billing(), "feedback", SYSTEM, result="satisfied").new


def returned(complaint: ComplaintState, config: LifecycleConfig | None = None) -> ComplaintState:
    reason = {"reason_code": "not_ours", "reason": "This is a network fault"}
    return act(complaint, "return", BILLING_CLERK, config=config, **reason).new


def redispatched(complaint: ComplaintState, by: Actor = DUTY_MANAGER) -> ComplaintState:
    order = {"department_id": "billing", "instructions": "Please look again"}
    return act(complaint, "dispatch", by, **order).new


def one_of_each_state() -> list[ComplaintState]:
    return [
        received(),
        with_duty_manager(),
        dispatched_to_billing(),
        in_progress_at_billing(),
        replied_by_billing(),
        closed_as_satisfied(),
    ]


# --- the whole story ----------------------------------------------------------------------


def test_a_complaint_lives_its_whole_life_from_receipt_to_a_satisfied_customer() -> None:
    complaint = ComplaintState.new(nature="genuine")
    assert complaint.state == State.RECEIVED
    clock = MONDAY_9AM
    events: list[str] = []

    def step(action: str, actor: Actor, expect: State, stage: str | None, **data: Any) -> Decision:
        nonlocal complaint, clock
        clock += timedelta(minutes=30)
        decision = act(complaint, action, actor, at=clock, **data)
        assert (decision.from_state, decision.action, decision.to_state) in TRANSITIONS
        assert decision.to_state == expect == decision.new.state
        assert decision.stage_entered == stage
        json.dumps(decision.payload)  # goes into the outbox as it is
        events.append(decision.event_type)
        complaint = decision.new
        return decision

    step("assign", SYSTEM, State.WITH_DUTY_MANAGER, "acknowledgement", staff_id="DM01")
    assert (complaint.holder_staff_id, complaint.holder_role) == ("DM01", "duty_manager")

    step("acknowledge", DUTY_MANAGER, State.WITH_DUTY_MANAGER, "resolution")
    assert complaint.acknowledged_by == "DM01"

    dispatch = {"department_id": "billing", "instructions": "Double charge on the March bill"}
    step("dispatch", DUTY_MANAGER, State.DISPATCHED, "acceptance", **dispatch)
    assert complaint.department_id == "billing"

    returned_ = step(
        "return",
        BILLING_CLERK,
        State.WITH_DUTY_MANAGER,
        "acknowledgement",
        reason_code="insufficient_info",
        reason="No account number in the complaint",
    )
    assert returned_.payload["department_id"] == "billing"
    assert returned_.payload["reason_code"] == "insufficient_info"
    assert complaint.bounce_count == 1
    assert complaint.department_id is None
    assert (complaint.holder_staff_id, complaint.holder_role) == ("DM01", "duty_manager")

    dispatch["instructions"] = "Account 4471-22; double charge on the March bill"
    step("dispatch", DUTY_MANAGER, State.DISPATCHED, "acceptance", **dispatch)
    step("accept", BILLING_CLERK, State.IN_PROGRESS, "resolution")
    assert complaint.holder_staff_id == "B07"

    until = clock + timedelta(days=3)
    step(
        "request-extension",
        BILLING_CLERK,
        State.IN_PROGRESS,
        None,
        until=until.isoformat(),
        reason="Waiting for the bank's statement",
    )
    assert complaint.pending_extension is not None
    approval = step("decide-extension", DUTY_MANAGER, State.IN_PROGRESS, None, decision="approve")
    assert approval.payload["new_due_at"] == until.isoformat()
    assert approval.payload["stage"] == "resolution"
    assert complaint.extended_until == until
    assert complaint.pending_extension is None

    first_reply = step("reply", BILLING_CLERK, State.REPLIED, "follow_up", **RESOLUTION)
    assert first_reply.payload["kind"] == "reply"

    step(
        "feedback",
        SYSTEM,
        State.DISPATCHED,
        "acceptance",
        result="unsatisfied",
        comment="Only half was refunded",
    )
    assert complaint.reopen_count == 1
    assert complaint.department_id == "billing"
    assert complaint.feedback is None

    step("accept", BILLING_CLERK, State.IN_PROGRESS, "resolution")
    step("reply", BILLING_CLERK, State.REPLIED, "follow_up", **RESOLUTION)
    closing = step("feedback", SYSTEM, State.CLOSED, None, result="satisfied")

    assert closing.payload["closure_reason"] == "satisfied"
    assert complaint.closure_reason == "satisfied"
    assert (complaint.bounce_count, complaint.reopen_count) == (1, 1)
    assert complaint.holder_staff_id is None
    assert events == [
        "complaint.assigned",
        "complaint.acknowledged",
        "complaint.dispatched",
        "complaint.returned",
        "complaint.dispatched",
        "complaint.accepted",
        "complaint.extension_requested",
        "complaint.extension_decided",
        "complaint.replied",
        "complaint.reopened",
        "complaint.accepted",
        "complaint.replied",
        "complaint.closed",
    ]


# --- the table ----------------------------------------------------------------------------

NOT_IN_TABLE = [
    (state, action)
    for state in State
    for action in Action
    if state not in RULES[action].from_states
]


@pytest.mark.parametrize(("state", "action"), NOT_IN_TABLE, ids=str)
def test_an_action_outside_the_table_is_illegal_and_lists_what_is_allowed(
    state: State, action: Action
) -> None:
    complaint = ComplaintState(state=state, nature="compensation", department_id="billing")
    # A supervisor acting for the system: the state is judged before anyone's rights.
    with pytest.raises(IllegalAction) as refused:
        act(complaint, action, SUPERVISOR)
    assert refused.value.allowed == actions_allowed_in(state)
    assert refused.value.state == state
    assert f"state '{state}'" in str(refused.value)


IN_TABLE = [
    (state, action) for state in State for action in Action if (state, action) not in NOT_IN_TABLE
]


@pytest.mark.parametrize(("state", "action"), IN_TABLE, ids=str)
def test_an_action_in_the_table_is_open_to_someone_in_that_state(
    state: State, action: Action
) -> None:
    # Led by billing, the network team assisting (协办): every part of the table in play.
    complaint = ComplaintState(
        state=state,
        nature="compensation",
        department_id="billing",
        assists=(AssistPart("network"),),
    )
    # A centre whose rulebook has every action (transfers are its choice).
    rules = LifecycleConfig(allow_transfer=True)
    entitled = [
        actor for actor in CAST if action.api_name in allowed_actions(complaint, actor, rules)
    ]
    assert entitled, f"nobody may {action.api_name} in {state}"
    for actor in entitled:
        # An empty payload: only the state and the rights are at stake here.
        with suppress(InvalidCommand, GuardFailed):
            act(complaint, action, actor, config=rules)


def test_the_refusal_names_the_state_and_the_allowed_actions() -> None:
    with pytest.raises(IllegalAction, match=r"^cannot dispatch a complaint in state 'closed'; "):
        act(closed_as_satisfied(), "dispatch", DUTY_MANAGER, department_id="billing")
    message = "cannot dispatch a complaint in state 'closed'; allowed actions: reopen"
    with pytest.raises(IllegalAction) as refused:
        act(closed_as_satisfied(), "dispatch", DUTY_MANAGER)
    assert str(refused.value) == message


def test_every_state_but_closed_offers_a_way_forward_and_closed_only_reopens() -> None:
    assert actions_allowed_in(State.CLOSED) == ["reopen"]
    assert actions_allowed_in("received") == ["assign", "import", "verify-loss"]
    for state in State:
        leaving = {t for (s, _, t) in TRANSITIONS if s == state and t != state}
        assert leaving, f"{state} is a dead end"


def test_actions_are_spelt_with_hyphens_for_the_api_and_either_way_on_the_way_in() -> None:
    assert Action.REQUEST_EXTENSION.api_name == "request-extension"
    assert parse_action("request-extension") is Action.REQUEST_EXTENSION
    assert parse_action("request_extension") is Action.REQUEST_EXTENSION
    assert Command("decide-extension", DUTY_MANAGER, {}).action is Action.DECIDE_EXTENSION
    with pytest.raises(InvalidCommand) as refused:
        parse_action("teleport")
    assert refused.value.field == "action"


def test_checks_run_state_first_then_rights_then_payload_then_business_rules() -> None:
    # A viewer asking for something impossible hears about the state, not about their role.
    with pytest.raises(IllegalAction):
        act(closed_as_satisfied(), "dispatch", VIEWER)
    # An agent sending an empty dispatch hears about their role, not about the payload.
    with pytest.raises(Forbidden):
        act(with_duty_manager(), "dispatch", AGENT)
    # Closing without feedback *and* without a resolution: the missing field comes first.
    with pytest.raises(InvalidCommand) as refused:
        act(replied_by_billing(), "close", DUTY_MANAGER, root_cause="system")
    assert refused.value.field == "resolution"
    with pytest.raises(GuardFailed):
        act(replied_by_billing(), "close", DUTY_MANAGER, **RESOLUTION)


def test_now_must_carry_a_time_zone() -> None:
    with pytest.raises(ValueError, match="timezone"):
        act(received(), "assign", SYSTEM, at=datetime(2025, 3, 3, 9), staff_id="DM01")


# --- who may do what ----------------------------------------------------------------------


def test_a_department_clerk_cannot_close_a_complaint() -> None:
    with pytest.raises(Forbidden) as refused:
        act(replied_by_billing(), "close", BILLING_CLERK, **RESOLUTION)
    assert refused.value.role == "department"
    assert "duty_manager or supervisor" in str(refused.value)


def test_an_agent_cannot_dispatch_a_complaint() -> None:
    with pytest.raises(Forbidden):
        act(with_duty_manager(), "dispatch", AGENT, department_id="billing", instructions="Fix it")


@pytest.mark.parametrize("onlooker", [AGENT, VIEWER, QA_ANALYST, ADMIN], ids=lambda a: a.role)
def test_agents_viewers_qa_and_admins_take_no_lifecycle_action(onlooker: Actor) -> None:
    for complaint in one_of_each_state():
        assert allowed_actions(complaint, onlooker) == []
        for action in actions_allowed_in(complaint.state):
            with pytest.raises(Forbidden):
                act(complaint, action, onlooker, **RESOLUTION)


def test_an_unknown_role_can_do_nothing() -> None:
    intruder = Actor("Z9", "customer")
    assert allowed_actions(with_duty_manager(), intruder) == []
    with pytest.raises(Forbidden):
        act(with_duty_manager(), "acknowledge", intruder)


@pytest.mark.parametrize(
    ("complaint", "action", "data"),
    [
        (dispatched_to_billing, "accept", {}),
        (dispatched_to_billing, "return", {"reason_code": "other", "reason": "Not us"}),
        (in_progress_at_billing, "reply", RESOLUTION),
        (
            in_progress_at_billing,
            "request-extension",
            {"until": (MONDAY_9AM + timedelta(days=2)).isoformat(), "reason": "Busy"},
        ),
        (lambda: in_progress_at_billing("compensation"), "verify-loss", {"compensation_amount": 5}),
    ],
    ids=["accept", "return", "reply", "request-extension", "verify-loss"],
)
def test_a_clerk_of_another_department_is_forbidden(
    complaint: Any, action: str, data: dict[str, Any]
) -> None:
    ticket = complaint()
    for outsider in (NETWORK_CLERK, CLERK_WITHOUT_DEPARTMENT):
        assert action not in allowed_actions(ticket, outsider)
        with pytest.raises(Forbidden, match="not with your department"):
            act(ticket, action, outsider, **data)
    assert action in allowed_actions(ticket, BILLING_CLERK)
    act(ticket, action, BILLING_CLERK, **data)


def test_any_clerk_of_the_department_may_work_the_ticket_once_it_is_accepted() -> None:
    decision = act(in_progress_at_billing(), "reply", OTHER_BILLING_CLERK, **RESOLUTION)
    assert decision.to_state == State.REPLIED


def test_a_clerk_cannot_act_on_a_ticket_the_duty_manager_solved_alone() -> None:
    resolved = act(with_duty_manager("compensation"), "resolve", DUTY_MANAGER, **RESOLUTION).new
    assert resolved.department_id is None
    with pytest.raises(Forbidden):
        act(resolved, "verify-loss", BILLING_CLERK, compensation_amount="10")


# --- assignment, hand-over and acknowledgement ---------------------------------------------


def test_the_system_assigns_a_new_complaint_to_the_duty_manager_on_duty() -> None:
    decision = act(received(), "assign", SYSTEM, staff_id="DM01")
    assert decision.event_type == "complaint.assigned"
    assert decision.payload["holder_staff_id"] == "DM01"
    with pytest.raises(Forbidden):
        act(received(), "assign", DUTY_MANAGER, staff_id="DM01")


def test_with_nobody_on_duty_a_new_complaint_waits_for_the_supervisors() -> None:
    decision = act(received(), "assign", SYSTEM)
    assert (decision.new.holder_role, decision.new.holder_staff_id) == ("supervisor", None)
    assert decision.new.duty_manager_id is None and decision.payload["to_supervisor"] is True
    # The manager who comes on duty takes it over from the supervisors' queue.
    handed = act(decision.new, "hand_over", SYSTEM, staff_id="DM02")
    assert (handed.new.holder_role, handed.new.holder_staff_id) == ("duty_manager", "DM02")
    assert handed.new.duty_manager_id == "DM02"


def test_the_sla_timer_urges_at_level_one_and_a_new_stage_starts_at_level_zero() -> None:
    complaint = act(received(), "assign", SYSTEM, staff_id="DM01").new
    urged = act(complaint, "urge", SYSTEM, reason="acknowledgement overdue", level=1)
    assert urged.new.escalation_level == 1 and urged.payload["previous_level"] == 0
    with pytest.raises(GuardFailed):
        act(complaint, "urge", DUTY_MANAGER, reason="hurry", level=2)
    escalated = act(urged.new, "escalate", SYSTEM, reason="still not acknowledged", level=2)
    assert escalated.new.escalation_level == 2
    dispatched = act(
        escalated.new, "dispatch", DUTY_MANAGER, department_id="billing", instructions="退款"
    )
    assert dispatched.stage_entered == "acceptance"
    assert dispatched.new.escalation_level == 0


def test_a_duty_manager_acknowledges_once_per_assignment() -> None:
    acknowledged = act(with_duty_manager(), "acknowledge", DUTY_MANAGER).new
    assert acknowledged.acknowledged_at == MONDAY_9AM
    with pytest.raises(GuardFailed, match="already acknowledged by DM01"):
        act(acknowledged, "acknowledge", DUTY_MANAGER)
    # The next shift's manager confirms they have it too.
    handed = act(acknowledged, "hand-over", SYSTEM, staff_id="DM02")
    assert handed.event_type == "complaint.handed_over"
    assert handed.to_state == State.WITH_DUTY_MANAGER
    assert handed.stage_entered is None
    assert handed.payload["previous_staff_id"] == "DM01"
    assert handed.new.holder_staff_id == "DM02"
    assert act(handed.new, "acknowledge", NEXT_DUTY_MANAGER).new.acknowledged_by == "DM02"


def test_a_hand_over_to_the_same_manager_is_refused() -> None:
    with pytest.raises(GuardFailed, match="already with duty manager DM01"):
        act(with_duty_manager(), "hand-over", SYSTEM, staff_id="DM01")


def test_a_ticket_returned_after_a_shift_change_goes_to_the_incoming_manager() -> None:
    at_billing = act(dispatched_to_billing(), "hand-over", SYSTEM, staff_id="DM02").new
    assert at_billing.holder_role == "department"
    back = returned(at_billing)
    assert (back.holder_staff_id, back.holder_role) == ("DM02", "duty_manager")


# --- dispatch, accept, return and the bounce limit ----------------------------------------


def test_a_department_clerk_returns_a_ticket_to_the_duty_manager_with_a_reason() -> None:
    accepted = in_progress_at_billing()
    decision = act(
        accepted,
        "return",
        BILLING_CLERK,
        reason_code="not_ours",
        reason="The line is down: this is for the network team",
    )
    assert decision.event_type == "complaint.returned"
    assert decision.to_state == State.WITH_DUTY_MANAGER
    assert decision.stage_entered == "acknowledgement"
    assert decision.payload["reason_code"] == "not_ours"
    assert decision.payload["department_id"] == "billing"
    assert decision.payload["bounce_count"] == 1
    assert decision.payload["to_supervisor"] is False
    assert decision.new.department_id is None
    assert decision.new.acknowledged_at is None


def test_a_return_needs_a_known_reason_code_and_a_reason() -> None:
    with pytest.raises(InvalidCommand) as refused:
        act(dispatched_to_billing(), "return", BILLING_CLERK, reason_code="bored", reason="x")
    assert refused.value.field == "reason_code"
    assert "not_ours, insufficient_info, duplicate, other" in str(refused.value)
    with pytest.raises(InvalidCommand) as refused:
        act(dispatched_to_billing(), "return", BILLING_CLERK, reason_code="other", reason="  ")
    assert refused.value.field == "reason"


def test_after_two_returns_the_supervisor_decides_where_the_ticket_goes() -> None:
    twice = returned(redispatched(returned(dispatched_to_billing())))
    assert twice.bounce_count == 2
    assert twice.state == State.WITH_DUTY_MANAGER
    assert (twice.holder_role, twice.holder_staff_id) == ("supervisor", None)

    assert allowed_actions(twice, DUTY_MANAGER) == ["verify-loss", "decline-compensation", "urge"]
    with pytest.raises(Forbidden, match="supervisor"):
        redispatched(twice, by=DUTY_MANAGER)
    with pytest.raises(Forbidden):
        act(twice, "resolve", DUTY_MANAGER, **RESOLUTION)

    assert {"acknowledge", "dispatch", "resolve"} <= set(allowed_actions(twice, SUPERVISOR))
    taken = act(twice, "acknowledge", SUPERVISOR).new
    assert taken.holder_staff_id == "SV01"
    again = redispatched(taken, by=SUPERVISOR)
    assert again.state == State.DISPATCHED

    # From then on every return lands with the supervisors again.
    third = act(again, "return", BILLING_CLERK, reason_code="duplicate", reason="See #1182")
    assert third.payload["to_supervisor"] is True
    assert third.new.holder_role == "supervisor"


def test_the_bounce_limit_is_configurable() -> None:
    strict = LifecycleConfig(max_returns=1)
    once = returned(dispatched_to_billing(), config=strict)
    assert once.holder_role == "supervisor"
    assert returned(dispatched_to_billing()).holder_role == "duty_manager"


# --- transfers between departments (转办) ---------------------------------------------------

TRANSFERS = LifecycleConfig(allow_transfer=True)
NOT_OURS = "The line is down: this is for the network team"


def test_a_clerk_transfers_an_accepted_complaint_straight_to_another_department() -> None:
    accepted = in_progress_at_billing()
    decision = act(
        accepted,
        "transfer",
        BILLING_CLERK,
        config=TRANSFERS,
        department_id="network",
        reason=NOT_OURS,
    )
    assert decision.event_type == "complaint.transferred"
    # Waiting for the network team's acceptance, as after a dispatch, on a fresh clock.
    assert (decision.from_state, decision.to_state) == (State.IN_PROGRESS, State.DISPATCHED)
    assert decision.stage_entered == "acceptance"
    assert (decision.new.department_id, decision.new.holder_role) == ("network", "department")
    assert decision.new.holder_staff_id is None
    assert decision.payload["department_id"] == "network"
    assert decision.payload["from_department_id"] == "billing"
    assert decision.payload["reason"] == NOT_OURS
    # Not a return: no bounce towards the supervisor's decision, no duty manager involved.
    assert decision.new.bounce_count == 0
    assert decision.new.duty_manager_id == accepted.duty_manager_id
    assert "accept" in allowed_actions(decision.new, NETWORK_CLERK, TRANSFERS)
    assert allowed_actions(decision.new, BILLING_CLERK, TRANSFERS) == []


def test_a_complaint_not_yet_accepted_is_transferred_on_a_new_acceptance_clock() -> None:
    decision = act(
        dispatched_to_billing(),
        "transfer",
        BILLING_CLERK,
        config=TRANSFERS,
        department_id="network",
        reason=NOT_OURS,
    )
    assert decision.to_state == State.DISPATCHED
    assert decision.stage_entered == "acceptance"
    assert decision.new.escalation_level == 0


def test_a_transfer_forgets_the_first_departments_request_for_more_time() -> None:
    asked = request_more_time(in_progress_at_billing()).new
    moved = act(
        asked, "transfer", BILLING_CLERK, config=TRANSFERS, department_id="network", reason=NOT_OURS
    ).new
    assert moved.pending_extension is None and moved.extended_until is None


def test_a_transfer_to_the_same_department_or_without_a_reason_is_refused() -> None:
    with pytest.raises(InvalidCommand) as refused:
        act(
            dispatched_to_billing(),
            "transfer",
            BILLING_CLERK,
            config=TRANSFERS,
            department_id="billing",
            reason=NOT_OURS,
        )
    assert refused.value.field == "department_id"
    with pytest.raises(InvalidCommand) as refused:
        act(
            dispatched_to_billing(),
            "transfer",
            BILLING_CLERK,
            config=TRANSFERS,
            department_id="network",
            reason=" ",
        )
    assert refused.value.field == "reason"


def test_a_clerk_of_another_department_cannot_transfer_it() -> None:
    with pytest.raises(Forbidden, match="not with your department"):
        act(
            dispatched_to_billing(),
            "transfer",
            NETWORK_CLERK,
            config=TRANSFERS,
            department_id="network",
            reason=NOT_OURS,
        )


def test_the_duty_manager_answering_for_it_may_transfer_it_too() -> None:
    decision = act(
        dispatched_to_billing(),
        "transfer",
        DUTY_MANAGER,
        config=TRANSFERS,
        department_id="network",
        reason="Network fault after all",
    )
    assert decision.new.department_id == "network"
    with pytest.raises(Forbidden):
        act(
            dispatched_to_billing(),
            "transfer",
            NEXT_DUTY_MANAGER,
            config=TRANSFERS,
            department_id="network",
            reason="Network fault after all",
        )


def test_where_the_centre_has_no_transfers_it_is_illegal_naming_state_and_allowed_actions() -> None:
    with pytest.raises(IllegalAction) as refused:
        act(
            in_progress_at_billing(),
            "transfer",
            BILLING_CLERK,
            department_id="network",
            reason=NOT_OURS,
        )
    assert refused.value.state == State.IN_PROGRESS
    assert "transfer" not in refused.value.allowed
    assert {"return", "reply"} <= set(refused.value.allowed)
    assert "transfer" not in allowed_actions(in_progress_at_billing(), BILLING_CLERK)
    assert "transfer" in allowed_actions(in_progress_at_billing(), BILLING_CLERK, TRANSFERS)


# --- extensions ---------------------------------------------------------------------------


def request_more_time(complaint: ComplaintState, days: int = 2, **extra: Any) -> Decision:
    until = MONDAY_9AM + timedelta(days=days)
    data = {"until": until.isoformat(), "reason": "Waiting for the bank"} | extra
    return act(complaint, "request-extension", BILLING_CLERK, **data)


def test_a_clerk_asks_for_more_time_and_the_duty_manager_approves() -> None:
    asked = request_more_time(in_progress_at_billing())
    assert asked.event_type == "complaint.extension_requested"
    assert asked.new.pending_extension is not None
    assert asked.new.pending_extension.requested_by == "B07"
    approved = act(asked.new, "decide-extension", DUTY_MANAGER, decision="approve")
    assert approved.new.extended_until == MONDAY_9AM + timedelta(days=2)
    assert approved.payload["new_due_at"] == "2025-03-05T09:00:00+00:00"


def test_a_denied_extension_keeps_the_deadline_and_may_say_why() -> None:
    asked = request_more_time(dispatched_to_billing())
    denied = act(asked.new, "decide-extension", DUTY_MANAGER, decision="deny", reason="Urgent")
    assert denied.payload["new_due_at"] is None
    assert denied.payload["reason"] == "Urgent"
    assert denied.payload["stage"] == "acceptance"
    assert denied.new.extended_until is None
    assert denied.new.pending_extension is None


def test_only_one_request_for_more_time_waits_at_a_time() -> None:
    asked = request_more_time(in_progress_at_billing())
    with pytest.raises(GuardFailed, match="waiting for a decision"):
        request_more_time(asked.new, days=3)


def test_a_decision_needs_a_request_and_a_known_answer() -> None:
    with pytest.raises(GuardFailed, match="no request for more time"):
        act(in_progress_at_billing(), "decide-extension", DUTY_MANAGER, decision="approve")
    asked = request_more_time(in_progress_at_billing())
    with pytest.raises(InvalidCommand) as refused:
        act(asked.new, "decide-extension", DUTY_MANAGER, decision="maybe")
    assert refused.value.field == "decision"
    with pytest.raises(Forbidden):
        act(asked.new, "decide-extension", BILLING_CLERK, decision="approve")


def test_a_later_request_must_go_beyond_the_deadline_already_granted() -> None:
    asked = request_more_time(in_progress_at_billing(), days=3)
    granted = act(asked.new, "decide-extension", DUTY_MANAGER, decision="approve").new
    with pytest.raises(GuardFailed, match="already extended"):
        request_more_time(granted, days=2)
    assert request_more_time(granted, days=4).new.pending_extension is not None


def test_an_approval_that_comes_after_the_requested_deadline_is_refused() -> None:
    asked = request_more_time(in_progress_at_billing(), days=1)
    too_late = MONDAY_9AM + timedelta(days=2)
    with pytest.raises(GuardFailed, match="has passed"):
        act(asked.new, "decide-extension", DUTY_MANAGER, at=too_late, decision="approve")


@pytest.mark.parametrize(
    "until",
    [
        "2025-03-01T09:00:00+00:00",  # in the past
        "2025-03-05T09:00:00",  # no time zone
        datetime(2025, 3, 5, 9, 0),  # no time zone either
        "next tuesday",
        1741165200,
    ],
)
def test_the_new_deadline_must_be_a_later_time_with_a_zone(until: Any) -> None:
    with pytest.raises(InvalidCommand) as refused:
        act(in_progress_at_billing(), "request-extension", BILLING_CLERK, until=until, reason="x")
    assert refused.value.field == "until"


def test_a_returned_ticket_forgets_its_waiting_extension_request() -> None:
    asked = request_more_time(in_progress_at_billing())
    assert returned(asked.new).pending_extension is None


# --- replies, feedback and closure --------------------------------------------------------


def test_the_duty_manager_resolves_a_complaint_directly() -> None:
    decision = act(with_duty_manager(), "resolve", DUTY_MANAGER, **RESOLUTION)
    assert decision.event_type == "complaint.replied"
    assert decision.payload["kind"] == "resolve"
    assert decision.stage_entered == "follow_up"
    assert decision.new.root_cause == "system"


def test_a_bad_root_cause_is_refused_with_the_list_of_causes() -> None:
    with pytest.raises(InvalidCommand) as refused:
        act(in_progress_at_billing(), "reply", BILLING_CLERK, resolution="Done", root_cause="bad")
    assert refused.value.field == "root_cause"
    assert "process, business, service, system, management, external" in str(refused.value)


def test_a_reply_needs_a_resolution_in_words() -> None:
    for resolution in (None, "", "   ", 42):
        with pytest.raises(InvalidCommand) as refused:
            act(
                in_progress_at_billing(),
                "reply",
                BILLING_CLERK,
                resolution=resolution,
                root_cause="process",
            )
        assert refused.value.field == "resolution"


def test_a_payload_must_be_an_object() -> None:
    command = Command(Action.URGE, DUTY_MANAGER, ["hurry"])  # type: ignore[arg-type]
    with pytest.raises(InvalidCommand) as refused:
        decide(with_duty_manager(), command, now=MONDAY_9AM)
    assert refused.value.field == "body"


def test_closure_needs_the_customers_feedback_or_a_failed_follow_up() -> None:
    answered = replied_by_billing()
    with pytest.raises(GuardFailed, match="feedback") as refused:
        act(answered, "close", DUTY_MANAGER, **RESOLUTION)
    assert "close" in refused.value.allowed
    missed = act(answered, "feedback", SYSTEM, result="unreachable")
    assert missed.event_type == "complaint.follow_up_failed"
    assert missed.payload["attempts_left"] == 2
    closed = act(missed.new, "close", DUTY_MANAGER, resolution="Refund made", root_cause="process")
    assert closed.event_type == "complaint.closed"
    assert closed.new.closure_reason == "unreached"
    assert closed.new.root_cause == "process"  # the manager's final word wins


def test_a_customer_unreachable_three_times_closes_the_complaint_as_unreached() -> None:
    complaint = replied_by_billing()
    events = []
    for call in range(3):  # in the morning, before lunch and in the afternoon
        at = MONDAY_9AM + timedelta(hours=3 * call)
        decision = act(complaint, "feedback", SYSTEM, at=at, result="unreachable")
        events.append(decision.event_type)
        complaint = decision.new
    assert events == ["complaint.follow_up_failed"] * 2 + ["complaint.closed"]
    assert complaint.state == State.CLOSED
    assert complaint.closure_reason == "unreached"
    assert complaint.follow_up_attempts == 3


def test_the_number_of_follow_up_attempts_is_configurable() -> None:
    once = LifecycleConfig(unreachable_attempts=1)
    decision = act(replied_by_billing(), "feedback", SYSTEM, config=once, result="unreachable")
    assert decision.to_state == State.CLOSED


def test_follow_up_attempts_start_again_with_every_reply() -> None:
    missed = act(replied_by_billing(), "feedback", SYSTEM, result="unreachable").new
    missed = act(missed, "feedback", SYSTEM, result="unreachable").new
    reopened = act(missed, "reopen", DUTY_MANAGER, reason="Customer called back, still angry").new
    assert reopened.follow_up_attempts == 0
    answered_again = act(
        act(reopened, "accept", BILLING_CLERK).new, "reply", BILLING_CLERK, **RESOLUTION
    ).new
    assert act(answered_again, "feedback", SYSTEM, result="unreachable").to_state == State.REPLIED


def test_only_the_system_reports_the_customers_feedback_and_only_after_a_reply() -> None:
    with pytest.raises(Forbidden):
        act(replied_by_billing(), "feedback", DUTY_MANAGER, result="satisfied")
    with pytest.raises(IllegalAction):
        act(in_progress_at_billing(), "feedback", SYSTEM, result="satisfied")
    with pytest.raises(InvalidCommand) as refused:
        act(replied_by_billing(), "feedback", SYSTEM, result="meh")
    assert refused.value.field == "result"


# --- reopening (重办), urging (督办) and escalation -----------------------------------------


def test_a_closed_complaint_is_reopened_to_the_department_that_answered_it() -> None:
    decision = act(closed_as_satisfied(), "reopen", DUTY_MANAGER, reason="Charged again")
    assert decision.to_state == State.DISPATCHED
    assert decision.stage_entered == "acceptance"
    assert decision.payload["department_id"] == "billing"
    assert decision.new.reopen_count == 1
    assert decision.new.closure_reason is None


def test_a_complaint_the_duty_manager_resolved_is_reopened_to_the_duty_manager() -> None:
    resolved = act(with_duty_manager(), "resolve", DUTY_MANAGER, **RESOLUTION).new
    decision = act(resolved, "feedback", SYSTEM, result="unsatisfied")
    assert decision.event_type == "complaint.reopened"
    assert decision.to_state == State.WITH_DUTY_MANAGER
    assert decision.stage_entered == "acknowledgement"
    assert decision.new.holder_staff_id == "DM01"


def test_a_reopen_needs_a_reason() -> None:
    with pytest.raises(InvalidCommand) as refused:
        act(closed_as_satisfied(), "reopen", SUPERVISOR)
    assert refused.value.field == "reason"


def test_urging_is_counted_and_changes_nothing_else() -> None:
    complaint = in_progress_at_billing()
    urged = act(complaint, "urge", DUTY_MANAGER, reason="Customer called again").new
    urged = act(urged, "urge", SYSTEM, reason="Resolution deadline passed").new
    assert urged.urge_count == 2
    assert urged.state == complaint.state
    with pytest.raises(Forbidden):
        act(urged, "urge", BILLING_CLERK, reason="x")
    with pytest.raises(IllegalAction):
        act(received(), "urge", SYSTEM, reason="x")


def test_escalation_climbs_one_level_at_a_time_up_to_three() -> None:
    complaint = dispatched_to_billing()
    for level in (1, 2, 3):
        decision = act(complaint, "escalate", SYSTEM, reason="Acceptance deadline passed")
        assert decision.payload["escalation_level"] == level
        assert decision.to_state == State.DISPATCHED
        complaint = decision.new
    with pytest.raises(GuardFailed, match="highest escalation level"):
        act(complaint, "escalate", SUPERVISOR, reason="Still nothing")


def test_an_escalation_to_a_level_already_reached_is_refused() -> None:
    at_two = act(dispatched_to_billing(), "escalate", SUPERVISOR, reason="Press", level=2).new
    assert at_two.escalation_level == 2
    with pytest.raises(GuardFailed, match="not above"):
        act(at_two, "escalate", SYSTEM, reason="Breach", level=2)
    for level in (0, 4, "3", True):
        with pytest.raises(InvalidCommand) as refused:
            act(at_two, "escalate", SYSTEM, reason="Breach", level=level)
        assert refused.value.field == "level"
    with pytest.raises(Forbidden):
        act(at_two, "escalate", DUTY_MANAGER, reason="Breach")


def test_the_top_escalation_level_is_configurable() -> None:
    low_ceiling = LifecycleConfig(max_escalation_level=1)
    once = act(dispatched_to_billing(), "escalate", SYSTEM, config=low_ceiling, reason="x").new
    with pytest.raises(GuardFailed):
        act(once, "escalate", SYSTEM, config=low_ceiling, reason="y")


# --- compensation -------------------------------------------------------------------------


def test_loss_is_verified_with_a_positive_amount_for_a_compensation_complaint() -> None:
    complaint = in_progress_at_billing("compensation")
    decision = act(complaint, "verify-loss", BILLING_CLERK, compensation_amount="120.5")
    assert decision.event_type == "complaint.loss_verified"
    assert decision.new.loss_verified is True
    assert decision.new.compensation_amount == Decimal("120.50")
    assert decision.payload["compensation_amount"] == "120.50"


def test_loss_verification_is_refused_for_other_natures() -> None:
    with pytest.raises(GuardFailed, match="only for compensation complaints"):
        act(in_progress_at_billing("genuine"), "verify-loss", DUTY_MANAGER, compensation_amount=10)


@pytest.mark.parametrize(
    "amount",
    [0, -5, "-0.01", "abc", "1.005", "NaN", "Infinity", True, [10], "1e40", "10000000000.00"],
)
def test_a_compensation_amount_must_be_positive_money(amount: Any) -> None:
    with pytest.raises(InvalidCommand) as refused:
        act(
            in_progress_at_billing("compensation"),
            "verify-loss",
            SUPERVISOR,
            compensation_amount=amount,
        )
    assert refused.value.field == "compensation_amount"


def test_a_compensation_resolution_cannot_close_until_the_loss_is_verified() -> None:
    answered = replied_by_billing("compensation", with_compensation=True)
    missed = act(answered, "feedback", SYSTEM, result="unreachable").new
    with pytest.raises(GuardFailed, match="loss verified"):
        act(missed, "close", DUTY_MANAGER, **RESOLUTION)
    verified = act(missed, "verify-loss", DUTY_MANAGER, compensation_amount=200).new
    closed = act(verified, "close", DUTY_MANAGER, **RESOLUTION)
    assert closed.payload["compensation_amount"] == "200.00"
    assert closed.payload["with_compensation"] is True


def test_a_close_that_adds_compensation_needs_the_loss_verified_too() -> None:
    answered = replied_by_billing("compensation")
    missed = act(answered, "feedback", SYSTEM, result="unreachable").new
    with pytest.raises(GuardFailed, match="loss verified"):
        act(missed, "close", DUTY_MANAGER, with_compensation=True, **RESOLUTION)
    verified = act(missed, "verify-loss", DUTY_MANAGER, compensation_amount="30").new
    closed = act(verified, "close", DUTY_MANAGER, with_compensation=True, **RESOLUTION)
    assert closed.to_state == State.CLOSED and closed.payload["with_compensation"] is True


def test_a_satisfied_customer_is_recorded_while_the_loss_still_awaits_verification() -> None:
    answered = replied_by_billing("compensation", with_compensation=True)
    decision = act(answered, "feedback", SYSTEM, result="satisfied")
    assert decision.to_state == State.REPLIED
    assert decision.event_type == "complaint.feedback_recorded"
    assert "loss verified" in decision.payload["closure_blocked"]
    verified = act(decision.new, "verify-loss", SUPERVISOR, compensation_amount="80").new
    closed = act(verified, "close", SUPERVISOR, **RESOLUTION).new
    assert closed.closure_reason == "satisfied"


def test_unreached_customers_do_not_close_an_unverified_compensation() -> None:
    for with_compensation in (True, False):
        complaint = replied_by_billing("compensation", with_compensation=with_compensation)
        for call in range(3):
            at = MONDAY_9AM + timedelta(hours=3 * call)
            decision = act(complaint, "feedback", SYSTEM, at=at, result="unreachable")
            complaint = decision.new
        assert decision.to_state == State.REPLIED
        assert "closure_blocked" in decision.payload
        assert decision.payload["missing"][:2] == ["loss_verified", "compensation_amount"]


def test_only_a_compensation_complaint_may_be_resolved_with_compensation() -> None:
    with pytest.raises(GuardFailed, match="cannot be resolved with compensation"):
        act(
            in_progress_at_billing("genuine"),
            "reply",
            BILLING_CLERK,
            with_compensation=True,
            **RESOLUTION,
        )
    with pytest.raises(InvalidCommand) as refused:
        act(in_progress_at_billing(), "reply", BILLING_CLERK, with_compensation="yes", **RESOLUTION)
    assert refused.value.field == "with_compensation"


def test_a_compensation_claim_answered_without_compensation_does_not_close_unsettled() -> None:
    # Billing answers a claim for a lost parcel and says nothing about paying; the
    # customer is pleased with the apology. The claim itself is still unsettled.
    answered = replied_by_billing("compensation", with_compensation=False)
    decision = act(answered, "feedback", SYSTEM, result="satisfied")
    assert decision.to_state == State.REPLIED
    assert decision.event_type == "complaint.feedback_recorded"
    assert decision.payload["missing"] == [
        "loss_verified",
        "compensation_amount",
        "compensation_declined",
    ]
    with pytest.raises(GuardFailed) as refused:
        act(decision.new, "close", DUTY_MANAGER, **RESOLUTION)
    assert "verify-loss" in refused.value.reason and "decline-compensation" in refused.value.reason
    assert refused.value.missing == [
        "loss_verified",
        "compensation_amount",
        "compensation_declined",
    ]
    # The duty manager looks at it and records that nothing is owed, and why.
    declined = act(
        decision.new,
        "decline-compensation",
        DUTY_MANAGER,
        reason="The parcel was delivered; the delay was within the promised days",
    )
    assert declined.event_type == "complaint.compensation_declined"
    assert declined.new.compensation_declined is True
    assert declined.payload["reason"].startswith("The parcel was delivered")
    closed = act(declined.new, "close", DUTY_MANAGER, **RESOLUTION)
    assert closed.new.closure_reason == "satisfied"
    assert closed.new.loss_verified is False and closed.new.with_compensation is False


def test_a_compensation_claim_with_the_loss_verified_closes_whatever_the_answer_paid() -> None:
    answered = replied_by_billing("compensation", with_compensation=False)
    verified = act(answered, "verify-loss", BILLING_CLERK, compensation_amount="45").new
    closed = act(verified, "feedback", SYSTEM, result="satisfied")
    assert closed.to_state == State.CLOSED and closed.new.compensation_amount == Decimal("45.00")


def test_no_compensation_is_due_only_by_the_desks_decision_on_an_unverified_claim() -> None:
    claim = in_progress_at_billing("compensation")
    with pytest.raises(Forbidden):
        act(claim, "decline-compensation", BILLING_CLERK, reason="Not our fault")
    with pytest.raises(InvalidCommand) as refused:
        act(claim, "decline-compensation", DUTY_MANAGER)
    assert refused.value.field == "reason"
    with pytest.raises(GuardFailed, match="only for compensation claims"):
        act(in_progress_at_billing(), "decline-compensation", DUTY_MANAGER, reason="x")
    declined = act(claim, "decline-compensation", SUPERVISOR, reason="Outside the warranty").new
    with pytest.raises(GuardFailed, match="already decided"):
        act(declined, "decline-compensation", DUTY_MANAGER, reason="Again")
    # A payout cannot be answered while the decision stands ...
    with pytest.raises(GuardFailed, match="no compensation is due"):
        act(declined, "reply", BILLING_CLERK, with_compensation=True, **RESOLUTION)
    # ... until the loss is verified after all, which outweighs it.
    verified = act(declined, "verify-loss", BILLING_CLERK, compensation_amount="12.5")
    assert verified.payload["overrides_decline"] is True
    assert verified.new.compensation_declined is False
    with pytest.raises(GuardFailed, match=r"verified at 12\.50"):
        act(verified.new, "decline-compensation", DUTY_MANAGER, reason="Changed our mind")


# --- follow-up calls are spaced -------------------------------------------------------------


def test_three_follow_up_calls_in_four_seconds_count_as_one() -> None:
    complaint = replied_by_billing()
    decisions = []
    for second in (0, 2, 4):
        at = MONDAY_9AM + timedelta(seconds=second)
        decision = act(complaint, "feedback", SYSTEM, at=at, result="unreachable")
        decisions.append(decision)
        complaint = decision.new
    assert [d.event_type for d in decisions] == ["complaint.follow_up_failed"] * 3
    assert [d.payload["counted"] for d in decisions] == [True, False, False]
    assert complaint.state == State.REPLIED and complaint.follow_up_attempts == 1
    # Each uncounted call is on record and says when the next one will count.
    two_hours_later = (MONDAY_9AM + timedelta(hours=2)).isoformat()
    assert decisions[1].payload["next_attempt_counts_from"] == two_hours_later
    assert decisions[1].payload["attempts_left"] == 2
    # Calls spaced by the interval count, and the third closes it as unreached.
    second = act(
        complaint,
        "feedback",
        SYSTEM,
        at=MONDAY_9AM + timedelta(hours=2),
        result="unreachable",
    )
    assert second.payload["counted"] is True and second.new.follow_up_attempts == 2
    third = act(
        second.new,
        "feedback",
        SYSTEM,
        at=MONDAY_9AM + timedelta(hours=3, minutes=59),
        result="unreachable",
    )
    assert third.payload["counted"] is False and third.to_state == State.REPLIED
    last = act(
        third.new, "feedback", SYSTEM, at=MONDAY_9AM + timedelta(hours=4), result="unreachable"
    )
    assert last.to_state == State.CLOSED and last.new.closure_reason == "unreached"


def test_the_interval_between_counted_follow_up_calls_is_configurable() -> None:
    anytime = LifecycleConfig(follow_up_interval=timedelta(0))
    complaint = replied_by_billing()
    for _ in range(3):
        complaint = act(complaint, "feedback", SYSTEM, config=anytime, result="unreachable").new
    assert complaint.closure_reason == "unreached"
    with pytest.raises(ValueError, match="negative"):
        LifecycleConfig(follow_up_interval=timedelta(minutes=-1))


def test_a_new_answer_starts_the_follow_up_calls_afresh() -> None:
    missed = act(replied_by_billing(), "feedback", SYSTEM, result="unreachable").new
    reopened = act(missed, "reopen", DUTY_MANAGER, reason="Customer called back").new
    assert reopened.last_follow_up_at is None
    again = act(act(reopened, "accept", BILLING_CLERK).new, "reply", BILLING_CLERK, **RESOLUTION)
    soon = act(again.new, "feedback", SYSTEM, result="unreachable")
    assert soon.payload["counted"] is True


# --- each duty manager acts on their own complaints -----------------------------------------


def test_another_duty_manager_cannot_act_on_a_complaint_they_do_not_hold() -> None:
    complaint = with_duty_manager()  # DM01's
    assert allowed_actions(complaint, NEXT_DUTY_MANAGER) == []
    for action, data in (
        ("acknowledge", {}),
        ("dispatch", {"department_id": "billing", "instructions": "请处理"}),
        ("resolve", RESOLUTION),
        ("urge", {"reason": "hurry"}),
    ):
        with pytest.raises(Forbidden) as refused:
            act(complaint, action, NEXT_DUTY_MANAGER, **data)
        assert "held by duty manager DM01" in refused.value.reason
        assert refused.value.details["holder_staff_id"] == "DM01"
    # A supervisor may, and so may the manager who holds it.
    assert "acknowledge" in allowed_actions(complaint, SUPERVISOR)
    assert act(complaint, "acknowledge", DUTY_MANAGER).new.acknowledged_by == "DM01"


def test_a_duty_manager_decides_for_the_complaints_a_department_holds_on_their_behalf() -> None:
    asked = request_more_time(in_progress_at_billing()).new
    with pytest.raises(Forbidden) as refused:
        act(asked, "decide-extension", NEXT_DUTY_MANAGER, decision="approve")
    assert "duty manager DM01 answers for it (held by department billing, clerk B07)" in str(
        refused.value
    )
    assert refused.value.details["duty_manager_id"] == "DM01"
    assert act(asked, "decide-extension", DUTY_MANAGER, decision="approve").new.extended_until
    # After a shift change the incoming manager answers for it, the outgoing no longer.
    handed = act(asked, "hand-over", SYSTEM, staff_id="DM02").new
    assert "decide-extension" in allowed_actions(handed, NEXT_DUTY_MANAGER)
    assert "decide-extension" not in allowed_actions(handed, DUTY_MANAGER)


def test_an_answered_complaint_is_closed_by_its_own_duty_manager() -> None:
    missed = act(replied_by_billing(), "feedback", SYSTEM, result="unreachable").new
    with pytest.raises(Forbidden, match="held by duty manager DM01"):
        act(missed, "close", NEXT_DUTY_MANAGER, **RESOLUTION)
    assert act(missed, "close", SUPERVISOR, **RESOLUTION).to_state == State.CLOSED


def test_a_closed_complaint_is_reopened_by_whoever_is_on_duty() -> None:
    decision = act(closed_as_satisfied(), "reopen", NEXT_DUTY_MANAGER, reason="Charged again")
    assert decision.to_state == State.DISPATCHED


def test_a_complaint_nobody_was_on_duty_for_is_the_supervisors_alone() -> None:
    waiting = act(received(), "assign", SYSTEM).new
    with pytest.raises(Forbidden, match="no duty manager"):
        act(waiting, "urge", DUTY_MANAGER, reason="x")


# --- compliments and anonymous callers -------------------------------------------------------


def test_a_compliment_is_closed_as_conveyed_by_the_departments_reply() -> None:
    praise = in_progress_at_billing("recognition")
    decision = act(praise, "reply", BILLING_CLERK, **RESOLUTION)
    assert decision.event_type == "complaint.closed"
    assert decision.to_state == State.CLOSED
    assert decision.new.closure_reason == "conveyed"
    assert decision.payload["closure_reason"] == "conveyed"
    assert decision.stage_entered is None  # no follow-up clock, no satisfaction survey
    assert decision.new.feedback is None and decision.new.holder_role is None


def test_a_compliment_the_desk_passes_on_itself_is_closed_as_conveyed() -> None:
    decision = act(with_duty_manager("recognition"), "resolve", DUTY_MANAGER, **RESOLUTION)
    assert (decision.to_state, decision.new.closure_reason) == (State.CLOSED, "conveyed")


def anonymous_with_duty_manager() -> ComplaintState:
    complaint = ComplaintState.new(nature="genuine", anonymous=True)
    return act(complaint, "assign", SYSTEM, staff_id="DM01").new


def test_an_anonymous_complaint_is_answered_without_a_follow_up_clock_and_closed_by_the_desk() -> (
    None
):
    urged = act(anonymous_with_duty_manager(), "urge", SYSTEM, reason="late", level=1).new
    answered = act(urged, "resolve", DUTY_MANAGER, **RESOLUTION)
    assert answered.to_state == State.REPLIED
    assert answered.stage_entered is None
    assert answered.new.escalation_level == 0
    assert "close" in allowed_actions(answered.new, DUTY_MANAGER)
    closed = act(answered.new, "close", DUTY_MANAGER, **RESOLUTION)
    assert closed.new.closure_reason == "anonymous"
    # One who left a number waits for their answer or a failed call, as before.
    with pytest.raises(GuardFailed, match="feedback"):
        act(replied_by_billing(), "close", DUTY_MANAGER, **RESOLUTION)


# --- what the API shows -------------------------------------------------------------------


def test_allowed_actions_follow_the_state_the_role_and_the_department() -> None:
    complaint = in_progress_at_billing()
    # Whether someone owns it is judged when they act (take one that is theirs: 409).
    assert allowed_actions(complaint, BILLING_CLERK) == [
        "return",
        "request-extension",
        "reply",
        "verify-loss",
        "request-pause",
        "resume",
        "take",
        "release",
    ]
    assert allowed_actions(complaint, DUTY_MANAGER) == [
        "decide-extension",
        "verify-loss",
        "decline-compensation",
        "urge",
        "decide-pause",
        "pause",
        "resume",
        "release-assist",
        "urge-assist",
        "merge",
        "assign-clerk",
        "release",
    ]
    assert allowed_actions(complaint, SUPERVISOR) == [
        "decide-extension",
        "verify-loss",
        "decline-compensation",
        "urge",
        "escalate",
        "decide-pause",
        "pause",
        "resume",
        "release-assist",
        "urge-assist",
        "merge",
        "reassign",
        "assign-clerk",
        "release",
    ]
    assert allowed_actions(complaint, SYSTEM) == [
        "hand-over",
        "urge",
        "escalate",
        "resume",
        "urge-assist",
        "assign-clerk",
        "release",
    ]
    assert allowed_actions(complaint, NETWORK_CLERK) == []
    # A colleague covers (return, reply …) but neither assigns nor gives back what B07 owns.
    assert allowed_actions(complaint, OTHER_BILLING_CLERK) == [
        "return",
        "request-extension",
        "reply",
        "verify-loss",
        "request-pause",
        "resume",
        "take",
    ]


def test_every_event_payload_is_plain_json_with_the_facts_consumers_need() -> None:
    decision = act(in_progress_at_billing(), "urge", SYSTEM, reason="Resolution deadline passed")
    assert json.loads(json.dumps(decision.payload)) == decision.payload
    assert decision.payload == {
        "reason": "Resolution deadline passed",
        "department_id": "billing",
        "holder_staff_id": "B07",
        "holder_role": "department",
        "bounce_count": 0,
        "reopen_count": 0,
        "urge_count": 1,
        "escalation_level": 0,
        "closure_reason": None,
    }


# --- complaints from an older system ------------------------------------------------------


def test_a_complaint_closed_in_the_old_system_lands_closed_in_one_step_with_its_outcome() -> None:
    closed_then = "2020-03-19T17:30:00+08:00"
    decision = act(
        received(),
        "import",
        SYSTEM,
        resolution="已协调施工单位整改",
        department_id="housing",
        closed_at=closed_then,
    )
    assert (decision.from_state, decision.to_state) == (State.RECEIVED, State.CLOSED)
    assert decision.event_type == "complaint.closed"
    assert decision.stage_entered is None  # no SLA clock starts
    new = decision.new
    assert (new.closure_reason, new.resolution, new.department_id) == (
        "imported",
        "已协调施工单位整改",
        "housing",
    )
    assert new.holder_role is None and new.holder_staff_id is None and new.feedback is None
    assert decision.payload["closed_at"] == closed_then and decision.payload["imported"] is True


def test_an_import_needs_no_outcome_but_refuses_a_closing_time_in_the_future() -> None:
    bare = act(received(), "import", SYSTEM)
    assert bare.new.state == State.CLOSED and bare.new.resolution is None
    with pytest.raises(InvalidCommand) as refused:
        act(received(), "import", SYSTEM, closed_at=(MONDAY_9AM + timedelta(days=1)).isoformat())
    assert refused.value.field == "closed_at"


@pytest.mark.parametrize("actor", [DUTY_MANAGER, SUPERVISOR, AGENT, ADMIN])
def test_only_the_import_command_imports(actor: Actor) -> None:
    with pytest.raises(Forbidden):
        act(received(), "import", actor)
    with pytest.raises(IllegalAction):
        act(with_duty_manager(), "import", SYSTEM)
