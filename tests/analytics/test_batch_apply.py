"""The rebuild applies a batch of events at once (facts read in one query, written in a
few); its rows must be the worker's, which applies them one at a time."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from services.analytics import rebuild
from services.analytics.db import inbox
from services.analytics.facts import flows
from services.analytics.facts.service import READ_MODELS
from services.analytics.handlers import handlers_for
from shared.consumer import EventConsumer, Together
from shared.contracts import COMPLAINT_RECEIVED, RootCauseRevised
from shared.db import Database, create_database
from shared.events import Actor, Envelope, encode, kafka_headers, registry
from shared.migrations import upgrade
from shared.settings import Settings
from shared.topics import ANALYTICS_EVENTS, COMPLAINTS_LIFECYCLE, INTAKE_EVENTS
from tests.analytics.conftest import load
from tests.analytics.story import BEIJING, NOW, fixture_month


def database(tmp_path: Path, name: str) -> Database:
    url = f"sqlite:///{tmp_path / name}.db"
    upgrade("analytics", url=url, schema="analytics")
    return create_database(url, schema="analytics")


def month_with_a_revision_and_a_stale_entry() -> list[Envelope]:
    """The fixture month, QA's revision of a complaint after its last event, and one
    lifecycle entry delivered again after later ones (it must change nothing)."""
    story = fixture_month()
    events = list(story.events)
    c3 = story.complaints["C3"]
    revision = registry.new(
        flows.REVISED,
        RootCauseRevised(
            complaint_id=c3.id,
            reference=c3.reference,
            root_cause="management",
            previous="system",
            note="the rota, not the billing system",
            revised_by="Q001",
            revised_at=NOW,
        ),
        source="analytics",
        tenant="default",
        actor=Actor(id="Q001", role="qa"),
        complaint_id=c3.id,
        occurred_at=NOW,
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, "story/revision"),
    )
    stale = next(e for e in events if e.complaint_id == c3.id and e.type != "complaint.received")
    # A copy of an early entry under a new id: the inbox lets it through, the fact's
    # history_seq does not.
    replayed = registry.decode(encode(stale)).envelope.model_copy(
        update={"event_id": uuid.uuid5(uuid.NAMESPACE_URL, "story/stale")}
    )
    after_c3 = max(i for i, e in enumerate(events) if e.complaint_id == c3.id) + 1
    return [*events[:after_c3], revision, *events[after_c3:], replayed]


def rows(db: Database) -> dict[str, list[dict[str, Any]]]:
    return {
        table.name: [dict(r) for r in rebuild.table_rows(db, table, order).values()]
        for table, order in READ_MODELS
    }


@pytest.mark.parametrize("batch", [1, 3, 1000])
def test_a_batch_at_once_gives_the_rows_of_one_event_at_a_time(tmp_path: Path, batch: int) -> None:
    envelopes = month_with_a_revision_and_a_stale_entry()
    one_by_one, batched = database(tmp_path, "live"), database(tmp_path, "batched")
    try:
        load(one_by_one, envelopes)
        events = [registry.decode(encode(e)) for e in envelopes]
        for start in range(0, len(events), batch):
            with batched.transaction() as session:
                flows.apply_events(session, events[start : start + batch], BEIJING)
        expected, got = rows(one_by_one), rows(batched)
        assert len(expected["complaint_facts"]) == 6
        assert len(expected["root_cause_revisions"]) == 1
        revised = [f for f in expected["complaint_facts"] if f["root_cause_revisions"]]
        assert [(f["reference"][-2:], f["root_cause"]) for f in revised] == [("C3", "management")]
        assert got == expected
        assert rebuild.compare(one_by_one, batched) == []
    finally:
        one_by_one.dispose()
        batched.dispose()


def each_topic_after_the_other(envelopes: list[Envelope]) -> list[Envelope]:
    """The same events as a consumer of three topics may read them: each topic in its own
    order, but analytics' revisions first, then the lifecycle, then intake's registrations,
    so every complaint's events come before the event that made it."""
    by_topic: dict[str, list[Envelope]] = {}
    for envelope in envelopes:
        by_topic.setdefault(registry.get(envelope.type).topic, []).append(envelope)
    order = (ANALYTICS_EVENTS, COMPLAINTS_LIFECYCLE, INTAKE_EVENTS)
    assert set(by_topic) == set(order)
    return [e for topic in order for e in by_topic[topic]]


@pytest.mark.parametrize("batch", [0, 1, 3, 1000])
def test_the_topics_read_in_any_order_give_the_rows_of_the_events_read_in_order(
    tmp_path: Path, batch: int
) -> None:
    """QA's revision read before the complaint it revises, its lifecycle before its
    registration: the facts are those of the one-topic order (0: one event at a time,
    as the worker does; otherwise batches, as the rebuild does)."""
    in_order = month_with_a_revision_and_a_stale_entry()
    shuffled = each_topic_after_the_other(in_order)
    expected_db, got_db = database(tmp_path, "in_order"), database(tmp_path, "shuffled")
    try:
        load(expected_db, in_order)
        if batch:
            events = [registry.decode(encode(e)) for e in shuffled]
            for start in range(0, len(events), batch):
                with got_db.transaction() as session:
                    flows.apply_events(session, events[start : start + batch], BEIJING)
        else:
            load(got_db, shuffled)
        expected, got = rows(expected_db), rows(got_db)
        revised = [f for f in got["complaint_facts"] if f["root_cause_revisions"]]
        assert [(f["reference"][-2:], f["root_cause"]) for f in revised] == [("C3", "management")]
        assert got == expected
    finally:
        expected_db.dispose()
        got_db.dispose()


@dataclass
class _Record:
    value: bytes
    headers: list[tuple[str, bytes]]
    offset: int
    topic: str
    partition: int = 0


class _NoDeadLetters:
    def send(self, topic: str, **_: Any) -> Any:
        raise AssertionError(f"nothing of the month is to be dead-lettered ({topic})")


@pytest.mark.parametrize("poll", [7, 500])
def test_the_workers_consumer_applies_the_events_of_a_poll_together_with_the_same_rows(
    tmp_path: Path, poll: int
) -> None:
    """The worker's own consumer and handlers: the events of a poll go to the batch path
    together, and the read models are those of one event at a time."""
    envelopes = month_with_a_revision_and_a_stale_entry()
    one_by_one, polled = database(tmp_path, "live"), database(tmp_path, "polled")
    calls: list[int] = []
    handlers = handlers_for(BEIJING)
    many = handlers[COMPLAINT_RECEIVED.name].many  # type: ignore[attr-defined]

    def counted(session: Any, events: Any) -> None:
        calls.append(len(events))
        many(session, events)

    handlers = {
        name: Together(handler.one, counted) if isinstance(handler, Together) else handler
        for name, handler in handlers.items()
    }
    consumer = EventConsumer(
        name="analytics",
        topics=list({registry.get(e.type).topic for e in envelopes}),
        db=polled,
        inbox=inbox,
        handlers=handlers,
        settings=Settings(),
        producer=_NoDeadLetters(),
    )
    try:
        load(one_by_one, envelopes)
        records = [
            _Record(encode(e), list(kafka_headers(e)), n, registry.get(e.type).topic)
            for n, e in enumerate(envelopes)
        ]
        for start in range(0, len(records), poll):
            consumer._process_many(records[start : start + poll], threading.Event())
        assert consumer.stats.handled == len(envelopes)
        assert rows(polled) == rows(one_by_one)
        # Together: a few calls for the whole month, not one per event.
        assert sum(calls) == len(envelopes)
        size = min(poll, consumer.transaction_size)
        assert len(calls) == -(-len(envelopes) // size)
    finally:
        one_by_one.dispose()
        polled.dispose()
