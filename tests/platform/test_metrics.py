"""GET /metrics: what a Prometheus scraping the APIs sees.

Requests are counted by route template; the outbox backlog, the consumer lag and
notify's SMS are read from the database and from Kafka when scraped, so they are right
whichever process did the work. A broker that is down, or a read that hangs, shows as
`..._up 0` and never holds the scrape up.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from services.intake.db import outbox as intake_outbox
from services.notify.config import NotifyConfig
from services.notify.handlers import make_context
from services.notify.messages import outcomes
from services.notify.messages import service as messages_service
from services.notify.messages.receipts import record_receipts
from services.notify.providers.base import Receipt
from shared.api import create_service_app
from shared.db import Database
from shared.events import encode, kafka_headers
from shared.kafka import create_producer
from shared.metrics import UNMATCHED, Cached, MetricsSpec
from shared.outbox import Outbox, OutboxRelay
from shared.settings import SERVICES, Settings
from shared.topics import COMPLAINTS_LIFECYCLE, topic_specs
from tests.conftest import ROOT, ServiceEnv
from tests.support.infra import consume_until, wait_until
from tests.support.ledger import CLERK, Posted, create_effects_table, make_consumer, registry
from tests.support.probe_app import probe_api

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient | httpx.Client) -> Samples:
    """Every sample of one scrape, without a token (as a Prometheus scrapes)."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def series(samples: Samples, name: str) -> list[dict[str, str]]:
    return [dict(labels) for n, labels in samples if n == name]


def bare_app(settings: Settings, spec: MetricsSpec | None = None) -> FastAPI:
    """A service app with no routes of its own and the figures `spec` names."""
    return create_service_app(
        service="intake",
        title="Intake",
        description="The metrics of a service, nothing else.",
        settings=settings,
        routers=[],
        metrics=spec,
    )


def publish(settings: Settings, topic: str, count: int) -> None:
    """`count` events straight onto the topic, keyed over a few complaints."""
    producer = create_producer(settings, "metrics-test")
    try:
        for n in range(count):
            event = registry.new(
                "ledger.posted",
                Posted(account=f"acct-{n % 5}", seq=n, amount=n, written_at=datetime.now(UTC)),
                source="intake",
                tenant="default",
                actor=CLERK,
                complaint_id=f"acct-{n % 5}",
            )
            producer.send(
                topic, key=event.key.encode(), value=encode(event), headers=kafka_headers(event)
            )
        producer.flush(timeout=30)
    finally:
        producer.close()


def total_lag(samples: Samples, group: str, topic: str) -> float:
    return sum(
        v
        for (name, labels), v in samples.items()
        if name == "kafka_consumer_lag" and {("group", group), ("topic", topic)} <= labels
    )


# -- request metrics --------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.kafka
def test_a_request_is_counted_by_its_route_template_method_and_status(
    service_env: Callable[[str], ServiceEnv],
) -> None:
    from services.escalation.main import create_app

    env = service_env("escalation")
    unknown = str(uuid.uuid4())
    labels = {
        "service": "escalation",
        "method": "GET",
        "route": "/complaints/{complaint_id}",
        "status": "404",
    }
    with TestClient(create_app(env.settings)) as client:
        before = scrape(client)
        token = env.token("duty_manager", "DM01")
        assert client.get(f"/complaints/{unknown}", headers=token).status_code == 404
        assert client.get(f"/complaints/{uuid.uuid4()}", headers=token).status_code == 404
        assert client.get("/no/such/path").status_code == 404
        after = scrape(client)

    assert (value(after, "http_requests_total", **labels) or 0) - (
        value(before, "http_requests_total", **labels) or 0
    ) == 2
    latency = {k: v for k, v in labels.items() if k != "status"}
    assert (value(after, "http_request_duration_seconds_count", **latency) or 0) >= 2
    unmatched = {**labels, "route": UNMATCHED}
    assert (value(after, "http_requests_total", **unmatched) or 0) - (
        value(before, "http_requests_total", **unmatched) or 0
    ) == 1
    # The raw path is never a label: one complaint must not be one series.
    assert not [s for s in series(after, "http_requests_total") if unknown in s["route"]]
    # The first scrape is counted by the second, and needed no token.
    scraped = {**labels, "route": "/metrics", "status": "200"}
    assert (value(after, "http_requests_total", **scraped) or 0) >= 1


@pytest.mark.postgres
@pytest.mark.kafka
@pytest.mark.parametrize("service", SERVICES)
def test_every_service_reports_its_outbox_and_its_worker_consumer_lag(
    service: str, service_env: Callable[[str], ServiceEnv]
) -> None:
    import importlib

    main = importlib.import_module(f"services.{service}.main")
    worker = importlib.import_module(f"services.{service}.worker").SPEC
    with TestClient(main.create_app(service_env(service).settings)) as client:
        assert client.get("/healthz").status_code == 200
        samples = scrape(client)

    healthz = {"service": service, "method": "GET", "route": "/healthz", "status": "200"}
    assert (value(samples, "http_requests_total", **healthz) or 0) >= 1
    assert value(samples, "outbox_up", service=service) == 1
    assert value(samples, "outbox_unsent_events", service=service) == 0
    # The worker's consumer group (named after the service), on every partition it reads.
    assert value(samples, "kafka_consumer_lag_up", service=service, group=service) == 1
    lagging = series(samples, "kafka_consumer_lag")
    assert {s["topic"] for s in lagging} == set(worker.topics)
    assert {s["group"] for s in lagging} == {service}
    partitions = {spec.name: spec.partitions for spec in topic_specs()}
    assert {(t, str(p)) for t in worker.topics for p in range(partitions[t])} == {
        (s["topic"], s["partition"]) for s in lagging
    }
    assert (value(samples, "sms_up", service=service) == 1) is (service == "notify")


# -- the outbox backlog -----------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.kafka
def test_the_outbox_backlog_is_the_rows_not_yet_published_and_the_age_of_the_oldest(
    service_env: Callable[[str], ServiceEnv], new_topic: Any, kafka_settings: Settings
) -> None:
    env = service_env("intake")
    db = env.db
    topic = new_topic(3)
    spec = MetricsSpec(outbox=intake_outbox, cache_seconds=0)
    outbox = Outbox(intake_outbox, lanes=4, registry=registry)
    with TestClient(bare_app(env.settings, spec)) as client:
        assert value(scrape(client), "outbox_unsent_events", service="intake") == 0

        with db.transaction() as session:
            outbox.add_many(
                session,
                [
                    registry.new(
                        "ledger.posted",
                        Posted(account="a", seq=n, amount=n, written_at=datetime.now(UTC)),
                        source="intake",
                        tenant="default",
                        actor=CLERK,
                        complaint_id="a",
                    )
                    for n in range(3)
                ],
                topic=topic,
            )
            session.execute(
                update(intake_outbox).values(created_at=datetime.now(UTC) - timedelta(minutes=2))
            )
        waiting = scrape(client)
        assert value(waiting, "outbox_up", service="intake") == 1
        assert value(waiting, "outbox_unsent_events", service="intake") == 3
        age = value(waiting, "outbox_oldest_unsent_age_seconds", service="intake")
        assert age is not None and 120 <= age < 180

        producer = create_producer(kafka_settings, "metrics-relay")
        try:
            assert OutboxRelay(db, intake_outbox, producer, lanes=4).publish_pending() == 3
        finally:
            producer.close()
        published = scrape(client)
        assert value(published, "outbox_unsent_events", service="intake") == 0
        assert value(published, "outbox_oldest_unsent_age_seconds", service="intake") == 0


# -- consumer lag -----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.kafka
def test_consumer_lag_is_what_was_produced_and_not_yet_consumed_by_the_group(
    service_env: Callable[[str], ServiceEnv],
    migrated: Callable[[str], Database],
    new_topic: Any,
    kafka_settings: Settings,
) -> None:
    topic = new_topic(3)
    group = f"lag-{uuid.uuid4().hex[:8]}"
    consumer_db = migrated("escalation")
    create_effects_table(consumer_db)
    spec = MetricsSpec(consumer_group=group, topics=[topic], cache_seconds=0)
    with TestClient(bare_app(service_env("intake").settings, spec)) as client:
        publish(kafka_settings, topic, 7)
        fresh = scrape(client)
        assert value(fresh, "kafka_consumer_lag_up", service="intake", group=group) == 1
        # Nothing committed yet: the group would start from the beginning of each partition.
        assert {s["partition"] for s in series(fresh, "kafka_consumer_lag")} == {"0", "1", "2"}
        assert total_lag(fresh, group, topic) == 7

        # The platform's consumer (another process in production) handles and commits them.
        producer = create_producer(kafka_settings, "metrics-dlq")
        try:
            consumer = make_consumer(
                db=consumer_db, topic=topic, group=group, settings=kafka_settings, producer=producer
            )
            consume_until(consumer, handled=7, timeout=60, what="7 events handled")
        finally:
            producer.close()
        assert total_lag(scrape(client), group, topic) == 0

        publish(kafka_settings, topic, 5)
        behind = scrape(client)
        assert total_lag(behind, group, topic) == 5
        committed = sum(
            v
            for (name, labels), v in behind.items()
            if name == "kafka_consumer_committed_offset" and ("group", group) in labels
        )
        assert committed == 7


@pytest.mark.postgres
@pytest.mark.kafka
def test_without_kafka_metrics_still_answer_and_say_the_lag_is_unavailable(
    service_env: Callable[[str], ServiceEnv],
) -> None:
    env = service_env("intake")
    settings = env.settings.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:1"})
    spec = MetricsSpec(
        outbox=intake_outbox,
        consumer_group="intake",
        topics=[COMPLAINTS_LIFECYCLE],
        timeout_seconds=1.0,
    )
    with TestClient(bare_app(settings, spec)) as client:
        for _ in range(2):
            started = time.monotonic()
            samples = scrape(client)
            assert time.monotonic() - started < 5
            assert value(samples, "kafka_consumer_lag_up", service="intake", group="intake") == 0
            assert not series(samples, "kafka_consumer_lag")
            # The database answers, so the backlog is there all the same.
            assert value(samples, "outbox_up", service="intake") == 1


def test_a_read_that_hangs_is_waited_for_once_and_never_longer_than_the_timeout() -> None:
    calls: list[float] = []
    release = threading.Event()

    def slow() -> int:
        calls.append(time.monotonic())
        release.wait(10)
        return 42

    cached = Cached("slow", slow, ttl=60, timeout=0.2)
    for _ in range(3):  # scrapes while the first read is still running
        started = time.monotonic()
        reading = cached.get()
        assert time.monotonic() - started < 1
        assert not reading.ok and reading.value is None
        assert "no answer within 0.2s" in (reading.error or "")
    release.set()
    wait_until(lambda: cached.get().ok, timeout=5, what="the read to finish")
    assert cached.get().value == 42
    assert len(calls) == 1  # one read, not one per scrape

    failing = Cached("broken", lambda: 1 // 0, ttl=60, timeout=1)
    assert failing.get().error == "ZeroDivisionError: integer division or modulo by zero"


# -- notify's SMS ---------------------------------------------------------------------------


def _outgoing(n: int, now: datetime, due: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "direction": "out",
        "dedupe_key": f"metrics:{uuid.uuid4()}",
        "complaint_id": f"c-{n}",
        "phone": f"+86139001390{n:02d}",
        "audience": "duty_manager",
        "template": "dm_new_complaint",
        "language": "zh-CN",
        "body": f"投诉 {n}",
        "encoding": "UCS-2",
        "segments": 1,
        "units": 4,
        "urgent": False,
        "status": "pending",
        "due_at": due,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


@pytest.mark.postgres
@pytest.mark.kafka
def test_notify_counts_the_sms_sent_and_failed_and_every_status_from_its_message_log(
    service_env: Callable[[str], ServiceEnv],
) -> None:
    from services.notify.main import create_app

    env = service_env("notify")
    config = NotifyConfig()
    ctx = make_context(config, env.settings)
    now = datetime.now(UTC)
    rows = [_outgoing(n, now, now - timedelta(minutes=3)) for n in range(5)]
    rows.append(_outgoing(5, now, now + timedelta(hours=1)))  # a retry, not due yet
    inbound = {**_outgoing(6, now, now), "direction": "in", "status": "received", "due_at": None}
    ids = [r["id"] for r in rows]

    # What the sender and the webhooks write, in the worker's and the API's processes.
    with env.db.transaction() as session:
        messages_service.add_messages(session, [*rows, inbound])
        for i, state in ((0, "submitted"), (1, "sent"), (2, "sent")):
            outcomes.submitted(
                session,
                ctx,
                messages_service.get_message(session, ids[i]),
                provider="twilio",
                provider_message_id=f"SM{i}",
                state=state,
                attempts=1,
                now=now,
            )
        outcomes.failed(
            session,
            ctx,
            messages_service.get_message(session, ids[3]),
            error="gave up after 4 attempts: 503",
            attempts=4,
            now=now,
        )
        receipts = [
            Receipt(provider_message_id="SM1", state="delivered", message_id=ids[1]),
            Receipt(provider_message_id="SM2", state="failed", message_id=ids[2], error="30003"),
        ]
        assert record_receipts(session, ctx, "twilio", receipts, now=now) == 2

    with TestClient(create_app(env.settings, config)) as client:
        samples = scrape(client)

    assert value(samples, "sms_up", service="notify") == 1
    assert value(samples, "sms_sent_total", service="notify") == 3  # taken by the provider
    assert value(samples, "sms_failed_total", service="notify") == 2  # by retries, by receipt
    by_status = {
        (s["direction"], s["status"]): value(samples, "sms_messages", **s)
        for s in series(samples, "sms_messages")
    }
    assert by_status == {
        ("out", "pending"): 2,
        ("out", "submitted"): 1,
        ("out", "delivered"): 1,
        ("out", "failed"): 2,
        ("in", "received"): 1,
    }
    # ids[4] has waited for the sender for three minutes past its due time.
    overdue = value(samples, "sms_oldest_due_age_seconds", service="notify")
    assert overdue is not None and 180 <= overdue < 300


# -- several uvicorn workers ------------------------------------------------------------------


@contextmanager
def uvicorn_workers(tmp_path: Path, workers: int) -> Iterator[str]:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with probe_api(tmp_path, "--workers", str(workers), env=env, timeout=120) as (_, base):
        yield base


@pytest.mark.slow
def test_with_several_uvicorn_workers_every_scrape_counts_the_requests_of_all(
    tmp_path: Path,
) -> None:
    with uvicorn_workers(tmp_path, 2) as base:

        def ask(_: int) -> int:
            return int(httpx.get(f"{base}/pid", timeout=10).json()["pid"])

        # Until both workers have answered some (the second may still be starting).
        pids: list[int] = []
        deadline = time.monotonic() + 120
        with ThreadPoolExecutor(8) as pool:
            while len(set(pids)) < 2 and time.monotonic() < deadline:
                pids += pool.map(ask, range(16))
        assert len(set(pids)) == 2, "the requests never reached the second worker"

        # Each worker answered some of them: a count of its own would be short of the total.
        pid_route = {"service": "probe", "method": "GET", "route": "/pid", "status": "200"}

        def counted() -> float | None:
            with httpx.Client(base_url=base) as client:  # a new connection: either worker
                return value(scrape(client), "http_requests_total", **pid_route)

        # A request is counted just after its answer went out: give the last ones a moment.
        wait_until(lambda: counted() == len(pids), timeout=10, what="every request counted")
        for _ in range(5):
            assert counted() == len(pids)


def test_the_image_gives_an_api_with_several_workers_one_directory_to_count_in(
    tmp_path: Path,
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("entrypoint", ROOT + "/deploy/entrypoint.py")
    assert spec is not None and spec.loader is not None
    entrypoint = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entrypoint)
    environment = entrypoint.environment

    shared_dir = {"PROMETHEUS_MULTIPROC_DIR": "/tmp/metrics"}
    assert environment(["api", "intake", "--workers", "4"], {}) == shared_dir
    assert environment(["api", "intake", "--workers=2"], {}) == shared_dir
    assert environment(["api", "intake"], {"WEB_CONCURRENCY": "3"}) == shared_dir
    mine = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    assert environment(["api", "notify", "--workers", "2"], mine) == mine
    # One process counts by itself; workers and jobs serve no metrics.
    assert environment(["api", "intake"], {}) == {}
    assert environment(["api", "intake", "--workers", "1"], {}) == {}
    assert environment(["worker", "intake"], {"WEB_CONCURRENCY": "3"}) == {}
