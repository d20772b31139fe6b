"""Each service's API on the test PostgreSQL with a little data in it and a token for every
role, shared by the tests of one module (building and seeding a service takes a second).

The people: one of each role, a billing clerk (B07) whose department holds the seeded
complaints, and a network clerk (N03) — the user of another department.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from shared.db import database_for
from shared.migrations import upgrade
from shared.settings import AUTH_STORE, Settings
from tests.conftest import ServiceEnv

ROLES = ("agent", "duty_manager", "supervisor", "department", "qa", "admin", "viewer")
# Who holds each role's token; the department user works in billing.
PEOPLE: dict[str, tuple[str, str | None]] = {
    "agent": ("A001", None),
    "duty_manager": ("DM01", None),
    "supervisor": ("SV01", None),
    "department": ("B07", "billing"),
    "qa": ("Q01", None),
    "admin": ("AD01", None),
    "viewer": ("CLIENT1", None),
}
OTHER_DEPARTMENT = "other_department"  # N03, a network clerk
CALLERS = (*ROLES, OTHER_DEPARTMENT)

CUSTOMER_PHONE = "+8613800138000"
MASKED_PHONE = "+86138****8000"
SERVICES = ("intake", "escalation", "notify", "analytics")


@dataclass
class Running:
    """A service's app with data in its database, and what a test needs to call it."""

    name: str
    app: FastAPI
    env: ServiceEnv
    tokens: dict[str, dict[str, str]]
    # Ids of the seeded resources, for path parameters (see each seed_* function).
    ids: dict[str, str] = field(default_factory=dict)
    client: TestClient | None = None

    def rows(self, table: str) -> int:
        with self.env.db.read() as session:
            query = text(f"SELECT count(*) FROM {table}")  # noqa: S608 - test tables only
            return int(session.execute(query).scalar_one())


def make_env(
    service: str, pg_url: str, kafka: str, schemas: list[str], data_dir: Path
) -> ServiceEnv:
    """Migrate a service and the auth store under a fresh schema prefix."""
    prefix = f"r{uuid.uuid4().hex[:8]}_"
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        environment="test",
        database_url=pg_url,
        schema_prefix=prefix,
        # Attachments as files (no object store configured), in a folder of the run's own.
        data_dir=data_dir,
        kafka_bootstrap_servers=kafka,
        kafka_request_timeout_ms=5000,
        access_log=False,
        log_format="text",
        # Every endpoint is tried by every caller, a made-up token among them, from one
        # test client: far past what the abuse limits let one address do (their own
        # tests are in tests/intake/test_abuse_limits.py).
        rate_limit_token_writes_per_minute=0,
        rate_limit_address_writes_per_minute=0,
        rate_limit_auth_failures_per_minute=0,
    )
    for store in (service, AUTH_STORE):
        schema = settings.schema_for(store)
        schemas.append(schema)
        upgrade(store, url=pg_url, schema=schema)
    return ServiceEnv(settings, database_for(service, settings), database_for(AUTH_STORE, settings))


# The centre answers for a second client besides the default one, whose data is seeded:
# each role's token of that client (`other_client:<role>`) must find none of it.
OTHER_CLIENT = "gas"
OTHER_CLIENT_PEOPLE: dict[str, tuple[str, str | None]] = {
    role: (f"G-{staff}", "gas_pipes" if dept else None) for role, (staff, dept) in PEOPLE.items()
}
CLIENTS_FILE = {
    "tenants": [
        {"id": "default", "zh": "本中心", "en": "The centre"},
        {
            "id": OTHER_CLIENT,
            "zh": "蓝焰燃气",
            "en": "Blue Flame Gas",
            "numbers": ["96777"],
            # A roster of its own: its planners plan it, never the centre's shared one.
            "own_roster": True,
        },
    ]
}


def other_client(role: str) -> str:
    return f"other_client:{role}"


def tokens_for(env: ServiceEnv) -> dict[str, dict[str, str]]:
    tokens = {role: env.token(role, staff, dept) for role, (staff, dept) in PEOPLE.items()}
    tokens[OTHER_DEPARTMENT] = env.token("department", "N03", "network")
    for role, (staff, dept) in OTHER_CLIENT_PEOPLE.items():
        tokens[other_client(role)] = env.token(role, staff, dept, tenant=OTHER_CLIENT)
    return tokens


# --- seeding -------------------------------------------------------------------------


def _complaint_body(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_phone": "138 0013 8000",
        "customer_name": "王女士",
        "channel": "phone",
        "category": "billing",
        "severity": "normal",
        "nature": "genuine",
        "description": "上月话费账单多扣了 30 元，客服一直没有回复。",
        # The centre answers for two clients (CLIENTS_FILE): the seeded data is the
        # default one's.
        "tenant": "default",
    }
    body.update(fields)
    return body


def seed_intake(service: Running, client: TestClient) -> None:
    """Two complaints: `complaint_id` with billing and waiting for the customer's verdict
    (replied), with a photo attached (`attachment_id`), `network_complaint_id` with
    network."""
    from services.intake.complaints.flows import apply_lifecycle
    from shared.contracts import LifecycleChanged

    agent = service.tokens["agent"]
    for key, department in (("complaint_id", "billing"), ("network_complaint_id", "network")):
        answer = client.post("/complaints", json=_complaint_body(), headers=agent)
        assert answer.status_code == 201, answer.text
        created = answer.json()
        service.ids[key] = created["id"]
        service.ids[key.replace("_id", "_reference")] = created["reference"]
        with service.env.db.transaction() as session:
            apply_lifecycle(
                session,
                LifecycleChanged(
                    complaint_id=created["id"],
                    reference=created["reference"],
                    action="reply",
                    from_state="in_progress",
                    to_state="replied",
                    history_seq=5,
                    holder_staff_id="B07",
                    holder_role="department",
                    department_id=department,
                ),
                datetime.now(UTC),
            )
    service.ids["phone"] = CUSTOMER_PHONE
    # A photo on the billing complaint, for the routes that read one.
    from tests.support.files import png

    answer = client.post(
        f"/complaints/{service.ids['complaint_id']}/attachments",
        files={"file": ("水管.png", png(), "image/png")},
        headers=agent,
    )
    assert answer.status_code == 201, answer.text
    service.ids["attachment_id"] = answer.json()["id"]
    # An article of the knowledge base, approved: every role reads it.
    service.ids["article_id"] = str(new_article(service, client, "approved"))


ARTICLE = {
    "question": "话费账单多扣了钱怎么办？",
    "answer": "请提供扣费月份，账务部核实后三个工作日内退还多扣费用。",
    "category": "billing",
    "keywords": ["多扣", "账单", "退费"],
}


def new_article(service: Running, client: TestClient, status: str) -> int:
    """An article of billing's (written by its clerk B07) in `status`: draft, submitted or
    approved."""
    clerk, supervisor = service.tokens["department"], service.tokens["supervisor"]
    answer = client.post(
        "/knowledge/articles", json={**ARTICLE, "tenant": "default"}, headers=clerk
    )
    assert answer.status_code == 201, answer.text
    article_id = int(answer.json()["id"])
    steps = {"draft": [], "submitted": [clerk], "approved": [clerk, supervisor]}[status]
    for who, step in zip(steps, ("submit", "approve"), strict=False):
        done = client.post(f"/knowledge/articles/{article_id}/{step}", headers=who)
        assert done.status_code == 200, done.text
    return article_id


def new_escalation_complaint(service: Running, *, nature: str = "genuine") -> tuple[str, str]:
    """A complaint as intake's event brings it to escalation: with the duty manager."""
    from services.escalation.config import EscalationConfig
    from services.escalation.db import inbox, outbox
    from services.escalation.handlers import make_handlers
    from shared.events import Event, registry
    from shared.inbox import claim
    from shared.outbox import Outbox
    from tests.escalation.conftest import received_event

    handlers = make_handlers(EscalationConfig(), Outbox(outbox, lanes=1))
    envelope = received_event(nature=nature)
    event: Event[Any] = registry.decode(json.dumps(envelope.model_dump(mode="json")).encode())
    with service.env.db.transaction() as session:
        assert claim(session, inbox, consumer="escalation", envelope=event.envelope)
        handlers[event.type](session, event)
    return str(envelope.complaint_id), envelope.payload["reference"]


def dispatch_to_billing(service: Running, complaint_id: str) -> None:
    assert service.client is not None
    answer = service.client.post(
        f"/complaints/{complaint_id}/actions/dispatch",
        json={"department_id": "billing", "instructions": "核对账单"},
        headers=service.tokens["duty_manager"],
    )
    assert answer.status_code == 200, answer.text


def seed_escalation(service: Running, client: TestClient) -> None:
    """The directory and roster of tests/escalation, a complaint dispatched to billing
    (`complaint_id`), one with the duty manager (`desk_complaint_id`), and a shift next
    month (`shift_id`) that can still be deleted."""
    from tests.escalation.conftest import seed_directory

    seed_directory(client, service.tokens["admin"])
    for key, nature in (("complaint_id", "compensation"), ("desk_complaint_id", "genuine")):
        complaint_id, reference = new_escalation_complaint(service, nature=nature)
        service.ids[key] = complaint_id
        service.ids[key.replace("_id", "_reference")] = reference
    dispatch_to_billing(service, service.ids["complaint_id"])
    start = datetime.now(UTC) + timedelta(days=30)
    answer = client.post(
        "/roster/shifts",
        json={
            "staff_id": "DM02",
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=8)).isoformat(),
        },
        headers=service.tokens["admin"],
    )
    assert answer.status_code == 201, answer.text
    service.ids["shift_id"] = answer.json()["id"]
    service.ids.update(department_id="billing", staff_id="B07", phone=CUSTOMER_PHONE)


def seed_notify(service: Running, client: TestClient) -> None:
    """The SMS of a new complaint with billing (`complaint_id`)."""
    from services.notify.db import inbox
    from services.notify.handlers import make_context, make_handlers
    from shared.events import Event, registry
    from shared.inbox import claim
    from tests.notify.conftest import (
        BILLING_DESK,
        DM01,
        lifecycle_event,
        notify_config,
        received_event,
        recipient,
    )

    ctx = make_context(notify_config(), service.env.settings)
    handlers = make_handlers(ctx)
    received = received_event(customer_phone=CUSTOMER_PHONE)
    dispatched = lifecycle_event(
        "complaint.dispatched",
        received,
        [recipient("department", BILLING_DESK)],
        to_state="dispatched",
        department_id="billing",
        history_seq=3,
    )
    assigned = lifecycle_event(
        "complaint.assigned", received, [recipient("duty_manager", DM01, "DM01")]
    )
    for envelope in (received, assigned, dispatched):
        event: Event[Any] = registry.decode(json.dumps(envelope.model_dump(mode="json")).encode())
        with service.env.db.transaction() as session:
            assert claim(session, inbox, consumer="notify", envelope=event.envelope)
            handlers[event.type](session, event)
    service.ids.update(complaint_id=str(received.complaint_id), phone=CUSTOMER_PHONE)


def seed_analytics(service: Running, client: TestClient) -> None:
    """The fixture month of tests/analytics (March 2026, billing and network)."""
    from tests.analytics.conftest import load
    from tests.analytics.story import fixture_month

    story = fixture_month()
    load(service.env.db, story.events)
    service.ids.update(
        complaint_id=story.complaints["C1"].id,
        department_id="billing",
        month="2026-03",
    )
    # The word segmenter loads its dictionary on first use (seconds): not in a test's time.
    answer = client.get("/analytics/hotspots", headers=service.tokens["qa"])
    assert answer.status_code == 200, answer.text


SEEDS: dict[str, Callable[[Running, TestClient], None]] = {
    "intake": seed_intake,
    "escalation": seed_escalation,
    "notify": seed_notify,
    "analytics": seed_analytics,
}


def build_app(name: str, settings: Settings) -> FastAPI:
    """A fresh app of one service, as tests build them (fixed clock for analytics)."""
    if name == "intake":
        from services.intake.main import create_app as intake_app

        return intake_app(settings)
    if name == "escalation":
        from services.escalation.config import EscalationConfig
        from services.escalation.main import create_app as escalation_app

        # A centre that allows transfers between departments: who may transfer is judged.
        return escalation_app(settings, config=EscalationConfig(allow_transfer=True))
    if name == "notify":
        from services.notify.main import create_app as notify_app
        from tests.notify.conftest import notify_config

        return notify_app(settings, notify_config())
    if name == "analytics":
        from services.analytics.main import create_app as analytics_app
        from shared.clock import ManualClock
        from tests.analytics.story import NOW

        return analytics_app(settings, clock=ManualClock(NOW))
    raise ValueError(name)


@pytest.fixture(scope="module")
def services(
    pg_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Running]]:
    """`services(name)`: that service running in a TestClient, seeded, with a token per
    caller; one per module, torn down with it."""
    schemas: list[str] = []
    made: dict[str, Running] = {}
    clients = tmp_path_factory.mktemp("robustness-clients") / "tenants.json"
    clients.write_text(json.dumps(CLIENTS_FILE, ensure_ascii=False), encoding="utf-8")
    was = os.environ.get("TENANTS_FILE")
    os.environ["TENANTS_FILE"] = str(clients)

    def get(name: str) -> Running:
        if name not in made:
            env = make_env(name, pg_url, kafka_bootstrap, schemas, tmp_path_factory.mktemp(name))
            running = Running(name, build_app(name, env.settings), env, tokens_for(env))
            # A server error is an answer to check, not an exception in the test.
            client = TestClient(running.app, raise_server_exceptions=False)
            client.__enter__()
            running.client = client
            made[name] = running
            SEEDS[name](running, client)
        return made[name]

    try:
        yield get
    finally:
        if was is None:
            os.environ.pop("TENANTS_FILE", None)
        else:
            os.environ["TENANTS_FILE"] = was
    for running in made.values():
        assert running.client is not None
        running.client.__exit__(None, None, None)
        running.env.db.dispose()
        running.env.auth_db.dispose()
    drop_schemas(pg_url, schemas)


def drop_schemas(pg_url: str, schemas: list[str]) -> None:
    if not schemas:
        return
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        for name in schemas:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
    engine.dispose()
