"""An installation that ran when every complaint event went on complaints.lifecycle moves
to topics by owner: `migrate-owners` copies intake's and analytics' events to their new
topics and records where the old topic was split. Analytics then rebuilds from the new
layout to the very facts the old worker had built, the originals left behind are passed
over without a dead letter, and an intake event written to the lifecycle topic after the
split is a forgery like any other.

On the real broker and PostgreSQL, with topics of the test's own (shared.topics takes a
mapping from the platform's names)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from services.analytics import rebuild
from services.analytics.db import inbox
from services.analytics.handlers import handlers_for
from services.analytics.worker import TOPICS
from shared.consumer import EventConsumer
from shared.contracts import ROOT_CAUSE_REVISED, RootCauseRevised
from shared.db import Database
from shared.events import Actor, Envelope, registry
from shared.kafka import create_producer
from shared.settings import Settings
from shared.topics import (
    ANALYTICS_EVENTS,
    COMPLAINTS_LIFECYCLE,
    COPIED_FROM,
    INTAKE_EVENTS,
    MigrationRefused,
    dlq,
    migrate_owners,
    read_cutovers,
)
from tests.analytics.conftest import load
from tests.analytics.story import BEIJING, NOW, fixture_month
from tests.notify.conftest import received_event
from tests.support.infra import read_topic, wait_until
from tests.support.topics import Topics

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]


def old_installation() -> list[Envelope]:
    """The fixture month as intake and escalation published it, and QA's revision of C3,
    in the order the old analytics worker read them (one topic)."""
    story = fixture_month()
    c3 = story.complaints["C3"]
    revision = registry.new(
        ROOT_CAUSE_REVISED.name,
        RootCauseRevised(
            complaint_id=c3.id,
            reference=c3.reference,
            root_cause="management",
            previous="service",
            revised_by="Q01",
            revised_at=NOW,
        ),
        source="analytics",
        tenant="default",
        actor=Actor(id="Q01", role="qa"),
        complaint_id=c3.id,
        occurred_at=NOW,
    )
    return [*story.events, revision]


def replay(topics: Topics, db: Database, bootstrap: str) -> rebuild.RebuildResult:
    return rebuild.replay(
        db,
        settings=Settings(kafka_bootstrap_servers=bootstrap),
        topics=topics.of(*TOPICS),
        stand_for=topics.stand_for,
        tz=BEIJING,
        progress=False,
        result=rebuild.RebuildResult(schema=db.schema or ""),
    )


def test_an_old_installation_is_split_rebuilds_to_the_same_facts_and_refuses_what_came_after(
    migrated: Callable[[str], Database],
    platform_topics: Callable[..., Topics],
    kafka_bootstrap: str,
    kafka_settings: Settings,
) -> None:
    topics = platform_topics(3)
    old = old_installation()
    moved = [e for e in old if registry.get(e.type).topic != COMPLAINTS_LIFECYCLE]
    assert {e.type for e in moved} == {"complaint.received", "analytics.root_cause_revised"}
    live = migrated("analytics")  # what the old worker built, one topic, in order
    assert load(live, old) == len(old)
    producer = create_producer(kafka_settings, "old-layout")
    try:
        topics.publish(producer, old, on=COMPLAINTS_LIFECYCLE)

        done = migrate_owners(kafka_bootstrap, topics=topics.names)
        assert not done.already
        assert done.copied == {topics[INTAKE_EVENTS]: len(moved) - 1, topics[ANALYTICS_EVENTS]: 1}
        assert sum(done.cutover.offsets.values()) == len(old)
        copies = read_topic(kafka_bootstrap, topics[INTAKE_EVENTS], expect=len(moved) - 1)
        originals = read_topic(kafka_bootstrap, topics[COMPLAINTS_LIFECYCLE], expect=len(old))
        by_value = {r.value: r for r in originals}
        for copy in copies:
            original = by_value[copy.value]  # the same bytes, so the same event id
            assert (copy.key, copy.partition) == (original.key, original.partition)
            assert copy.headers[:-1] == original.headers
            assert copy.headers[-1][0] == COPIED_FROM
        assert read_cutovers(kafka_bootstrap)[topics[COMPLAINTS_LIFECYCLE]] == done.cutover

        # The rebuild from offset zero reads the copies and passes over the originals.
        rebuilt = migrated("analytics")
        result = replay(topics, rebuilt, kafka_bootstrap)
        assert (result.handled, result.left_behind, result.refused) == (len(old), len(moved), 0)
        assert rebuild.compare(live, rebuilt) == []

        # After the split: intake's event on escalation's topic is a forgery.
        forged = received_event(customer_phone="+8613912345678")
        topics.publish(producer, [forged], on=COMPLAINTS_LIFECYCLE)
    finally:
        producer.close(timeout=10)

    fresh = migrated("analytics")  # a new worker, from the first offset of every topic
    consumer = EventConsumer(
        name="analytics-after-split",
        topics=topics.of(*TOPICS),
        stand_for=topics.stand_for,
        db=fresh,
        inbox=inbox,
        handlers=handlers_for(BEIJING),
        settings=kafka_settings,
        producer=create_producer(kafka_settings, "analytics-dlq"),
        poll_timeout_ms=50,
    )
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: consumer.stats.handled == len(old) and consumer.stats.refused == 1,
            timeout=60,
            what="every event read, the forgery refused",
        )
    finally:
        stop.set()
        thread.join(timeout=30)
        consumer.producer.close(timeout=10)
    assert (consumer.stats.left_behind, consumer.stats.dead_lettered) == (len(moved), 1)
    (dead,) = read_topic(kafka_bootstrap, dlq(topics[COMPLAINTS_LIFECYCLE]), expect=1)
    headers = dict(dead.headers)
    assert str(forged.event_id).encode() in dead.value
    assert headers["dlq.error_class"] == b"ownership"
    assert headers["dlq.reason"].startswith(b"'complaint.received' on complaints.lifecycle")
    assert rebuild.compare(live, fresh) == []

    # A rebuild now refuses the forgery too, and the split is recorded once.
    again = replay(topics, migrated("analytics"), kafka_bootstrap)
    assert (again.handled, again.left_behind, again.refused) == (len(old), len(moved), 1)
    second = migrate_owners(kafka_bootstrap, topics=topics.names)
    assert second.already and second.cutover == done.cutover


def test_the_split_is_refused_once_the_new_version_has_written_to_the_new_topics(
    platform_topics: Callable[..., Topics], kafka_bootstrap: str, kafka_settings: Settings
) -> None:
    """Run after the new version started, "all that is on the old topic now" would include
    whatever anyone wrote there since, and the split would vouch for it."""
    topics = platform_topics(1)
    producer: Any = create_producer(kafka_settings, "new-version")
    try:
        topics.publish(producer, [received_event()], on=COMPLAINTS_LIFECYCLE)
        topics.publish(producer, [received_event()])  # intake of the new version
    finally:
        producer.close(timeout=10)
    with pytest.raises(MigrationRefused, match="already holds events written by its owner"):
        migrate_owners(kafka_bootstrap, topics=topics.names)
    assert topics[COMPLAINTS_LIFECYCLE] not in read_cutovers(kafka_bootstrap)

    forced = migrate_owners(kafka_bootstrap, topics=topics.names, force=True)
    assert forced.copied == {topics[INTAKE_EVENTS]: 1}
    assert forced.cutover.offsets == {0: 1}
