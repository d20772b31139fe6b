"""Analytics on the real broker and database: the fixture month's events go through
Kafka (intake's and escalation's, each on its own topic) into the read models, QA's
revision goes out on analytics' topic and comes back, and a rebuild from offset zero into
fresh tables equals what the live consumer built."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text, update

from services.analytics import rebuild
from services.analytics.db import inbox, outbox
from services.analytics.facts.service import facts, revisions
from services.analytics.handlers import handlers
from services.analytics.worker import TOPICS
from shared.consumer import EventConsumer
from shared.db import create_database
from shared.events import Envelope, registry
from shared.kafka import create_producer
from shared.topics import ANALYTICS_EVENTS
from tests.analytics.conftest import Analytics
from tests.analytics.story import fixture_month
from tests.support.infra import consume_until
from tests.support.topics import Topics

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


def relay_to(producer: Any, topics: Topics, analytics: Analytics) -> list[Envelope]:
    """What the outbox relay does, onto the test's own topics."""
    with analytics.env.db.transaction() as session:
        rows = session.execute(select(outbox).where(outbox.c.sent_at.is_(None))).all()
        session.execute(update(outbox).values(sent_at=analytics.clock.now()))
    assert {row.topic for row in rows} <= {ANALYTICS_EVENTS}
    events = [registry.decode(row.value.encode()).envelope for row in rows]
    topics.publish(producer, events)
    return events


def replayed(topics: Topics) -> list[str]:
    """The rebuild's arguments for this test's copies of the worker's topics."""
    return [f"--topic={topics[t]}={t}" for t in TOPICS]


def test_events_in_numbers_out_and_a_rebuild_equals_the_live_models(
    analytics: Analytics,
    platform_topics: Callable[..., Topics],
    pg_url: str,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    story = fixture_month()
    topics = platform_topics()
    env = analytics.env
    producer = create_producer(env.settings, "escalation-stand-in")
    consumer = EventConsumer(
        name="analytics",
        topics=topics.of(*TOPICS),
        stand_for=topics.stand_for,
        db=env.db,
        inbox=inbox,
        handlers=handlers(env.db, env.settings),
        settings=env.settings,
        producer=producer,
    )
    target = f"{env.settings.schema_prefix}analytics_rebuild"
    old_schema = ""
    try:
        # Every event, and one of them published twice (a relay that died mid-batch).
        topics.publish(producer, [*story.events, story.events[7]])
        consume_until(consumer, handled=len(story.events) + 1, timeout=60, what="the month")
        assert (consumer.stats.handled, consumer.stats.duplicates) == (len(story.events), 1)

        o = analytics.get("/analytics/overview", **MARCH)
        assert (o["volume"], o["open"], o["overdue"], o["reopened"], o["escalated"]) == (
            5,
            2,
            2,
            1,
            1,
        )

        # QA revises C3; the revision's event goes out and comes back to no effect.
        c3 = story.complaints["C3"]
        answer = analytics.client.put(
            f"/analytics/complaints/{c3.id}/root-cause",
            json={"root_cause": "management"},
            headers=analytics.qa,
        )
        assert answer.status_code == 200, answer.text
        sent = relay_to(producer, topics, analytics)
        assert [e.type for e in sent] == ["analytics.root_cause_revised"]
        consume_until(consumer, handled=len(story.events) + 2, timeout=60, what="the revision")
        assert consumer.stats.handled == len(story.events) + 1
        with env.db.read() as session:
            assert len(session.execute(select(revisions)).all()) == 1
            row = session.execute(select(facts).where(facts.c.complaint_id == c3.id)).one()
        assert (row.root_cause, row.root_cause_revisions) == ("management", 1)

        # The rebuild command, as `make analytics-rebuild ARGS=--compare` runs it.
        monkeypatch.setenv("DATABASE_URL", pg_url)
        monkeypatch.setenv("SCHEMA_PREFIX", env.settings.schema_prefix)
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
        status = rebuild.main([*replayed(topics), "--compare", "--quiet"])
        printed = capsys.readouterr().out
        assert status == 0, printed
        assert f"{len(story.events) + 2} events read" in printed
        assert "the rebuilt read models equal the live ones" in printed

        # A rebuild refuses to write over one already there, unless told to.
        assert rebuild.main([*replayed(topics), "--quiet"]) == 2

        # And the comparison is not blind: change one live number and it is found.
        with env.db.transaction() as session:
            session.execute(update(facts).where(facts.c.complaint_id == c3.id).values(reopens=5))
        rebuilt = create_database(pg_url, schema=target)
        try:
            differences = rebuild.compare(env.db, rebuilt)
        finally:
            rebuilt.dispose()
        assert [(d.table, d.changed) for d in differences] == [("complaint_facts", 1)]
        assert "reopens 5 != 0" in differences[0].examples[0]

        # The swap puts a fresh rebuild in place of the (now damaged) live models; the
        # API answers from it and the previous schema is kept aside.
        status = rebuild.main([*replayed(topics), "--replace", "--swap", "--quiet"])
        printed = capsys.readouterr().out
        assert status == 0, printed
        old_schema = printed.split("the previous schema is now ")[1].split()[0]
        with env.db.read() as session:
            row = session.execute(select(facts).where(facts.c.complaint_id == c3.id)).one()
            assert len(session.execute(select(revisions)).all()) == 1
        assert (row.reopens, row.root_cause, row.root_cause_revisions) == (0, "management", 1)
        assert analytics.get("/analytics/overview", **MARCH) == o | {"root_causes_revised": 1}
        with create_engine(pg_url).connect() as conn:
            kept = conn.execute(
                text(f'SELECT reopens FROM "{old_schema}".complaint_facts WHERE complaint_id = :c'),  # noqa: S608
                {"c": c3.id},
            ).scalar_one()
        assert kept == 5
    finally:
        producer.close()
        engine = create_engine(pg_url)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{target}" CASCADE'))
            if old_schema:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{old_schema}" CASCADE'))
        engine.dispose()
