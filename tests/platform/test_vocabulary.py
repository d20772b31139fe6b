"""The shared words have one home (shared/vocabulary.py); these tests fail when a copy
appears elsewhere or when the copies that must exist (migrations, frozen at the time they
were written) disagree with it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import sqlalchemy as sa

from services.escalation.lifecycle import RULES, fields_of
from shared import vocabulary
from shared.contracts import LIFECYCLE_TYPES
from shared.events import registry
from shared.migrations import upgrade
from shared.topics import ANALYTICS_EVENTS, COMPLAINTS_LIFECYCLE, INTAKE_EVENTS, SMS_EVENTS
from shared.vocabulary import (
    LIFECYCLE_EVENTS,
    OPEN_STATES,
    SLA_STAGES,
    STAGE_ON_ENTRY,
    Action,
    EventName,
    Stage,
    State,
    values,
)

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    path
    for folder in ("services", "shared", "scripts", "bench")
    for path in sorted((ROOT / folder).rglob("*.py"))
    if "migrations" not in path.parts and path.name != "vocabulary.py"
]
# Words distinctive enough that a string with exactly this text can only be a copy.
DISTINCTIVE = {e.value for e in EventName} | {
    State.WITH_DUTY_MANAGER.value,
    State.IN_PROGRESS.value,
    Action.REQUEST_EXTENSION.value,
    Action.DECIDE_EXTENSION.value,
    Action.VERIFY_LOSS.value,
}


def _string_constants(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def test_no_service_spells_an_event_type_or_a_lifecycle_word_itself() -> None:
    copies = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in SOURCES
        for line, text in _string_constants(path)
        if text in DISTINCTIVE
    ]
    assert copies == [], "use shared.vocabulary instead:\n" + "\n".join(copies)


def test_the_scan_finds_a_copy_when_there_is_one(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text('HANDLERS = {"complaint.dispatched": print}\n', encoding="utf-8")
    assert [t for _, t in _string_constants(planted) if t in DISTINCTIVE] == [
        "complaint.dispatched"
    ]


def test_every_event_type_has_a_contract_on_the_topic_of_the_service_that_publishes_it() -> None:
    assert set(registry.names()) == {e.value for e in EventName}
    for name in EventName:
        topic = registry.get(name).topic
        if name in vocabulary.INTAKE_EVENTS:
            assert topic == INTAKE_EVENTS, name
        elif name.startswith("sms."):
            assert topic == SMS_EVENTS, name
        elif name.startswith("analytics."):
            assert topic == ANALYTICS_EVENTS, name
        else:  # the lifecycle's and the shift hand-over
            assert topic == COMPLAINTS_LIFECYCLE, name
    assert set(LIFECYCLE_TYPES) == set(LIFECYCLE_EVENTS)


def test_the_lifecycle_table_publishes_only_lifecycle_events() -> None:
    assert {rule.event_type for rule in RULES.values()} <= set(LIFECYCLE_EVENTS)
    assert set(RULES) == set(Action)


def test_stages_and_states_agree() -> None:
    assert set(STAGE_ON_ENTRY) == OPEN_STATES - {State.RECEIVED}
    assert set(SLA_STAGES) == set(Stage) - {Stage.HANDLING}


def test_every_action_field_is_documented_with_a_schema() -> None:
    for action in Action:
        for spec in fields_of(action):
            assert spec.schema, f"{action}.{spec.name} has no schema"


def test_every_word_has_both_labels() -> None:
    from shared import vocabulary

    lists = [
        obj
        for obj in vars(vocabulary).values()
        if isinstance(obj, type) and issubclass(obj, vocabulary.Word) and obj is not vocabulary.Word
    ]
    assert len(lists) >= 12
    for words in lists:
        for word in words:
            assert word.zh and word.en, f"{words.__name__}.{word.name} lacks a label"
            assert word.label("zh-CN") == word.zh and word.label("en") == word.en


def test_the_migrations_allow_exactly_the_vocabulary(tmp_path: Path) -> None:
    """Migrations keep their own copy of the word lists (a migration never changes after it
    ships); the database they build must still take every state and keep every stage."""
    escalation = f"sqlite:///{tmp_path / 'escalation.db'}"
    analytics = f"sqlite:///{tmp_path / 'analytics.db'}"
    upgrade("escalation", url=escalation)
    upgrade("analytics", url=analytics)

    with sa.create_engine(escalation).connect() as conn:
        ddl = "\n".join(
            conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE type = 'table'")).scalars()
        )
    checked = re.findall(r"state IN \(([^)]*)\)", ddl)
    assert checked, "no CHECK on the complaint state"
    for found in checked:
        assert sorted(v.strip(" '") for v in found.split(",")) == sorted(values(State))

    columns = {
        c["name"] for c in sa.inspect(sa.create_engine(analytics)).get_columns("complaint_facts")
    }
    for stage in Stage:
        assert {f"{stage}_seconds", f"{stage}_met"} <= columns
