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

import importlib
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition
from pydantic import BaseModel
from sqlalchemy import create_engine, inspect, text

from services.escalation.main import create_app as create_escalation
from services.intake.main import create_app as create_intake
from shared.consumer import EventConsumer
from shared.contracts import (
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
from shared.events import Actor, Envelope, encode, kafka_headers, registry
from shared.kafka import create_producer
from shared.outbox import OutboxRelay
from shared.settings import SERVICES, Settings
from shared.topics import (
    COMPLAINTS_LIFECYCLE,
    INTAKE_EVENTS,
    SMS_EVENTS,
    TOPIC_OWNERS,
    TopicSpec,
    dlq,
    ensure_topics,
)
from tests.conftest import ServiceEnv
from tests.escalation.conftest import PHONES, seed_directory
from tests.robustness.conftest import make_env
from tests.support.infra import wait_until
from tests.support.topics import Topics, topics_ready

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

CUSTOMER = "+8613800138000"
INVENTED = "+8613912345678"  # a number nobody registered
DM01 = PHONES["DM01"]
WORKERS = {s: importlib.import_module(f"services.{s}.worker").SPEC for s in SERVICES}
SETTINGS = Settings()


# -- the system ---------------------------------------------------------------------------


@dataclass
class DeadLetters:
    """Everything the consumers put on the dead-letter topics, read as it comes."""

    reader: Any
    records: list[Any] = field(default_factory=list)

    def of(self, event: Envelope) -> dict[str, dict[str, str]]:
        """The dead-letter records of this event, by the consumer that refused it."""
        for batch in self.reader.poll(timeout_ms=200).values():
            self.records.extend(batch)
        wanted = str(event.event_id).encode()
        return {
            headers["dlq.consumer"]: headers
            for record in self.records
            if wanted in record.value
            for headers in [
                {k: bytes(v).decode("utf-8", "replace") for k, v in record.headers or ()}
            ]
        }


@dataclass
class System:
    topics: Topics
    envs: dict[str, ServiceEnv]
    intake: TestClient
    escalation: TestClient
    consumers: dict[str, EventConsumer]
    producer: Any
    dead: DeadLetters
    agent: dict[str, str]
    manager: dict[str, str]
    complaint: dict[str, Any] = field(default_factory=dict)

    def name_of(self, service: str) -> str:
        return self.consumers[service].name

    def state(self, cid: str) -> str | None:
        answer = self.escalation.get(f"/complaints/{cid}", headers=self.manager)
        return answer.json()["state"] if answer.status_code == 200 else None

    def intake_status(self, cid: str) -> str:
        answer = self.intake.get(f"/complaints/{cid}", headers=self.agent)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["status"])

    def rows(self, service: str, query: str, **params: Any) -> list[Any]:
        with self.envs[service].db.read() as session:
            return list(session.execute(text(query), params))

    def snapshot(self) -> dict[str, dict[str, list[str]]]:
        """Every row of every service's tables but the outbox (whose rows the relays mark
        sent), the access log (which records this test's own reads) and the migrations'
        bookkeeping: what a forgery must not change."""
        found: dict[str, dict[str, list[str]]] = {}
        for service, env in self.envs.items():
            schema = env.settings.schema_for(service)
            with env.db.engine.connect() as conn:
                names = inspect(conn).get_table_names(schema=schema)
                found[service] = {
                    name: sorted(
                        repr(tuple(row))
                        for row in conn.execute(text(f'SELECT * FROM "{schema}"."{name}"'))  # noqa: S608 - test tables
                    )
                    for name in names
                    if name not in ("outbox", "access_log") and not name.startswith("alembic")
                }
        return found

    def forge(self, event: Envelope, on: str) -> None:
        """Publish an event by hand onto (this module's copy of) platform topic `on`."""
        self.producer.send(
            self.topics[on],
            key=event.key.encode(),
            value=encode(event),
            headers=kafka_headers(event),
        )
        self.producer.flush(timeout=30)

    def refused_by(self, event: Envelope, services: set[str]) -> dict[str, dict[str, str]]:
        """Wait until each of these services' consumers has dead-lettered the event."""
        names = {self.name_of(s): s for s in services}
        found = wait_until(
            lambda: (got := self.dead.of(event)).keys() >= names.keys() and got,
            timeout=60,
            what=f"{event.type} dead-lettered by {', '.join(sorted(services))}",
        )
        assert found.keys() == names.keys(), f"dead-lettered by {found.keys()}, not {names}"
        return {names[n]: headers for n, headers in found.items()}


def readers_of(topic: str) -> set[str]:
    return {s for s, spec in WORKERS.items() if topic in spec.topics}


@pytest.fixture(scope="module")
def system(pg_url: str, kafka_bootstrap: str) -> Iterator[System]:
    schemas: list[str] = []
    names = {}
    for platform in TOPIC_OWNERS:
        names[platform] = f"test.{uuid.uuid4().hex[:10]}"
        ensure_topics(
            kafka_bootstrap,
            [TopicSpec(names[platform], 3), TopicSpec(dlq(names[platform]), 1)],
        )
    topics = Topics(names)
    topics_ready(kafka_bootstrap, *names.values(), *(dlq(n) for n in names.values()))
    envs = {s: make_env(s, pg_url, kafka_bootstrap, schemas) for s in SERVICES}
    settings = envs["intake"].settings
    producer = create_producer(settings, "forged-events")
    reader = KafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=None, enable_auto_commit=False
    )
    parts = [TopicPartition(dlq(n), 0) for n in names.values()]
    reader.assign(parts)
    reader.seek_to_beginning(*parts)
    stops: list[threading.Event] = []
    threads: list[threading.Thread] = []

    def start(loop: Callable[[threading.Event], None], name: str) -> None:
        stop = threading.Event()
        thread = threading.Thread(target=loop, args=(stop,), name=name, daemon=True)
        thread.start()
        stops.append(stop)
        threads.append(thread)

    consumers: dict[str, EventConsumer] = {}
    with ExitStack() as stack:
        intake = stack.enter_context(TestClient(create_intake(envs["intake"].settings)))
        escalation = stack.enter_context(TestClient(create_escalation(envs["escalation"].settings)))
        seed_directory(escalation, envs["escalation"].token("admin", "AD01"))
        for service, spec in WORKERS.items():
            env = envs[service]
            relay = OutboxRelay(env.db, spec.outbox, topics.remap(producer), lanes=4)
            start(relay.run, f"{service}-relay")
            consumers[service] = EventConsumer(
                name=f"{service}-{uuid.uuid4().hex[:6]}",
                topics=topics.of(*spec.topics),
                stand_for=topics.stand_for,
                db=env.db,
                inbox=spec.inbox,
                handlers=spec.handlers(env.db, env.settings),
                settings=env.settings,
                producer=producer,
                poll_timeout_ms=50,
            )
            start(consumers[service].run, f"{service}-consumer")
        system = System(
            topics=topics,
            envs=envs,
            intake=intake,
            escalation=escalation,
            consumers=consumers,
            producer=producer,
            dead=DeadLetters(reader),
            agent=envs["intake"].token("agent", "A001"),
            manager=envs["escalation"].token("duty_manager", "DM01"),
        )
        try:
            system.complaint = _replied(system)
            yield system
        finally:
            for stop in stops:
                stop.set()
            for thread in threads:
                thread.join(timeout=30)
            reader.close()
            producer.close(timeout=10)
            for env in envs.values():
                env.db.dispose()
                env.auth_db.dispose()
            engine = create_engine(pg_url)
            with engine.begin() as conn:
                for schema in schemas:
                    conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            engine.dispose()


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
    settled = wait_until(_settled(system), timeout=60, what="the system at rest")
    complaint["snapshot"] = settled
    return complaint


def _settled(system: System) -> Callable[[], Any]:
    last: list[Any] = []

    def check() -> Any:
        unsent = sum(
            system.rows(s, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")[0][0]
            for s in SERVICES
        )
        now = system.snapshot()
        stable = unsent == 0 and last and last[-1] == now
        last.append(now)
        threading.Event().wait(0.3)
        return now if stable else None

    return check


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


def test_the_same_events_from_their_owners_do_change_things(system: System) -> None:
    """The control: what the forgeries lacked is all that stood in their way. (Last in
    the module: it closes the complaint.)"""
    cid = system.complaint["id"]
    genuine = forged("sms.inbound", system.complaint, source="notify")
    system.forge(genuine, on=SMS_EVENTS)
    wait_until(lambda: system.state(cid) == "closed", timeout=60, what="closed by the '1'")
    wait_until(lambda: system.intake_status(cid) == "closed", timeout=60, what="intake's copy")
    assert system.dead.of(genuine) == {}
