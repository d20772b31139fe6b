"""An escalation service on the test PostgreSQL: a small call centre's directory, tokens
for each person in it, and intake's events delivered the way the consumer delivers them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.escalation.complaints import flows, service
from services.escalation.config import EscalationConfig
from services.escalation.db import inbox, outbox
from services.escalation.handlers import make_handlers
from services.escalation.main import create_app
from shared.contracts import (
    COMPLAINT_RECEIVED,
    FEEDBACK_RECEIVED,
    ComplaintReceived,
    FeedbackReceived,
)
from shared.events import Actor as EventActor
from shared.events import Envelope, Event, registry
from shared.inbox import claim
from shared.outbox import Outbox
from tests.conftest import ServiceEnv

CUSTOMER_PHONE = "+8613800138000"

DEPARTMENTS = [
    {"id": "billing", "name": "账务部 Billing", "contact_phones": ["13700137001"]},
    {"id": "network", "name": "网络部 Network", "contact_phones": ["13700137002"]},
]
# Who works in the centre: (id, name, phone, role, department).
PEOPLE = [
    ("DM01", "王经理", "13900139001", "duty_manager", None),
    ("DM02", "李经理", "13900139002", "duty_manager", None),
    ("SV01", "赵主管", "13900139003", "supervisor", None),
    ("B07", "陈会计", "13900139007", "department", "billing"),
    ("B08", "周会计", "13900139008", "department", "billing"),
    ("BH1", "钱部长", "13900139009", "department", "billing"),
    ("N03", "孙工程师", "13900139013", "department", "network"),
    ("A001", "小刘", "13900139021", "agent", None),
    ("Q01", "吴质检", "13900139031", "qa", None),
]
PHONES = {person[0]: "+86" + person[2] for person in PEOPLE}


@dataclass
class Centre:
    """The escalation API and what a test needs around it."""

    client: TestClient
    env: ServiceEnv
    config: EscalationConfig
    admin: dict[str, str]
    tokens: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def outbox(self) -> Outbox:
        return Outbox(outbox, lanes=self.env.settings.outbox_lanes)

    def as_(self, staff_id: str) -> dict[str, str]:
        """The bearer token of someone in the directory."""
        if staff_id not in self.tokens:
            person = next(p for p in PEOPLE if p[0] == staff_id)
            self.tokens[staff_id] = self.env.token(person[3], staff_id, person[4])
        return self.tokens[staff_id]

    # -- intake's events, as the consumer hands them over ---------------------------------

    def deliver(self, envelope: Envelope) -> bool:
        """Run the handler in an inbox transaction; False if the event was handled before."""
        event: Event[Any] = registry.decode(json.dumps(envelope.model_dump(mode="json")).encode())
        handler = make_handlers(self.config, self.outbox)[event.type]
        with self.env.db.transaction() as session:
            if not claim(session, inbox, consumer="escalation", envelope=event.envelope):
                return False
            handler(session, event)
            return True

    def register(self, **fields: Any) -> Envelope:
        """Intake registers a complaint; returns its `complaint.received` event (undelivered)."""
        return received_event(**fields)

    def receive(self, **fields: Any) -> str:
        """A complaint registered at intake reaches escalation; returns its id."""
        envelope = received_event(**fields)
        assert self.deliver(envelope)
        return str(envelope.complaint_id)

    def arrive(self, at: datetime, **fields: Any) -> str:
        """A complaint that reached escalation at `at` (its SLA clock started then), as
        the consumer would have handled it at that moment; returns its id."""
        envelope = received_event(**fields)
        with self.env.db.transaction() as session:
            flows.receive(
                session,
                self.outbox,
                ComplaintReceived.model_validate(envelope.payload),
                now=at,
                config=self.config,
                tenant=envelope.tenant,
            )
        return str(envelope.complaint_id)

    def feedback(self, complaint_id: str, result: str, comment: str | None = None) -> bool:
        reference = self.row(complaint_id).reference
        return self.deliver(
            registry.new(
                FEEDBACK_RECEIVED.name,
                FeedbackReceived(
                    complaint_id=complaint_id,
                    reference=reference,
                    result=result,  # type: ignore[arg-type]
                    comment=comment,
                    recorded_by="A001",
                ),
                source="intake",
                tenant="default",
                actor=EventActor(id="A001", role="agent"),
                complaint_id=complaint_id,
            )
        )

    # -- the API ----------------------------------------------------------------------

    def act(self, complaint_id: str, action: str, who: str, **body: Any) -> Any:
        return self.client.post(
            f"/complaints/{complaint_id}/actions/{action}", json=body, headers=self.as_(who)
        )

    def get(self, complaint_id: str, who: str = "DM01") -> Any:
        return self.client.get(f"/complaints/{complaint_id}", headers=self.as_(who))

    def verify(self, complaint_id: str, who: str = "DM01") -> dict[str, Any]:
        answer = self.client.get(
            f"/complaints/{complaint_id}/history/verify", headers=self.as_(who)
        )
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    def history(self, complaint_id: str, who: str = "DM01") -> list[dict[str, Any]]:
        answer = self.client.get(f"/complaints/{complaint_id}/history", headers=self.as_(who))
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    # -- the database -----------------------------------------------------------------

    def row(self, complaint_id: str) -> Any:
        with self.env.db.read() as session:
            return service.get_complaint(session, complaint_id)

    def events(self, complaint_id: str | None = None) -> list[Envelope]:
        """The outbox, decoded, oldest first."""
        with self.env.db.read() as session:
            query = select(outbox).order_by(outbox.c.id)
            if complaint_id is not None:
                query = query.where(outbox.c.key == complaint_id)
            rows = list(session.execute(query))
        return [registry.decode(row.value.encode()).envelope for row in rows]

    def last_event(self, complaint_id: str) -> Envelope:
        return self.events(complaint_id)[-1]


def received_event(**fields: Any) -> Envelope:
    """Intake's `complaint.received`; `tenant` names the client it was registered for."""
    complaint_id = fields.pop("complaint_id", None) or str(uuid.uuid4())
    tenant = fields.pop("tenant", "default")
    number = uuid.uuid4().int % 1_000_000
    payload = {
        "complaint_id": complaint_id,
        "reference": f"TS20261122-{number:06d}",
        "customer_phone": CUSTOMER_PHONE,
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
        tenant=tenant,
        actor=EventActor(id="A001", role="agent"),
        complaint_id=complaint_id,
    )


def seed_directory(client: TestClient, admin: dict[str, str]) -> None:
    for department in DEPARTMENTS:
        answer = client.post("/departments", json=department, headers=admin)
        assert answer.status_code == 201, answer.text
    for staff_id, name, phone, role, department in PEOPLE:
        body = {"id": staff_id, "name": name, "phone": phone, "role": role}
        answer = client.post("/staff", json=body | {"department_id": department}, headers=admin)
        assert answer.status_code == 201, answer.text
    billing = {**DEPARTMENTS[0], "head_staff_id": "BH1"}
    del billing["id"]
    answer = client.put("/departments/billing", json=billing, headers=admin)
    assert answer.status_code == 200, answer.text
    # 王经理 (DM01) is on duty this week, with 李经理 (DM02) as backup.
    now = datetime.now(UTC)
    shift = {
        "staff_id": "DM01",
        "backup_staff_id": "DM02",
        "starts_at": (now - timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=6)).isoformat(),
    }
    answer = client.post("/roster/shifts", json=shift, headers=admin)
    assert answer.status_code == 201, answer.text


@pytest.fixture
def make_centre(service_env: Callable[[str], ServiceEnv]) -> Iterator[Callable[..., Centre]]:
    """A centre with its directory seeded; keyword arguments configure the service."""
    clients: list[TestClient] = []

    def make(*, seed: bool = True, **config: Any) -> Centre:
        env = service_env("escalation")
        settings = EscalationConfig(**config)
        client = TestClient(create_app(env.settings, config=settings))
        client.__enter__()
        clients.append(client)
        admin = env.token("admin", "AD01")
        if seed:
            seed_directory(client, admin)
        return Centre(client=client, env=env, config=settings, admin=admin)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def centre(make_centre: Callable[..., Centre]) -> Centre:
    return make_centre()
