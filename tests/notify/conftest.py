"""A notify service on the test PostgreSQL, the events it hears, and — for the tests that
need them — its API and the development SMS gateway as real HTTP servers."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select

from services.notify.config import NotifyConfig
from services.notify.db import inbox, outbox
from services.notify.gateway import create_app as create_gateway
from services.notify.handlers import make_context, make_handlers
from services.notify.main import create_app
from services.notify.messages.context import Context
from services.notify.messages.service import messages
from services.notify.providers import provider_for
from services.notify.sender import Sender
from shared.contracts import (
    COMPLAINT_RECEIVED,
    DUTY_HANDED_OVER,
    HOT_ISSUE_DETECTED,
    ComplaintReceived,
    DutyHandedOver,
    HandedOverItem,
    HotIssueDetected,
    LifecycleChanged,
    Recipient,
)
from shared.events import SYSTEM, Actor, Envelope, Event, registry
from shared.inbox import claim
from tests.conftest import ServiceEnv
from tests.support.infra import wait_until
from tests.support.topics import Remap, topics_ready  # noqa: F401 - kept importable from here

CUSTOMER = "+8613800138000"
FOREIGN_CUSTOMER = "+447700900123"
DM01 = "+8613900139001"
DM02 = "+8613900139002"
SUPERVISOR = "+8613900139003"
BILLING_DESK = "+8613700137001"
BILLING_HEAD = "+8613900139009"
CLERK = "+8613900139007"

ESCALATION = Actor(id="system", role="system")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: FastAPI, port: int) -> Iterator[str]:
    """Run an ASGI app on a real port in a thread, as uvicorn runs it in production."""
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, timeout=20, what=f"a server on port {port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def notify_config(**overrides: Any) -> NotifyConfig:
    """Settings for a test: no quiet hours (the suite runs at any hour), quick retries."""
    values: dict[str, Any] = {
        "quiet_hours_start": None,
        "quiet_hours_end": None,
        "retry_base_seconds": 0.05,
        "retry_max_seconds": 0.2,
        "max_attempts": 4,
        "gateway_delivery_delay": 0.05,
        "public_url": "",
    }
    values.update(overrides)
    return NotifyConfig(**values)


# -- events as the other services publish them ------------------------------------------


def received_event(**fields: Any) -> Envelope:
    complaint_id = fields.pop("complaint_id", None) or str(uuid.uuid4())
    number = uuid.uuid4().int % 1_000_000
    payload = {
        "complaint_id": complaint_id,
        "reference": f"TS20261122-{number:06d}",
        "customer_phone": CUSTOMER,
        "customer_name": "王女士",
        "channel": "phone",
        "category": "billing",
        "severity": "normal",
        "nature": "genuine",
        "strong_emotion": False,
        "description": "上月话费账单多扣了 30 元，客服一直没有回复。",
        "registered_at": datetime.now(UTC),
        "registered_by": "A001",
    }
    payload.update(fields)
    return registry.new(
        COMPLAINT_RECEIVED.name,
        ComplaintReceived.model_validate(payload),
        source="intake",
        tenant="default",
        actor=Actor(id="A001", role="agent"),
        complaint_id=complaint_id,
    )


def recipient(audience: str, phone: str, staff_id: str | None = None) -> Recipient:
    return Recipient(audience=audience, phone=phone, staff_id=staff_id)  # type: ignore[arg-type]


# The action escalation publishes each event for (the closing ones: closed by feedback).
ACTION_OF = {
    "complaint.assigned": "assign",
    "complaint.handed_over": "hand-over",
    "complaint.acknowledged": "acknowledge",
    "complaint.dispatched": "dispatch",
    "complaint.accepted": "accept",
    "complaint.returned": "return",
    "complaint.extension_requested": "request-extension",
    "complaint.extension_decided": "decide-extension",
    "complaint.replied": "reply",
    "complaint.urged": "urge",
    "complaint.escalated": "escalate",
    "complaint.reopened": "reopen",
    "complaint.closed": "feedback",
}


def lifecycle_event(
    event_type: str, received: Envelope, recipients: list[Recipient], **fields: Any
) -> Envelope:
    """A lifecycle event of the complaint `received` registered, told to `recipients`."""
    p = received.payload
    payload: dict[str, Any] = {
        "complaint_id": p["complaint_id"],
        "reference": p["reference"],
        "action": ACTION_OF.get(event_type, "urge"),
        "from_state": "with_duty_manager",
        "to_state": "with_duty_manager",
        "history_seq": 2,
        "category": p["category"],
        "severity": p["severity"],
        "strong_emotion": p["strong_emotion"],
        "nature": p["nature"],
        "recipients": recipients,
        "summary": f"{p['reference']} [{p['category']}/{p['severity']}] {event_type}",
    }
    payload.update(fields)
    return registry.new(
        event_type,
        LifecycleChanged.model_validate(payload),
        source="escalation",
        tenant="default",
        actor=ESCALATION,
        complaint_id=p["complaint_id"],
    )


def handed_over_event(to: Recipient, references: list[tuple[str, str]]) -> Envelope:
    now = datetime.now(UTC)
    payload = DutyHandedOver(
        to_staff_id=to.staff_id or "DM02",
        from_staff_id="DM01",
        recipients=[to],
        at=now,
        complaints=[
            HandedOverItem(
                complaint_id=str(uuid.uuid4()),
                reference=ref,
                state="with_duty_manager",
                severity=severity,  # type: ignore[arg-type]
            )
            for ref, severity in references
        ],
        summary=f"On duty: {len(references)} open complaints handed over from DM01",
    )
    return registry.new(
        DUTY_HANDED_OVER.name,
        payload,
        source="escalation",
        tenant="default",
        actor=ESCALATION,
        complaint_id=None,
    )


def hot_issue_event(department_ids: list[str], **fields: Any) -> Envelope:
    """Analytics found twelve callers about the water at one estate within a day; the
    first called at 08:10 the centre's time."""
    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        "key": f"阳光花园小区|停水|{uuid.uuid4().hex[:6]}",
        "label": "阳光花园小区：停水",
        "lang": "zh",
        "place": "阳光花园小区",
        "words": ["停水"],
        "callers": 12,
        "complaints": 15,
        "threshold": 10,
        "first_at": datetime(2026, 12, 5, 0, 10, tzinfo=UTC),
        "last_at": now,
        "detected_at": now,
        "department_ids": department_ids,
        "references": ["TS20261205-000101", "TS20261205-000117", "TS20261205-000123"],
    }
    payload.update(fields)
    return registry.new(
        HOT_ISSUE_DETECTED.name,
        HotIssueDetected.model_validate(payload),
        source="analytics",
        tenant="default",
        actor=SYSTEM,
        complaint_id=None,
    )


# -- the service -------------------------------------------------------------------------


@dataclass
class Notify:
    env: ServiceEnv
    config: NotifyConfig
    ctx: Context
    handled: list[str] = field(default_factory=list)

    def deliver(self, envelope: Envelope) -> bool:
        """Run the handler as the consumer does; False if the event was handled before."""
        event: Event[Any] = registry.decode(json.dumps(envelope.model_dump(mode="json")).encode())
        handler = make_handlers(self.ctx)[event.type]
        with self.env.db.transaction() as session:
            if not claim(session, inbox, consumer="notify", envelope=event.envelope):
                return False
            handler(session, event)
            return True

    def messages(self, **where: Any) -> list[Any]:
        with self.env.db.read() as session:
            query = select(messages).order_by(messages.c.created_at, messages.c.id)
            for name, value in where.items():
                query = query.where(messages.c[name] == value)
            return list(session.execute(query))

    def events(self, topic: str | None = None) -> list[Envelope]:
        """The outbox, decoded, oldest first (dead-letter records included)."""
        with self.env.db.read() as session:
            query = select(outbox).order_by(outbox.c.id)
            if topic is not None:
                query = query.where(outbox.c.topic == topic)
            rows = list(session.execute(query))
        return [registry.decode(row.value.encode()).envelope for row in rows]

    def sender(self, **kwargs: Any) -> Sender:
        return Sender(self.env.db, self.ctx, provider_for(self.config), **kwargs)


@pytest.fixture
def make_notify(service_env: Callable[[str], ServiceEnv]) -> Callable[..., Notify]:
    def make(**config: Any) -> Notify:
        env = service_env("notify")
        cfg = notify_config(**config)
        return Notify(env=env, config=cfg, ctx=make_context(cfg, env.settings))

    return make


@pytest.fixture
def notify(make_notify: Callable[..., Notify]) -> Notify:
    return make_notify()


# -- notify's API and the development gateway, on real ports -----------------------------


@dataclass
class Phones:
    """The development gateway as a test drives it: what each phone received, replies."""

    url: str
    http: httpx.Client

    def received(self, phone: str) -> list[dict[str, Any]]:
        answer = self.http.get(f"{self.url}/api/messages", params={"to": phone})
        answer.raise_for_status()
        return answer.json()["messages"]  # type: ignore[no-any-return]

    def all(self) -> list[dict[str, Any]]:
        return self.http.get(f"{self.url}/api/messages").json()["messages"]  # type: ignore[no-any-return]

    def reply(self, phone: str, text: str) -> dict[str, Any]:
        answer = self.http.post(f"{self.url}/api/reply", json={"from": phone, "text": text})
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def fail_next(self, count: int, status: int = 503) -> None:
        answer = self.http.post(
            f"{self.url}/api/faults", json={"fail_next": count, "status": status}
        )
        answer.raise_for_status()

    def sends(self) -> int:
        return int(self.http.get(f"{self.url}/api/faults").json()["sends"])


@dataclass
class Live:
    notify: Notify
    phones: Phones
    api_url: str
    gateway_port: int
    stack: ExitStack

    def start_gateway(self) -> None:
        """The development gateway comes up (again) on its port."""
        self.stack.enter_context(serving(create_gateway(self.notify.config), self.gateway_port))


@pytest.fixture
def live(make_notify: Callable[..., Notify]) -> Iterator[Callable[..., Live]]:
    """Notify's API and the gateway serving on real ports, each knowing the other."""
    stack = ExitStack()

    def make(*, gateway: bool = True, **config: Any) -> Live:
        api_port, gateway_port = free_port(), free_port()
        api_url = f"http://127.0.0.1:{api_port}"
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        settings: dict[str, Any] = {
            "twilio_base_url": gateway_url,
            "gateway_notify_url": api_url,
            "public_url": api_url,
            "provider": "dev",
        }
        service = make_notify(**{**settings, **config})
        stack.enter_context(serving(create_app(service.env.settings, service.config), api_port))
        http = stack.enter_context(httpx.Client(timeout=10))
        made = Live(service, Phones(gateway_url, http), api_url, gateway_port, stack)
        if gateway:
            made.start_gateway()
        return made

    with stack:
        yield make


@contextmanager
def running(target: Callable[[threading.Event], None], name: str) -> Iterator[threading.Event]:
    """Run a worker loop (a sender, a relay, a consumer) in a thread for a block."""
    stop = threading.Event()
    thread = threading.Thread(target=target, args=(stop,), name=name, daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=30)


def publish(producer: Any, topic: str, *events: Envelope) -> None:
    """Publish events as a service's relay does: keyed by complaint, with headers."""
    from shared.events import encode, kafka_headers

    for envelope in events:
        producer.send(
            topic,
            key=envelope.key.encode(),
            value=encode(envelope),
            headers=kafka_headers(envelope),
        )
    producer.flush(timeout=30)
