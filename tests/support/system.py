"""The whole system as its workers run it, on the real broker and PostgreSQL: intake,
escalation, notify and analytics, each with its API, its outbox relay and its consumer
on the topics its worker reads (fresh topics of the test's own in place of the
platform's), the escalation directory seeded. What tests of the system as a whole
share (tests/platform/test_forged_events.py, test_two_clients.py)."""

from __future__ import annotations

import importlib
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import create_engine, inspect, text

from shared.consumer import EventConsumer
from shared.events import Envelope, encode, kafka_headers
from shared.kafka import create_producer
from shared.outbox import OutboxRelay
from shared.settings import SERVICES, Settings
from shared.topics import TOPIC_OWNERS, TopicSpec, dlq, ensure_topics
from tests.conftest import ServiceEnv
from tests.escalation.conftest import seed_directory
from tests.robustness.conftest import make_env
from tests.support.infra import wait_until
from tests.support.topics import Topics, topics_ready

WORKERS = {s: importlib.import_module(f"services.{s}.worker").SPEC for s in SERVICES}
SETTINGS = Settings()


def app_of(service: str, settings: Settings) -> FastAPI:
    module = importlib.import_module(f"services.{service}.main")
    app: FastAPI = module.create_app(settings)
    return app


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
    apis: dict[str, TestClient]
    consumers: dict[str, EventConsumer]
    producer: Any
    dead: DeadLetters
    agent: dict[str, str]
    manager: dict[str, str]
    complaint: dict[str, Any] = field(default_factory=dict)

    @property
    def intake(self) -> TestClient:
        return self.apis["intake"]

    @property
    def escalation(self) -> TestClient:
        return self.apis["escalation"]

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
        sent), the access log (which records the test's own reads) and the migrations'
        bookkeeping."""
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

    def settled(self, timeout: float = 60) -> Any:
        """Wait until every outbox is sent and the rows stop changing; the rows."""
        last: list[Any] = []

        def check() -> Any:
            unsent = sum(
                self.rows(s, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")[0][0]
                for s in SERVICES
            )
            now = self.snapshot()
            stable = unsent == 0 and last and last[-1] == now
            last.append(now)
            threading.Event().wait(0.3)
            return now if stable else None

        return wait_until(check, timeout=timeout, what="the system at rest")

    def forge(self, event: Envelope, on: str) -> None:
        """Publish an event by hand onto (this test's copy of) platform topic `on`."""
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


@contextmanager
def whole_system(
    pg_url: str,
    kafka_bootstrap: str,
    *,
    seed: Callable[[TestClient, dict[str, str]], None] = seed_directory,
) -> Iterator[System]:
    """The four services running, their directory seeded by `seed`."""
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
    files = tempfile.TemporaryDirectory(prefix="system-")
    envs = {
        s: make_env(s, pg_url, kafka_bootstrap, schemas, Path(files.name) / s) for s in SERVICES
    }
    producer = create_producer(envs["intake"].settings, "whole-system")
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
        apis = {s: stack.enter_context(TestClient(app_of(s, envs[s].settings))) for s in SERVICES}
        seed(apis["escalation"], envs["escalation"].token("admin", "AD01"))
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
        try:
            yield System(
                topics=topics,
                envs=envs,
                apis=apis,
                consumers=consumers,
                producer=producer,
                dead=DeadLetters(reader),
                agent=envs["intake"].token("agent", "A001"),
                manager=envs["escalation"].token("duty_manager", "DM01"),
            )
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
            files.cleanup()
