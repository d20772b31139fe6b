"""Every event type lives on the topic of the service that publishes it, and that service
signs its events with its own name: the contracts, the services' names and the outbox
agree, so no service writes an event a consumer would refuse."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import MetaData

from services.analytics.facts.flows import SOURCE as ANALYTICS
from services.escalation.complaints.flows import SOURCE as ESCALATION
from services.intake.complaints.registration import SOURCE as INTAKE
from services.notify.messages.context import SOURCE as NOTIFY
from shared.contracts import COMPLAINT_RECEIVED, misplaced, publisher
from shared.events import EventRegistry, Payload, registry
from shared.outbox import Outbox, OutboxRelay, outbox_table
from shared.topics import (
    ANALYTICS_EVENTS,
    COMPLAINTS_LIFECYCLE,
    INTAKE_EVENTS,
    SMS_EVENTS,
    TOPIC_OWNERS,
    dlq,
)
from shared.vocabulary import EventName
from tests.notify.conftest import received_event


def test_each_service_signs_its_events_with_the_name_that_owns_their_topic() -> None:
    sources = {"intake": INTAKE, "escalation": ESCALATION, "notify": NOTIFY, "analytics": ANALYTICS}
    assert set(sources.values()) == set(TOPIC_OWNERS.values())
    for name in registry.names():
        service = publisher(name)
        assert TOPIC_OWNERS[registry.get(name).topic] == sources[service], name
    assert {publisher(n) for n in registry.names()} == set(sources)
    assert publisher(EventName.DUTY_HANDED_OVER) == "escalation"


def test_a_type_registered_on_another_services_topic_is_found() -> None:
    class Whatever(Payload):
        complaint_id: str

    types = EventRegistry()
    types.register(EventName.COMPLAINT_RECEIVED, Whatever, topic=COMPLAINTS_LIFECYCLE)
    types.register(EventName.SMS_INBOUND, Whatever, topic=SMS_EVENTS)
    types.register(EventName.ROOT_CAUSE_REVISED, Whatever, topic="somewhere")
    assert misplaced(types) == {
        "complaint.received": COMPLAINTS_LIFECYCLE,
        "analytics.root_cause_revised": "somewhere",
    }
    assert misplaced() == {}


def test_the_outbox_refuses_an_event_its_topics_owner_would_not_have_written() -> None:
    outbox = Outbox(outbox_table(MetaData()), lanes=4)
    (row,) = outbox.rows([received_event()])
    assert row["topic"] == INTAKE_EVENTS
    forged = received_event().model_copy(update={"source": "escalation"})
    with pytest.raises(ValueError, match=r"complaint.received goes on intake.events, which only"):
        outbox.rows([forged])
    # A topic named by the caller (a dead-letter topic, a test's) is the caller's business.
    assert outbox.rows([forged], topic=dlq(INTAKE_EVENTS))[0]["topic"] == "intake.events.dlq"


def test_rows_written_before_the_split_go_to_their_owners_topic() -> None:
    """An intake or analytics outbox holding rows from the old layout names
    complaints.lifecycle for them: the relay sends them where their type lives now, the
    only topic the service may write."""
    relay = OutboxRelay(
        SimpleNamespace(schema="intake", name="intake"),  # type: ignore[arg-type]
        outbox_table(MetaData()),
        producer=None,
        lanes=4,
    )

    def row(topic: str, event_type: str) -> SimpleNamespace:
        return SimpleNamespace(topic=topic, event_type=event_type)

    assert relay._topic_of(row(COMPLAINTS_LIFECYCLE, COMPLAINT_RECEIVED.name)) == INTAKE_EVENTS
    revised = EventName.ROOT_CAUSE_REVISED
    assert relay._topic_of(row(COMPLAINTS_LIFECYCLE, revised)) == ANALYTICS_EVENTS
    assert relay._topic_of(row(COMPLAINTS_LIFECYCLE, EventName.CLOSED)) == COMPLAINTS_LIFECYCLE
    assert relay._topic_of(row(dlq(SMS_EVENTS), EventName.SMS_FAILED)) == dlq(SMS_EVENTS)
    assert relay._topic_of(row("test.x", COMPLAINT_RECEIVED.name)) == "test.x"
