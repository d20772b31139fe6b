"""Who may do what on a secured broker, derived from shared/topics.py: each topic has one
writer (TOPIC_OWNERS) and its readers (TOPIC_READERS); nobody else touches it."""

from __future__ import annotations

from shared.settings import SERVICES
from shared.topics import (
    ANALYTICS_EVENTS,
    COMPLAINTS_LIFECYCLE,
    CUTOVER,
    INTAKE_EVENTS,
    SMS_EVENTS,
    TOPIC_OWNERS,
    TOPIC_READERS,
    Grant,
    dlq,
    grants,
    principals,
    topic_specs,
)


def allowed(service: str, operation: str, resource: str = "TOPIC") -> set[str]:
    return {
        g.name
        for g in grants()
        if g.principal == f"User:{service}" and g.operation == operation and g.resource == resource
    }


def test_every_topic_has_one_writer_and_its_readers_and_each_service_signs_in_as_itself() -> None:
    topics = {s.name for s in topic_specs()}
    assert set(TOPIC_OWNERS) == set(TOPIC_READERS) == {t for t in topics if not t.endswith(".dlq")}
    assert principals() == sorted(SERVICES)
    assert all(set(readers) <= set(SERVICES) for readers in TOPIC_READERS.values())


def test_intake_writes_its_own_events_and_reads_the_lifecycle_and_the_sms_events() -> None:
    intake = [g for g in grants() if g.principal == "User:intake"]
    assert [str(g) for g in intake] == [
        "User:intake DESCRIBE CLUSTER:LITERAL:kafka-cluster",
        "User:intake IDEMPOTENT_WRITE CLUSTER:LITERAL:kafka-cluster",
        "User:intake READ GROUP:PREFIXED:intake",
        "User:intake READ TOPIC:LITERAL:complaints.lifecycle",
        "User:intake WRITE TOPIC:LITERAL:complaints.lifecycle.dlq",
        "User:intake WRITE TOPIC:LITERAL:intake.events",
        "User:intake WRITE TOPIC:LITERAL:intake.events.dlq",
        "User:intake READ TOPIC:LITERAL:sms.events",
        "User:intake WRITE TOPIC:LITERAL:sms.events.dlq",
        "User:intake READ TOPIC:LITERAL:topics.cutover",
    ]


def test_each_service_writes_its_own_topics_and_dead_letters_only() -> None:
    for service in SERVICES:
        owned = {t for t, owner in TOPIC_OWNERS.items() if owner == service}
        read = {t for t, readers in TOPIC_READERS.items() if service in readers}
        assert allowed(service, "WRITE") == owned | {dlq(t) for t in owned | read}, service
        # and where an older installation's lifecycle topic was split (shared.consumer)
        assert allowed(service, "READ") == read | {CUTOVER}, service
        assert allowed(service, "READ", "GROUP") == {service}, service


def test_no_service_may_write_another_services_events() -> None:
    every = set(grants())
    for topic, owner in TOPIC_OWNERS.items():
        for service in SERVICES:
            may = Grant(f"User:{service}", "TOPIC", topic, "WRITE") in every
            assert may == (service == owner), (service, topic)
    # as the consumers see it: who is allowed to be the author of what they apply
    assert allowed("notify", "WRITE") == {
        SMS_EVENTS,
        dlq(SMS_EVENTS),  # an SMS that failed for good, kept for a person to look at
        dlq(INTAKE_EVENTS),
        dlq(COMPLAINTS_LIFECYCLE),
        dlq(ANALYTICS_EVENTS),
    }
    assert COMPLAINTS_LIFECYCLE not in allowed("intake", "WRITE")
    assert INTAKE_EVENTS not in allowed("escalation", "WRITE")
    assert ANALYTICS_EVENTS in allowed("analytics", "READ")
    assert ANALYTICS_EVENTS in allowed("notify", "READ")  # the hot issues it alerts the desk to
    assert SMS_EVENTS not in allowed("analytics", "READ")  # phone numbers it has no need of
