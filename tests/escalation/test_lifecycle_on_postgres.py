"""Random lives on real PostgreSQL: whoever in the centre tries whatever, the stored
complaint only ever moves along the table, every accepted action leaves exactly one
history entry and one event, a refused one leaves nothing, and the history verifies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.escalation.complaints import flows, service
from services.escalation.lifecycle import (
    RULES,
    TRANSITIONS,
    Actor,
    Command,
    LifecycleError,
    actions_allowed_in,
    allowed_actions,
    parse_action,
)
from shared.errors import NotFound
from shared.vocabulary import Action, Nature
from tests.escalation.conftest import Centre
from tests.escalation.test_lifecycle_properties import as_sent, payloads

pytestmark = pytest.mark.postgres

# The people of the test centre's directory, and the service itself (customer feedback).
PEOPLE = [
    Actor("system", "system"),
    Actor("DM01", "duty_manager"),
    Actor("DM02", "duty_manager"),
    Actor("SV01", "supervisor"),
    Actor("B07", "department", "billing"),
    Actor("N03", "department", "network"),
    Actor("A001", "agent"),
    Actor("Q01", "qa"),
]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    nature=st.sampled_from(list(Nature)),
    steps=st.integers(min_value=1, max_value=30),
    data=st.data(),
)
def test_random_actions_by_anyone_stay_in_the_table_and_the_history_always_verifies(
    centre: Centre, nature: Nature, steps: int, data: st.DataObject
) -> None:
    cid = centre.receive(nature=nature.value)
    now = datetime.now(UTC)
    for _ in range(steps):
        now += timedelta(hours=data.draw(st.integers(min_value=0, max_value=48), label="hours"))
        before = centre.row(cid)
        current = service.lifecycle_state(before)
        entitled = {actor: allowed_actions(current, actor) for actor in PEOPLE}
        possible = [
            parse_action(name)
            for name in actions_allowed_in(current.state)
            if any(name in names for names in entitled.values())
        ]
        moving = [action for action in possible if RULES[action].to_states] or possible
        mode = data.draw(st.integers(min_value=0, max_value=3), label="mode") if possible else 0
        if mode:
            action = data.draw(st.sampled_from(moving if mode == 2 else possible), label="action")
            able = [actor for actor, names in entitled.items() if action.api_name in names]
            actor = data.draw(st.sampled_from(able), label="actor")
        else:
            actor = data.draw(st.sampled_from(PEOPLE), label="actor")
            action = data.draw(st.sampled_from(list(Action)), label="action")
        command = Command(action, actor, as_sent(data.draw(payloads(), label="payload"), now))

        try:
            applied = flows.apply(
                centre.env.db, centre.outbox, cid, command, now=now, config=centre.config
            )
        except (LifecycleError, NotFound):
            after = centre.row(cid)
            # Refused: nothing stored, nothing said.
            assert after._mapping == before._mapping
            continue

        after = centre.row(cid)
        decision = applied.decision
        assert (decision.from_state, action, decision.to_state) in TRANSITIONS
        assert before.state == decision.from_state and after.state == decision.to_state
        assert after.history_seq == before.history_seq + 1
        assert after.history_head == applied.entry["hash"]

    final = centre.row(cid)
    with centre.env.db.read() as session:
        report = flows.verify(session, final)
        entries = service.history_of(session, cid)
    assert report.valid, report
    assert report.entries == final.history_seq == len(entries)
    # One event per entry, in the same order, with the entry's event id and type.
    events = centre.events(cid)
    assert [(str(e.event_id), e.type) for e in events] == [
        (entry.event_id, entry.event_type) for entry in entries
    ]
    assert [e.payload["history_seq"] for e in events] == list(range(1, len(entries) + 1))
