"""Fixtures for the whole suite.

Tests marked `postgres`, `kafka` or `objectstore` use the real PostgreSQL, Kafka and S3
object store that `make test` starts (scripts/test.sh). Run outside it they fail with a
message saying so, rather than being skipped: a green run must mean they ran.
`make test-fast` runs the others.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from shared.auth.store import grant_outside_directory, issue_token
from shared.db import Database, create_database, database_for
from shared.migrations import upgrade
from shared.settings import AUTH_STORE, Settings, normalise_database_url

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark what uses the test PostgreSQL or Kafka through these fixtures, should its
    module not say so, so that `make test-fast` leaves it out rather than fails it."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        marked = {mark.name for mark in item.iter_markers()}
        if used & {"pg_url", "pg_super_url"} and "postgres" not in marked:
            item.add_marker(pytest.mark.postgres)
            marked.add("postgres")
        # A service test's settings name the broker without needing it up: for those
        # the `postgres` mark is the one that counts.
        if used & {"kafka_bootstrap", "secured_broker"} and not marked & {"postgres", "kafka"}:
            item.add_marker(pytest.mark.kafka)
        if "objectstore" in used and "objectstore" not in marked:
            item.add_marker(pytest.mark.objectstore)


def _need(var: str) -> str:
    value = os.environ.get(var)
    if not value:
        pytest.fail(
            f"{var} is not set: run the suite with `make test`, "
            "which starts the test PostgreSQL and Kafka"
        )
    return value


@pytest.fixture(scope="session")
def pg_url() -> str:
    return normalise_database_url(_need("TEST_DATABASE_URL"))


@pytest.fixture(scope="session")
def pg_super_url() -> str:
    return normalise_database_url(_need("TEST_PG_SUPER_URL"))


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    _need("TEST_STACK")  # never point tests at a developer's running broker by accident
    return _need("KAFKA_BOOTSTRAP_SERVERS")


@dataclass(frozen=True)
class ObjectStoreAccess:
    """The test object store (SeaweedFS's S3 API, scripts/objectstore.sh): where it is, its
    bucket and the key pair its gateway checks every request's signature against."""

    endpoint_url: str
    bucket: str
    access_key_id: str
    secret_access_key: str

    def intake_env(self) -> dict[str, str]:
        """The settings that point intake at it (a system started by scripts/stack.py)."""
        return {
            "INTAKE_OBJECT_STORE": "s3",
            "INTAKE_S3_ENDPOINT_URL": self.endpoint_url,
            "INTAKE_S3_BUCKET": self.bucket,
            "INTAKE_S3_ACCESS_KEY_ID": self.access_key_id,
            "INTAKE_S3_SECRET_ACCESS_KEY": self.secret_access_key,
        }


@pytest.fixture(scope="session")
def objectstore() -> ObjectStoreAccess:
    _need("TEST_STACK")
    return ObjectStoreAccess(
        endpoint_url=_need("TEST_S3_ENDPOINT_URL"),
        bucket=_need("TEST_S3_BUCKET"),
        access_key_id=_need("TEST_S3_ACCESS_KEY_ID"),
        secret_access_key=_need("TEST_S3_SECRET_ACCESS_KEY"),
    )


@dataclass(frozen=True)
class SecuredBroker:
    """The test broker's SASL_SSL listener (scripts/test.sh turns it on with KAFKA_SECURE=1):
    where it is, the CA that signed its certificate, each principal's password, its log."""

    bootstrap: str
    secrets: Path
    log: Path

    @property
    def cafile(self) -> Path:
        return self.secrets / "ca.pem"

    def password(self, principal: str) -> str:
        return (self.secrets / f"{principal}.password").read_text().strip()

    def settings_for(
        self, principal: str, base: Settings | None = None, **changes: Any
    ) -> Settings:
        """`base` (or plain test settings) signed in as `principal` over SASL_SSL."""
        values: dict[str, Any] = {
            **(base or Settings(environment="test", log_format="text")).model_dump(),
            "kafka_bootstrap_servers": self.bootstrap,
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_username": principal,
            "kafka_sasl_password": self.password(principal),
            "kafka_ssl_cafile": self.cafile,
            "kafka_request_timeout_ms": 5000,
        }
        values.update(changes)
        return Settings.model_validate(values)


@pytest.fixture(scope="session")
def secured_broker() -> SecuredBroker:
    _need("TEST_STACK")
    return SecuredBroker(
        bootstrap=_need("TEST_KAFKA_SECURE_BOOTSTRAP"),
        secrets=Path(_need("TEST_KAFKA_SECRETS")),
        log=Path(_need("TEST_KAFKA_LOG")),
    )


@pytest.fixture
def schema_name(pg_url: str) -> Iterator[Callable[[str], str]]:
    """Make unique schema names for a test; the schemas are dropped afterwards."""
    made: list[str] = []

    def make(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        made.append(name)
        return name

    yield make
    if made:
        engine = create_engine(pg_url)
        with engine.begin() as conn:
            for name in made:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        engine.dispose()


@pytest.fixture
def migrated(pg_url: str, schema_name: Callable[[str], str]) -> Iterator[Callable[[str], Database]]:
    """A service's (or the auth store's) real migrations, applied in a fresh schema."""
    dbs: list[Database] = []

    def make(store: str) -> Database:
        schema = schema_name(f"t_{store}")
        upgrade(store, url=pg_url, schema=schema)
        db = create_database(pg_url, schema=schema, pool_size=5)
        dbs.append(db)
        return db

    yield make
    for db in dbs:
        db.dispose()


@pytest.fixture
def kafka_settings(kafka_bootstrap: str) -> Settings:
    return Settings(kafka_bootstrap_servers=kafka_bootstrap, kafka_request_timeout_ms=5000)


@pytest.fixture
def new_topic(kafka_bootstrap: str) -> Callable[..., str]:
    """Create a fresh topic (and its .dlq) for one test."""
    from shared.topics import TopicSpec, dlq, ensure_topics

    def make(partitions: int = 3) -> str:
        name = f"test.{uuid.uuid4().hex[:10]}"
        ensure_topics(kafka_bootstrap, [TopicSpec(name, partitions), TopicSpec(dlq(name), 1)])
        return name

    return make


@pytest.fixture
def platform_topics(new_topic: Callable[..., str], kafka_bootstrap: str) -> Callable[..., Any]:
    """A fresh topic in place of each of the platform's (tests/support/topics.py)."""
    from tests.support.topics import make_topics

    return lambda partitions=3: make_topics(new_topic, kafka_bootstrap, partitions)


@dataclass
class ServiceEnv:
    """One service's API on the test PostgreSQL, in schemas of its own, with tokens."""

    settings: Settings
    db: Database
    auth_db: Database

    def token(
        self, role: str, staff: str, department: str | None = None, tenant: str | None = None
    ) -> dict[str, str]:
        """Headers with a token of this person (of one client, `tenant`, or of the centre).
        Tokens go only to people the directory grants them to: a test's people are
        granted theirs here, unless the directory (a test that adds them through the
        API) already says who they are."""
        with self.auth_db.transaction() as session:
            grant_outside_directory(session, staff, role, department, tenant=tenant)
            token, _ = issue_token(session, staff_id=staff, role=role, department_id=department)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def service_env(
    pg_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], ServiceEnv]]:
    """Migrate a service and the auth store under a unique schema prefix; yield Settings.

    Build the app with `create_app(env.settings)` inside `TestClient(...)`.
    """
    made: list[ServiceEnv] = []
    schemas: list[str] = []

    def make(service: str) -> ServiceEnv:
        prefix = f"t{uuid.uuid4().hex[:8]}_"
        settings = Settings(
            environment="test",
            database_url=pg_url,
            schema_prefix=prefix,
            # Files a service keeps without a store configured (intake's attachments).
            data_dir=tmp_path_factory.mktemp(service),
            kafka_bootstrap_servers=kafka_bootstrap,
            kafka_request_timeout_ms=5000,
            access_log=False,
            log_format="text",
        )
        for store in (service, AUTH_STORE):
            schema = settings.schema_for(store)
            schemas.append(schema)
            upgrade(store, url=pg_url, schema=schema)
        env = ServiceEnv(
            settings,
            database_for(service, settings),
            database_for(AUTH_STORE, settings),
        )
        made.append(env)
        return env

    yield make
    for env in made:
        env.db.dispose()
        env.auth_db.dispose()
    if schemas:
        engine = create_engine(pg_url)
        with engine.begin() as conn:
            for name in schemas:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        engine.dispose()
