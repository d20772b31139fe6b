"""/healthz says the process is alive; /readyz says whether it can do its work: its
database reachable and migrated, Kafka reachable. A load balancer or `make run` waits
on the second; only a dead process fails the first."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from alembic.script import ScriptDirectory
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from shared.api import create_service_app
from shared.migrations import script_location, upgrade
from shared.settings import AUTH_STORE, Settings
from tests.conftest import ServiceEnv

CLOSED_PORT = "127.0.0.1:1"


def notify_app(settings: Settings) -> FastAPI:
    return create_service_app(
        service="notify",
        title="Notify",
        description="A service with nothing but its health routes.",
        settings=settings,
        routers=[],
    )


def probe(settings: Settings) -> tuple[int, dict[str, object], int]:
    """(/readyz status, its body, /healthz status)."""
    with TestClient(notify_app(settings)) as client:
        ready = client.get("/readyz")
        alive = client.get("/healthz")
    return ready.status_code, ready.json(), alive.status_code


@pytest.fixture
def unmigrated(pg_url: str, kafka_bootstrap: str) -> Iterator[Settings]:
    """An installation whose auth store is migrated but whose notify store is not."""
    settings = Settings(
        environment="test",
        database_url=pg_url,
        schema_prefix=f"r{uuid.uuid4().hex[:8]}_",
        kafka_bootstrap_servers=kafka_bootstrap,
        access_log=False,
    )
    upgrade(AUTH_STORE, url=pg_url, schema=settings.schema_for(AUTH_STORE))
    yield settings
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        for store in ("notify", AUTH_STORE):
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{settings.schema_for(store)}" CASCADE'))
    engine.dispose()


@pytest.mark.postgres
@pytest.mark.kafka
def test_a_migrated_service_with_its_broker_is_ready(
    service_env: Callable[[str], ServiceEnv],
) -> None:
    status, body, alive = probe(service_env("notify").settings)
    assert status == 200, body
    assert body == {
        "status": "ready",
        "service": "notify",
        "checks": {"database": "ok", "kafka": "ok"},
    }
    assert alive == 200


@pytest.mark.postgres
@pytest.mark.kafka
def test_without_kafka_the_service_is_alive_but_not_ready(
    service_env: Callable[[str], ServiceEnv],
) -> None:
    settings = service_env("notify").settings.model_copy(
        update={"kafka_bootstrap_servers": CLOSED_PORT}
    )
    status, body, alive = probe(settings)
    assert status == 503
    assert body["status"] == "not_ready"
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert checks["database"] == "ok"
    assert checks["kafka"].startswith("unreachable: ")
    assert alive == 200


@pytest.mark.postgres
@pytest.mark.kafka
def test_with_migrations_pending_the_service_names_them(unmigrated: Settings) -> None:
    status, body, alive = probe(unmigrated)
    assert status == 503
    checks = body["checks"]
    assert isinstance(checks, dict)
    # Pending are the newest revisions (the heads) the service's migrations lead to.
    heads = ScriptDirectory(str(script_location("notify"))).get_heads()
    assert checks["database"] == f"migrations pending: {', '.join(sorted(heads))}"
    assert checks["kafka"] == "ok"
    assert alive == 200

    upgrade("notify", url=unmigrated.database_url, schema=unmigrated.schema_for("notify"))
    assert probe(unmigrated)[0] == 200


@pytest.mark.kafka
def test_without_its_database_the_service_is_alive_but_not_ready(
    kafka_bootstrap: str,
) -> None:
    settings = Settings(
        environment="test",
        database_url=f"postgresql://complaints:complaints@{CLOSED_PORT}/complaints",
        kafka_bootstrap_servers=kafka_bootstrap,
        access_log=False,
    )
    status, body, alive = probe(settings)
    assert status == 503
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert checks["database"].startswith("unreachable: ")
    assert checks["kafka"] == "ok"
    assert alive == 200


def test_with_nothing_reachable_both_checks_say_so() -> None:
    settings = Settings(
        environment="test",
        database_url=f"postgresql://complaints:complaints@{CLOSED_PORT}/complaints",
        kafka_bootstrap_servers=CLOSED_PORT,
        access_log=False,
    )
    status, body, alive = probe(settings)
    assert status == 503
    checks = body["checks"]
    assert isinstance(checks, dict)
    assert checks["database"].startswith("unreachable: ")
    assert checks["kafka"].startswith("unreachable: ")
    assert alive == 200
