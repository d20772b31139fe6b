"""Notify: SMS pipeline throughput, and the time from `POST /complaints` to the duty
manager's SMS arriving at the development gateway.

    make bench            (or: python -m bench notify [--quick])

Each service runs in a process of its own, as in production: the intake API (uvicorn),
intake's relay, escalation's consumer and relay, notify's consumer and sender, and the
development gateway (uvicorn). They talk over topics made for the run.

- Throughput: N `complaint.received` events are published at once; the figure is N
  divided by the time until the gateway holds all N acknowledgements (event → stored
  message → provider call → gateway), after a warm-up message.
- Latency: complaints registered through the intake API at a fixed 50/s; for each, the
  time from the request to the duty manager's SMS being stored by the gateway
  (p50/p95/p99; the goal is p99 under 500 ms). The staff rate limit is off: at 50/s one
  duty manager would otherwise get digests, which is what it is for.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    UNLIMITED,
    BenchError,
    Check,
    Context,
    Figure,
    drop_schema,
    fresh_topic,
    percentile,
    say,
)
from bench.intake import PYTHON, Server, free_port, uvicorn_argv, wait_ready

NAME = "notify"
DESCRIPTION = "SMS pipeline messages/s; POST /complaints → duty manager's SMS at 50/s"

DUTY_MANAGER_PHONE = "+8613900139001"
_REFERENCE = re.compile(r"[A-Z]{1,4}\d{8}-\d{6}")


# -- one service's worker, in its own process --------------------------------------------


def worker_main(argv: list[str]) -> int:
    """`python -m bench.notify worker SERVICE --topic PLATFORM=RUN ...`: that service's
    relay and consumer (and, for notify, its sender) on the run's topic in place of each
    platform topic, the consumer on those its worker reads."""
    parser = argparse.ArgumentParser()
    parser.add_argument("service", choices=["intake", "escalation", "notify"])
    parser.add_argument("--topic", action="append", required=True)
    args = parser.parse_args(argv)

    import importlib

    from shared.consumer import EventConsumer
    from shared.db import database_for
    from shared.kafka import create_producer
    from shared.logs import configure_logging
    from shared.outbox import OutboxRelay
    from shared.settings import Settings
    from shared.topics import dlq

    settings = Settings()
    configure_logging(f"{args.service}-worker", level="WARNING", fmt="text")
    db = database_for(args.service, settings)
    producer = create_producer(settings, f"bench-{args.service}")
    runs = dict(t.split("=", 1) for t in args.topic)
    remapped = _Remap(producer, {**runs, **{dlq(p): dlq(r) for p, r in runs.items()}})
    reads = importlib.import_module(f"services.{args.service}.worker").SPEC.topics
    consumer_topics = [runs[t] for t in reads]
    stand_for = {runs[t]: t for t in reads}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    loops: list[Any] = []
    if args.service == "intake":
        from services.intake.db import outbox
    elif args.service == "escalation":
        from services.escalation.db import inbox, outbox
        from services.escalation.handlers import handlers

        loops.append(
            EventConsumer(
                name=f"bench-escalation-{uuid.uuid4().hex[:6]}",
                topics=consumer_topics,
                stand_for=stand_for,
                db=db,
                inbox=inbox,
                handlers=handlers(db, settings),
                settings=settings,
                producer=producer,
                poll_timeout_ms=20,
            ).run
        )
    else:
        from services.notify.config import get_config
        from services.notify.db import inbox, outbox
        from services.notify.handlers import make_context, make_handlers
        from services.notify.providers import provider_for
        from services.notify.sender import Sender

        ctx = make_context(get_config(), settings)
        loops.append(
            EventConsumer(
                name=f"bench-notify-{uuid.uuid4().hex[:6]}",
                topics=consumer_topics,
                stand_for=stand_for,
                db=db,
                inbox=inbox,
                handlers=make_handlers(ctx),
                settings=settings,
                producer=producer,
                poll_timeout_ms=20,
            ).run
        )
        loops.append(Sender(db, ctx, provider_for(ctx.config)).run)
    relay = OutboxRelay(
        db,
        outbox,
        remapped,
        lanes=settings.outbox_lanes,
        linger_seconds=settings.outbox_linger_seconds,
    )
    loops.append(relay.run)
    threads = [threading.Thread(target=loop, args=(stop,), daemon=True) for loop in loops]
    for thread in threads:
        thread.start()
    print("ready", flush=True)
    stop.wait()
    for thread in threads:
        thread.join(timeout=20)
    producer.close(timeout=5)
    db.dispose()
    return 0


class _Remap:
    def __init__(self, producer: Any, topics: dict[str, str]) -> None:
        self.producer = producer
        self.topics = topics

    def send(self, topic: str, **kwargs: Any) -> Any:
        return self.producer.send(self.topics.get(topic, topic), **kwargs)

    def flush(self, timeout: float | None = None) -> None:
        self.producer.flush(timeout=timeout)


# -- the run ----------------------------------------------------------------------------


def _env(ctx: Context, prefix: str, gateway_port: int) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": ctx.database_url,
        "SCHEMA_PREFIX": prefix,
        "KAFKA_BOOTSTRAP_SERVERS": ctx.kafka_bootstrap,
        "ACCESS_LOG": "false",
        "LOG_LEVEL": "WARNING",
        "ENVIRONMENT": "development",
        **UNLIMITED,
        "NOTIFY_PROVIDER": "dev",
        "NOTIFY_TWILIO_BASE_URL": f"http://127.0.0.1:{gateway_port}",
        "NOTIFY_PUBLIC_URL": "",  # no delivery callbacks: the figure is the send path
        "NOTIFY_QUIET_HOURS_START": "00:00",
        "NOTIFY_QUIET_HOURS_END": "00:00",
        "NOTIFY_STAFF_RATE_LIMIT": "0",
        "NOTIFY_GATEWAY_KEEP": "200000",
        "NOTIFY_GATEWAY_DELIVERY_DELAY": "0",
        "ESCALATION_DEFAULT_DUTY_MANAGER": "DM01",
    }


def _worker(service: str, env: dict[str, str], log: Path, topics: dict[str, str]) -> Server:
    argv = [PYTHON, "-m", "bench.notify", "worker", service]
    return Server([*argv, *(f"--topic={p}={r}" for p, r in topics.items())], env, log)


def _fresh_topics(ctx: Context) -> dict[str, str]:
    """The run's topic in place of each platform topic, ready for a consumer group."""
    from shared.topics import SMS_EVENTS, TOPIC_OWNERS

    topics = {t: fresh_topic(ctx, partitions=3 if t == SMS_EVENTS else 6) for t in TOPIC_OWNERS}
    _topics_ready(ctx, *topics.values())
    return topics


def _topics_ready(ctx: Context, *topics: str) -> None:
    """Wait until every partition of these new topics has a leader: a consumer group
    formed before that gets none of their partitions, and looks again only minutes later."""
    from kafka import KafkaConsumer, TopicPartition

    from shared.kafka import client_config

    probe = KafkaConsumer(**client_config(ctx.settings()), enable_auto_commit=False)
    try:
        deadline = time.monotonic() + 30
        while True:
            probe.topics()
            cluster = probe._client.cluster
            if all(
                (parts := cluster.partitions_for_topic(t))
                and all(
                    cluster.leader_for_partition(TopicPartition(t, p)) not in (None, -1)
                    for p in parts
                )
                for t in topics
            ):
                return
            if time.monotonic() > deadline:
                raise BenchError(f"no metadata for {', '.join(topics)} after 30s")
            time.sleep(0.2)
    finally:
        probe.close()


def _gateway_count(http: httpx.Client, url: str, phone: str | None = None) -> int:
    params = {"to": phone} if phone else {}
    return int(http.get(f"{url}/api/stats", params=params).json()["messages"])


def _received_events(count: int) -> list[Any]:
    from shared.contracts import COMPLAINT_RECEIVED, ComplaintReceived
    from shared.events import Actor, registry

    now = datetime.now(UTC)
    agent = Actor(id="A001", role="agent")
    events = []
    for n in range(count):
        cid = str(uuid.uuid4())
        payload = ComplaintReceived(
            complaint_id=cid,
            reference=f"TS20261122-{n:06d}",
            customer_phone=f"+86138{n:08d}",
            channel="phone",
            category="billing",
            severity="normal",
            nature="genuine",
            description="上月话费账单多扣了 30 元，客服一直没有回复。",
            registered_at=now,
            registered_by="A001",
        )
        events.append(
            registry.new(
                COMPLAINT_RECEIVED.name,
                payload,
                source="intake",
                tenant="default",
                actor=agent,
                complaint_id=cid,
            )
        )
    return events


def _seed_escalation(ctx: Context, settings: Any) -> None:
    """A duty manager on duty now, in the escalation directory."""
    from fastapi.testclient import TestClient

    from bench.common import bench_token
    from services.escalation.main import create_app
    from shared.db import database_for
    from shared.settings import AUTH_STORE

    auth = database_for(AUTH_STORE, settings)
    token = bench_token(auth, "AD01", "admin")
    auth.dispose()
    admin = {"Authorization": f"Bearer {token}"}
    now = datetime.now(UTC)
    with TestClient(create_app(settings)) as client:
        person = {"id": "DM01", "name": "王经理", "phone": DUTY_MANAGER_PHONE}
        answer = client.post("/staff", json={**person, "role": "duty_manager"}, headers=admin)
        if answer.status_code != 201:
            raise BenchError(f"could not seed the directory: {answer.text}")
        shift = {
            "staff_id": "DM01",
            "starts_at": (now - timedelta(hours=1)).isoformat(),
            "ends_at": (now + timedelta(hours=8)).isoformat(),
        }
        answer = client.post("/roster/shifts", json=shift, headers=admin)
        if answer.status_code != 201:
            raise BenchError(f"could not seed the roster: {answer.text}")


def run(ctx: Context) -> Iterator[Figure | Check]:
    from bench.common import bench_token
    from shared.db import database_for
    from shared.events import encode, kafka_headers
    from shared.kafka import create_producer
    from shared.migrations import upgrade
    from shared.settings import AUTH_STORE
    from shared.topics import INTAKE_EVENTS

    prefix = f"b{uuid.uuid4().hex[:6]}_"
    settings = ctx.settings(schema_prefix=prefix)
    stores = ("intake", "escalation", "notify", AUTH_STORE)
    for store in stores:
        upgrade(store, url=ctx.database_url, schema=settings.schema_for(store))
    log_dir = ctx.run_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    gateway_port = free_port()
    env = _env(ctx, prefix, gateway_port)
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    servers: list[Server] = []
    http = httpx.Client(timeout=30)
    try:
        servers.append(
            Server(
                uvicorn_argv("services.notify.gateway:create_app", gateway_port, 1, True),
                env,
                log_dir / "sms-gateway.log",
            )
        )
        wait_ready(f"{gateway_url}/healthz")

        # -- throughput: events → gateway ---------------------------------------------
        total = 2_000 if ctx.quick else 20_000
        topics = _fresh_topics(ctx)
        notify = _worker("notify", env, log_dir / "notify-worker.log", topics)
        servers.append(notify)
        producer = create_producer(settings, "bench-publisher")
        try:

            def publish(events: list[Any]) -> None:
                for e in events:
                    producer.send(
                        topics[INTAKE_EVENTS],
                        key=e.key.encode(),
                        value=encode(e),
                        headers=kafka_headers(e),
                    )
                producer.flush(timeout=60)

            warm = _received_events(1)
            publish(warm)
            deadline = time.monotonic() + 60
            while _gateway_count(http, gateway_url) < 1:
                if time.monotonic() > deadline:
                    raise BenchError("the warm-up SMS never reached the gateway")
                time.sleep(0.05)
            events = _received_events(total + 1)[1:]
            started = time.perf_counter()
            publish(events)
            deadline = time.monotonic() + 600
            while (count := _gateway_count(http, gateway_url)) < total + 1:
                if time.monotonic() > deadline:
                    raise BenchError(f"only {count - 1} of {total} SMS reached the gateway")
                time.sleep(0.1)
            seconds = time.perf_counter() - started
            time.sleep(1)  # a duplicate sent after the last one would show by now
            yield Check(
                NAME,
                "SMS at the gateway = complaint.received events published (+1 warm-up)",
                total + 1,
                _gateway_count(http, gateway_url),
            )
        finally:
            producer.close(timeout=10)
        notify.stop()
        servers.remove(notify)
        yield Figure(
            NAME,
            "SMS pipeline, event to gateway",
            round(total / seconds, 1),
            "messages/s",
            f"{total:,} complaint.received events, one consumer, "
            f"{env.get('NOTIFY_SEND_CONCURRENCY', '16')} sends in flight",
        )
        http.delete(f"{gateway_url}/api/messages")

        # -- latency: POST /complaints → the duty manager's SMS -------------------------
        _seed_escalation(ctx, settings)
        logging.getLogger().setLevel(logging.WARNING)  # the app's start set INFO
        topics = _fresh_topics(ctx)
        for service in ("intake", "escalation", "notify"):
            servers.append(_worker(service, env, log_dir / f"{service}-worker.log", topics))
        api_port = free_port()
        servers.append(
            Server(
                uvicorn_argv("services.intake.main:create_app", api_port, 1, True),
                env,
                log_dir / "intake-api.log",
            )
        )
        api = f"http://127.0.0.1:{api_port}"
        wait_ready(f"{api}/readyz")
        auth = database_for(AUTH_STORE, settings)
        token = bench_token(auth, "A001", "agent")
        auth.dispose()
        headers = {"Authorization": f"Bearer {token}"}
        rate, seconds_at_rate = 50, 5 if ctx.quick else 30
        body = {
            "customer_phone": "13800138000",
            "channel": "phone",
            "category": "billing",
            "severity": "high",
            "nature": "genuine",
            "description": "上月话费账单多扣了 30 元，客服一直没有回复。",
        }
        sent_at: dict[str, float] = {}
        failures = 0
        lock = threading.Lock()

        def register(n: int) -> None:
            nonlocal failures
            t0 = time.time()
            answer = http.post(f"{api}/complaints", json=body, headers=headers)
            with lock:
                if answer.status_code == 201:
                    sent_at[answer.json()["reference"]] = t0
                else:
                    failures += 1

        # Warm up the whole path first, then the measured run at a fixed rate.
        register(-1)
        deadline = time.monotonic() + 90
        while _gateway_count(http, gateway_url, DUTY_MANAGER_PHONE) < 1:
            if time.monotonic() > deadline:
                raise BenchError("the warm-up complaint never reached the duty manager's phone")
            time.sleep(0.05)
        sent_at.clear()
        count = rate * seconds_at_rate
        with ThreadPoolExecutor(32) as pool:
            start = time.monotonic()
            for n in range(count):
                delay = start + n / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                pool.submit(register, n)
        yield Check(NAME, "registrations refused or failed", 0, failures)
        yield Check(NAME, "registrations acknowledged (201)", count, len(sent_at))
        say(f"{NAME}: {count:,} complaints registered at {rate}/s; waiting for their SMS")
        deadline = time.monotonic() + 120
        while _gateway_count(http, gateway_url, DUTY_MANAGER_PHONE) < count + 1:
            if time.monotonic() > deadline:
                raise BenchError("not every complaint reached the duty manager's phone")
            time.sleep(0.5)
        latencies = []
        for sms_row in http.get(
            f"{gateway_url}/api/messages", params={"to": DUTY_MANAGER_PHONE}
        ).json()["messages"]:
            found = _REFERENCE.search(sms_row["body"])
            if found and found.group(0) in sent_at:
                arrived = datetime.fromisoformat(sms_row["created_at"]).timestamp()
                latencies.append((arrived - sent_at[found.group(0)]) * 1000)
        yield Check(
            NAME,
            "duty manager's SMS = complaints acknowledged (+1 warm-up)",
            count + 1,
            _gateway_count(http, gateway_url, DUTY_MANAGER_PHONE),
        )
        yield Check(NAME, "SMS matched to their complaints", count, len(latencies))
        note = f"{count:,} complaints at {rate}/s through intake, escalation and notify"
        for p in (50, 95, 99):
            yield Figure(
                NAME,
                f"POST /complaints → duty manager's SMS p{p}",
                round(percentile(latencies, p), 1),
                "ms",
                note if p == 50 else ("goal < 500 ms" if p == 99 else ""),
            )
    finally:
        http.close()
        for server in reversed(servers):
            server.stop()
        for store in stores:
            drop_schema(ctx, settings.schema_for(store))


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["worker"]:
        return worker_main(args[1:])
    print(json.dumps({"usage": "python -m bench notify, or: python -m bench.notify worker …"}))
    return 2


if __name__ == "__main__":
    sys.exit(main())
