"""Someone who can reach the broker publishes events by hand. Each service believes an
event only from the topic of its type, written by that topic's owner: a forgery is
dead-lettered with the reason, and nothing changes anywhere — escalation keeps the
complaint where it was, intake's copy and the customer's file stay, notify plans no SMS,
analytics counts nothing.

The whole system runs here as its workers run it, on the real broker and PostgreSQL:
intake, escalation, notify and analytics, each with its relay and its consumer on the
topics its worker reads (topics of this module's own in place of the platform's). One
complaint is taken to `replied`, waiting for the customer's verdict — the moment a forged
"satisfied" would close it — and then every kind of forgery is tried against it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from shared.contracts import (
    ArticleApproved,
    ArticleWithdrawn,
    AttachmentAdded,
    ComplaintReceived,
    DutyHandedOver,
    FeedbackReceived,
    HandedOverItem,
    HotIssueDetected,
    LifecycleChanged,
    NoteAdded,
    Recipient,
    RootCauseRevised,
    SmsEvent,
    SmsInbound,
    UrgeRequested,
)
from shared.events import Actor, Envelope, registry
from shared.topics import (
    COMPLAINTS_LIFECYCLE,
    INTAKE_EVENTS,
    SMS_EVENTS,
    TOPIC_OWNERS,
)
from tests.escalation.conftest import PHONES
from tests.support.infra import wait_until
from tests.support.system import SETTINGS, WORKERS, System, readers_of, whole_system

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

CUSTOMER = "+8613800138000"
INVENTED = "+8613912345678"  # a number nobody registered
DM01 = PHONES["DM01"]


# -- the system ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def system(pg_url: str, kafka_bootstrap: str) -> Iterator[System]:
    with whole_system(pg_url, kafka_bootstrap) as running:
        running.complaint = _replied(running)
        yield running


def _replied(system: System) -> dict[str, Any]:
    """A complaint registered, assigned and answered: everyone waits for the customer."""
    body = {
        "customer_phone": "138 0013 8000",
        "customer_name": "王女士",
        "channel": "phone",
        "category": "billing",
        "severity": "normal",
        "nature": "genuine",
        "description": "上月话费账单多扣了 30 元，客服一直没有回复。",
    }
    answer = system.intake.post("/complaints", json=body, headers=system.agent)
    assert answer.status_code == 201, answer.text
    complaint: dict[str, Any] = answer.json()
    cid = complaint["id"]
    wait_until(lambda: system.state(cid) == "with_duty_manager", timeout=60, what="assigned")
    answer = system.escalation.post(
        f"/complaints/{cid}/actions/resolve",
        json={"resolution": "已退还多扣的 30 元", "root_cause": "system"},
        headers=system.manager,
    )
    assert answer.status_code == 200, answer.text
    wait_until(
        lambda: (
            system.intake_status(cid) == "replied"
            and system.rows("analytics", "SELECT state FROM complaint_facts") == [("replied",)]
            and system.rows("notify", "SELECT 1 FROM messages WHERE template = 'customer_replied'")
        ),
        timeout=60,
        what="intake, notify and analytics caught up with the reply",
    )
    # Everything relayed and read: from here on, only a forgery could change anything.
    complaint["snapshot"] = system.settled()
    return complaint


def unchanged(system: System) -> None:
    assert system.snapshot() == system.complaint["snapshot"]


# -- forgeries ----------------------------------------------------------------------------


def envelope(name: str, payload: BaseModel, *, source: str, complaint_id: str | None) -> Envelope:
    """An event built by hand, saying whatever its author likes about itself."""
    return Envelope(
        event_id=uuid.uuid4(),
        type=name,
        schema_version=registry.get(name).version,
        occurred_at=datetime.now(UTC),
        complaint_id=complaint_id,
        actor=Actor(id="system", role="system"),
        correlation_id=uuid.uuid4().hex,
        source=source,
        payload=payload.model_dump(mode="json"),
    )


def forged(name: str, complaint: dict[str, Any], *, source: str) -> Envelope:
    """A believable event of type `name` about the replied complaint."""
    cid, ref, now = complaint["id"], complaint["reference"], datetime.now(UTC)
    payload_type = registry.get(name).payload
    payloads: dict[type, Callable[[], BaseModel]] = {
        ComplaintReceived: lambda: ComplaintReceived(
            complaint_id=str(uuid.uuid4()),
            reference="TS20261122-999999",
            customer_phone=INVENTED,
            channel="phone",
            category="billing",
            severity="urgent",
            nature="genuine",
            description="伪造的投诉",
            registered_at=now,
            registered_by="A001",
        ),
        FeedbackReceived: lambda: FeedbackReceived(
            complaint_id=cid,
            reference=ref,
            result="satisfied",
            recorded_by="A001",
        ),
        NoteAdded: lambda: NoteAdded(complaint_id=cid, reference=ref, text="伪造", added_by="A1"),
        UrgeRequested: lambda: UrgeRequested(
            complaint_id=cid, reference=ref, text="伪造的催办", requested_by="A001"
        ),
        # believed, it would put a file nobody uploaded in the complaint's history
        AttachmentAdded: lambda: AttachmentAdded(
            complaint_id=cid,
            reference=ref,
            attachment_id="forged",
            name="伪造.jpg",
            content_type="image/jpeg",
            size=1,
            sha256="0" * 64,
            source="agent",
            added_by="A001",
        ),
        # believed, it would say an issue is answered by an article nobody approved
        ArticleApproved: lambda: ArticleApproved(
            article_id=999999,
            version=1,
            category="billing",
            question="伪造的知识库条目",
            keywords=["账单"],
            changed_at=now,
        ),
        ArticleWithdrawn: lambda: ArticleWithdrawn(
            article_id=999999, step="retire", changed_at=now
        ),
        LifecycleChanged: lambda: LifecycleChanged(
            complaint_id=cid,
            reference=ref,
            action="close",
            from_state="replied",
            to_state="closed",
            history_seq=99,
            closure_reason="satisfied",
            category="billing",
            recipients=[
                Recipient(audience="customer", phone=CUSTOMER),
                Recipient(audience="duty_manager", phone=DM01, staff_id="DM01"),
            ],
        ),
        DutyHandedOver: lambda: DutyHandedOver(
            to_staff_id="DM02",
            recipients=[Recipient(audience="duty_manager", phone=PHONES["DM02"])],
            at=now,
            complaints=[HandedOverItem(complaint_id=cid, reference=ref, state="replied")],
        ),
        SmsInbound: lambda: SmsInbound(
            message_id=str(uuid.uuid4()),
            phone=CUSTOMER,
            text="1",
            received_at=now,
            complaint_id=cid,
            intent="satisfied",
        ),
        SmsEvent: lambda: SmsEvent(message_id=str(uuid.uuid4()), phone=CUSTOMER, at=now),
        RootCauseRevised: lambda: RootCauseRevised(
            complaint_id=cid,
            reference=ref,
            root_cause="management",
            revised_by="Q01",
            revised_at=now,
        ),
        # believed, it would text the duty manager the lifecycle named
        HotIssueDetected: lambda: HotIssueDetected(
            key="forged",
            label="伪造小区：停电",
            lang="zh",
            callers=99,
            complaints=99,
            threshold=5,
            first_at=now,
            last_at=now,
            detected_at=now,
            department_ids=["billing"],
            references=[ref],
        ),
    }
    payload = payloads[payload_type]()
    key = getattr(payload, "complaint_id", None)
    return envelope(name, payload, source=source, complaint_id=key)


def owner_of(name: str) -> str:
    return TOPIC_OWNERS[registry.get(name).topic]


def consumed() -> list[str]:
    """Every event type some service's worker acts on."""
    return sorted({name for s, spec in WORKERS.items() for name in spec.handlers(None, SETTINGS)})


def elsewhere(name: str) -> str:
    """A topic the type does not belong on, that some service reads."""
    home = registry.get(name).topic
    return next(t for t in (COMPLAINTS_LIFECYCLE, INTAKE_EVENTS, SMS_EVENTS) if t != home)


def handlers_of(name: str) -> set[str]:
    home = registry.get(name).topic
    return {s for s in readers_of(home) if name in WORKERS[s].handlers(None, SETTINGS)}


# -- the stories of the three forgeries that worked before -------------------------------


def test_a_customers_satisfied_sms_forged_by_hand_closes_nothing(system: System) -> None:
    cid = system.complaint["id"]
    by_escalation = forged("sms.inbound", system.complaint, source="escalation")
    system.forge(by_escalation, on=SMS_EVENTS)
    refused = system.refused_by(by_escalation, {"intake", "escalation"})
    for headers in refused.values():
        assert headers["dlq.error_class"] == "ownership"
        assert headers["dlq.reason"] == (
            "'sms.inbound' on sms.events says it comes from 'escalation'; "
            "only notify writes sms.events"
        )
    on_the_lifecycle = forged("sms.inbound", system.complaint, source="notify")
    system.forge(on_the_lifecycle, on=COMPLAINTS_LIFECYCLE)
    refused = system.refused_by(on_the_lifecycle, readers_of(COMPLAINTS_LIFECYCLE))
    assert refused["intake"]["dlq.reason"] == (
        "'sms.inbound' on complaints.lifecycle, which only escalation writes: "
        "it is notify's event and belongs on sms.events"
    )
    assert refused["intake"]["dlq.original_topic"] == system.topics[COMPLAINTS_LIFECYCLE]
    assert system.state(cid) == "replied"
    assert system.intake_status(cid) == "replied"
    assert system.rows("intake", "SELECT * FROM feedback") == []
    unchanged(system)


def test_a_closure_forged_by_hand_closes_the_complaint_nowhere(system: System) -> None:
    cid = system.complaint["id"]
    on_intakes_topic = forged("complaint.closed", system.complaint, source="escalation")
    system.forge(on_intakes_topic, on=INTAKE_EVENTS)
    refused = system.refused_by(on_intakes_topic, readers_of(INTAKE_EVENTS))
    assert set(refused) == {"escalation", "notify", "analytics"}
    assert refused["notify"]["dlq.reason"] == (
        "'complaint.closed' on intake.events, which only intake writes: "
        "it is escalation's event and belongs on complaints.lifecycle"
    )
    by_intake = forged("complaint.closed", system.complaint, source="intake")
    system.forge(by_intake, on=COMPLAINTS_LIFECYCLE)
    refused = system.refused_by(by_intake, readers_of(COMPLAINTS_LIFECYCLE))
    assert set(refused) == {"intake", "notify", "analytics"}
    assert all(h["dlq.error_class"] == "ownership" for h in refused.values())
    assert system.state(cid) == "replied"
    assert system.intake_status(cid) == "replied"
    assert system.rows("analytics", "SELECT state, closed_at FROM complaint_facts") == [
        ("replied", None)
    ]
    assert system.rows("notify", "SELECT id FROM messages WHERE template = 'customer_closed'") == []
    unchanged(system)


def test_a_complaint_made_up_on_the_lifecycle_topic_exists_nowhere(system: System) -> None:
    made_up = forged("complaint.received", system.complaint, source="intake")
    invented = made_up.payload["complaint_id"]
    system.forge(made_up, on=COMPLAINTS_LIFECYCLE)
    refused = system.refused_by(made_up, readers_of(COMPLAINTS_LIFECYCLE))
    assert refused["notify"]["dlq.reason"] == (
        "'complaint.received' on complaints.lifecycle, which only escalation writes: "
        "it is intake's event and belongs on intake.events"
    )
    assert system.state(invented) is None
    assert system.rows("notify", "SELECT id FROM messages WHERE phone = :p", p=INVENTED) == []
    assert (
        system.rows(
            "analytics", "SELECT 1 FROM complaint_facts WHERE complaint_id = :c", c=invented
        )
        == []
    )
    unchanged(system)


# -- every type a service acts on, forged both ways ---------------------------------------


@pytest.mark.parametrize("name", consumed())
def test_an_event_on_a_topic_its_owner_does_not_write_is_dead_lettered_and_changes_nothing(
    system: System, name: str
) -> None:
    """Right author, wrong topic: every service reading that topic refuses it."""
    on = elsewhere(name)
    event = forged(name, system.complaint, source=owner_of(name))
    system.forge(event, on=on)
    refused = system.refused_by(event, readers_of(on))
    for headers in refused.values():
        assert headers["dlq.error_class"] == "ownership"
        reason = headers["dlq.reason"]
        assert f"'{name}' on {on}, which only {TOPIC_OWNERS[on]} writes" in reason
        assert f"it is {owner_of(name)}'s event and belongs on {registry.get(name).topic}" in (
            reason
        )
    unchanged(system)


@pytest.mark.parametrize("name", consumed())
def test_an_event_on_its_own_topic_from_another_service_is_dead_lettered_and_changes_nothing(
    system: System, name: str
) -> None:
    """Right topic, wrong author: every service acting on the type refuses it (the others
    pass over a type they have no business with, unread)."""
    home = registry.get(name).topic
    impostor = TOPIC_OWNERS[elsewhere(name)]
    event = forged(name, system.complaint, source=impostor)
    system.forge(event, on=home)
    refused = system.refused_by(event, handlers_of(name))
    for headers in refused.values():
        assert headers["dlq.error_class"] == "ownership"
        assert headers["dlq.reason"] == (
            f"'{name}' on {home} says it comes from '{impostor}'; "
            f"only {TOPIC_OWNERS[home]} writes {home}"
        )
    unchanged(system)


@pytest.mark.parametrize("name", consumed())
def test_an_event_of_a_client_the_centre_does_not_serve_is_dead_lettered_and_changes_nothing(
    system: System, name: str
) -> None:
    """Right topic, right author, a client nobody configured: every service acting on
    the type refuses it before any handler runs."""
    home = registry.get(name).topic
    event = forged(name, system.complaint, source=owner_of(name))
    event = event.model_copy(update={"tenant": "power"})
    system.forge(event, on=home)
    refused = system.refused_by(event, handlers_of(name))
    for headers in refused.values():
        assert headers["dlq.error_class"] == "tenant"
        assert "names client 'power', which this centre does not serve" in headers["dlq.reason"]
    unchanged(system)


def test_the_same_events_from_their_owners_do_change_things(system: System) -> None:
    """The control: what the forgeries lacked is all that stood in their way. (Last in
    the module: it closes the complaint.)"""
    cid = system.complaint["id"]
    genuine = forged("sms.inbound", system.complaint, source="notify")
    system.forge(genuine, on=SMS_EVENTS)
    wait_until(lambda: system.state(cid) == "closed", timeout=60, what="closed by the '1'")
    wait_until(lambda: system.intake_status(cid) == "closed", timeout=60, what="intake's copy")
    assert system.dead.of(genuine) == {}
