"""Random lives: whoever sends whatever, a complaint never leaves the table."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.escalation.lifecycle import (
    RULES,
    TRANSITIONS,
    Actor,
    Command,
    ComplaintState,
    Forbidden,
    IllegalAction,
    LifecycleConfig,
    LifecycleError,
    actions_allowed_in,
    allowed_actions,
    decide,
    parse_action,
)
from shared.vocabulary import (
    LIFECYCLE_EVENTS,
    STAGE_ON_ENTRY,
    Action,
    ClosureReason,
    ExtensionDecision,
    FeedbackResult,
    Nature,
    ReturnReason,
    RootCause,
    State,
)

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

ACTORS = [
    Actor("escalation-service", "system"),
    Actor("DM01", "duty_manager"),
    Actor("DM02", "duty_manager"),
    Actor("SV01", "supervisor"),
    Actor("B07", "department", "billing"),
    Actor("N03", "department", "network"),
    Actor("X01", "department"),
    Actor("A001", "agent"),
    Actor("V01", "viewer"),
    Actor("Q01", "qa"),
    Actor("AD01", "admin"),
    Actor("Z99", "customer"),
]

ALL_ACTIONS = list(Action)
SUPERVISORS_ONLY_ONCE_BOUNCED = (Action.DISPATCH, Action.RESOLVE, Action.ACKNOWLEDGE)
COUNTERS = ("bounce_count", "reopen_count", "urge_count", "escalation_level")

# Every field any action reads, with good values; an action ignores the fields it does not
# read, so one payload carrying all of them suits every action. `until` is an offset from
# the step's clock, turned into a time when the command is sent.
GOOD: dict[str, list[Any]] = {
    "staff_id": ["DM01", "DM02"],
    "department_id": ["billing", "billing", "network"],
    "instructions": ["Please call the customer back"],
    "resolution": ["Refunded the difference", "Explained the tariff"],
    "root_cause": list(RootCause),
    "reason_code": list(ReturnReason),
    "reason": ["Customer called again"],
    "until": [timedelta(hours=1), timedelta(days=2), timedelta(days=5)],
    "decision": list(ExtensionDecision),
    "compensation_amount": [1, "120.5", Decimal("0.01"), 4999.99],
    "result": list(FeedbackResult),
    "with_compensation": [None, False, True],
    "comment": [None, "Thanks"],
    "level": [None, None, 1, 2, 3],
}
# Drawn once, picked by index: far cheaper for Hypothesis than a dictionary per step.
_seed = random.Random(20250303)
TEMPLATES = [{name: _seed.choice(values) for name, values in GOOD.items()} for _ in range(200)]

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-10, max_value=10),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(), max_size=1),
    st.timedeltas(min_value=timedelta(days=-3), max_value=timedelta(days=1)),
    st.just(datetime(2025, 12, 1, 9, 0)),  # no time zone
)


@st.composite
def payloads(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly well-formed; otherwise with a field or two missing or wrong."""
    payload = dict(draw(st.sampled_from(TEMPLATES)))
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2]))):
        payload[draw(st.sampled_from(list(GOOD)))] = draw(junk)
    return {name: value for name, value in payload.items() if value is not None}


def as_sent(payload: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Offsets become times, as a client computing them from its own clock would send."""
    return {
        name: (now + value).isoformat() if isinstance(value, timedelta) else value
        for name, value in payload.items()
    }


configs = st.builds(
    LifecycleConfig,
    max_returns=st.integers(min_value=1, max_value=3),
    unreachable_attempts=st.integers(min_value=1, max_value=3),
    max_escalation_level=st.integers(min_value=1, max_value=3),
    allow_transfer=st.booleans(),
)


def check_consistent(c: ComplaintState, config: LifecycleConfig) -> None:
    """What must hold of any complaint the lifecycle produced."""
    if c.state in (State.DISPATCHED, State.IN_PROGRESS):
        assert c.department_id is not None and c.holder_role == "department"
    if c.state == State.WITH_DUTY_MANAGER:
        assert c.department_id is None and c.holder_role in ("duty_manager", "supervisor")
    if c.holder_role == "supervisor":
        # After too many returns; or nobody was on duty when it came, and no duty manager
        # has it yet, or a supervisor took it from the queue before one came on duty.
        nobody_was_on_duty = c.duty_manager_id is None or c.holder_staff_id is not None
        assert c.bounce_count >= config.max_returns or nobody_was_on_duty
    if c.pending_extension is not None:
        assert c.state in (State.DISPATCHED, State.IN_PROGRESS)
    if c.state in (State.REPLIED, State.CLOSED) and c.closure_reason != ClosureReason.IMPORTED:
        # An import lands closed with whatever the older system recorded, maybe nothing.
        assert c.resolution and c.root_cause in list(RootCause)
    else:
        assert c.feedback is None and c.follow_up_attempts == 0
    assert (c.state == State.CLOSED) == (c.closure_reason is not None)
    assert 0 <= c.escalation_level <= config.max_escalation_level
    if c.loss_verified or c.with_compensation:
        assert c.nature == Nature.COMPENSATION
    if c.state == State.CLOSED and c.with_compensation:
        assert c.loss_verified and c.compensation_amount is not None
    # A claim closes settled: the loss verified with its amount, or nothing due by decision
    # (an import closes as the older system left it: settled there or not, it is history).
    imported = c.closure_reason == ClosureReason.IMPORTED
    if c.state == State.CLOSED and c.nature == Nature.COMPENSATION and not imported:
        verified = c.loss_verified and c.compensation_amount is not None
        assert verified or c.compensation_declined
    assert not (c.compensation_declined and c.loss_verified)
    # A compliment never waits for a verdict on itself; only a compliment is "conveyed".
    if c.nature == Nature.RECOGNITION:
        assert c.state != State.REPLIED
    assert (c.closure_reason == ClosureReason.CONVEYED) <= (c.nature == Nature.RECOGNITION)
    assert (c.closure_reason == ClosureReason.ANONYMOUS) <= c.anonymous


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    nature=st.sampled_from(list(Nature)),
    anonymous=st.booleans(),
    config=configs,
    steps=st.integers(min_value=1, max_value=60),
    data=st.data(),
)
def test_random_commands_never_leave_the_table(
    nature: Nature, anonymous: bool, config: LifecycleConfig, steps: int, data: st.DataObject
) -> None:
    complaint = ComplaintState.new(nature=nature, anonymous=anonymous)
    now = START
    for _ in range(steps):
        now += timedelta(hours=data.draw(st.integers(min_value=0, max_value=48), label="hours"))
        # Mostly an action someone may take now, by someone who may, and more often one that
        # moves the complaint on, so the walk gets far; otherwise anyone doing anything.
        entitled = {actor: allowed_actions(complaint, actor, config) for actor in ACTORS}
        possible = [
            parse_action(name)
            for name in actions_allowed_in(complaint.state, config)
            if any(name in names for names in entitled.values())
        ]
        moving = [action for action in possible if RULES[action].to_states] or possible
        mode = data.draw(st.integers(min_value=0, max_value=3), label="mode") if possible else 0
        if mode:
            action = data.draw(st.sampled_from(moving if mode == 2 else possible), label="action")
            able = [actor for actor, names in entitled.items() if action.api_name in names]
            actor = data.draw(st.sampled_from(able), label="actor")
        else:
            actor = data.draw(st.sampled_from(ACTORS), label="actor")
            action = data.draw(st.sampled_from(ALL_ACTIONS), label="action")
        predicted = allowed_actions(complaint, actor, config)
        assert set(predicted) <= set(actions_allowed_in(complaint.state, config))
        payload = as_sent(data.draw(payloads(), label="payload"), now)
        before = complaint

        try:
            decision = decide(complaint, Command(action, actor, payload), now=now, config=config)
        except LifecycleError as refused:
            assert complaint == before
            if isinstance(refused, IllegalAction):
                # Outside the table, or a transfer where the centre has none.
                unoffered = action == Action.TRANSFER and not config.allow_transfer
                assert complaint.state not in RULES[action].from_states or unoffered
                assert refused.allowed == actions_allowed_in(complaint.state, config)
            # allowed_actions predicts exactly the state-and-rights part of the answer.
            assert (action.api_name in predicted) != isinstance(refused, IllegalAction | Forbidden)
            continue

        assert action.api_name in predicted
        # Who may act, restated from the brief rather than read back from the table.
        assert actor.role not in ("agent", "viewer", "qa", "admin", "customer")
        if actor.role == "department":
            assert actor.department_id == before.department_id is not None
        if before.holder_role == "supervisor" and action in SUPERVISORS_ONLY_ONCE_BOUNCED:
            assert actor.role == "supervisor"
        # A duty manager acts on the open complaints they answer for, not a colleague's.
        if actor.role == "duty_manager" and before.state != State.CLOSED:
            assert actor.staff_id == before.duty_manager_id
        assert decision.from_state == before.state
        assert decision.to_state == decision.new.state
        assert (decision.from_state, action, decision.to_state) in TRANSITIONS
        if before.state == State.CLOSED:
            assert action == Action.REOPEN
        changed = decision.to_state != decision.from_state
        # An anonymous complaint's answer waits for no one: no follow-up clock runs.
        unclocked = changed and decision.to_state == State.REPLIED and before.anonymous
        if changed:
            expected = None if unclocked else STAGE_ON_ENTRY.get(decision.to_state)
            assert decision.stage_entered == expected
        else:  # an acknowledgement, and a transfer the new department's, without moving
            assert decision.stage_entered == {
                Action.ACKNOWLEDGE: "resolution",
                Action.TRANSFER: "acceptance",
            }.get(action)
        assert decision.event_type in LIFECYCLE_EVENTS
        assert json.loads(json.dumps(decision.payload)) == decision.payload
        for counter in COUNTERS:
            new_clock = decision.stage_entered is not None or unclocked
            if counter == "escalation_level" and new_clock:
                assert decision.new.escalation_level == 0  # a new stage starts at level 0
                continue
            assert getattr(decision.new, counter) >= getattr(before, counter), counter
        check_consistent(decision.new, config)
        complaint = decision.new
