"""Prometheus metrics, served by every service's API at `GET /metrics` (no token).

Two kinds of figures, measured where they are true:

- What one API process answered: `http_requests_total` by method, route template (never
  the raw path, so one complaint id is not one series) and status, and the latency
  histogram `http_request_duration_seconds`. Each process counts its own; Prometheus
  adds the pods up. With several uvicorn workers behind one port, point
  `PROMETHEUS_MULTIPROC_DIR` at an empty directory of that API alone and the workers
  count together there (deploy/entrypoint.py does this for `api <service> --workers N`).
- What the system's state says, whichever process does the work (the worker consumes,
  relays and sends; the API serves the scrape): the consumer group's lag from Kafka, the
  outbox backlog from the database, notify's SMS from its message log. These are read
  when scraped, by one thread at a time, at most once per `cache_seconds`, and a scrape
  waits for them at most `timeout_seconds`: a slow or absent Kafka or database shows as
  `<figure>_up 0`, never as a scrape that hangs, and Kafka is not asked on every scrape.
  Every replica of an API reports the same figures: aggregate them with max, not sum.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Table, func, select

from shared.db import Database
from shared.kafka import client_config
from shared.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

# Anything else is counted as OTHER: a client inventing methods must not invent series.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Requests no route took (404 for an unknown path, a body refused before routing).
UNMATCHED = "<unmatched>"

# `*_created` series double what is stored and say nothing a restart does not.
disable_created_metrics()

REQUESTS = Counter(
    "http_requests",
    "HTTP requests answered, by method, route template and status.",
    ["service", "method", "route", "status"],
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template.",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def route_of(scope: MutableMapping[str, Any]) -> str:
    """The template of the route that took the request (`/complaints/{complaint_id}`)."""
    route = scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


def observe_request(
    service: str, scope: MutableMapping[str, Any], status: int, seconds: float
) -> None:
    method = scope.get("method", "")
    method = method if method in HTTP_METHODS else "OTHER"
    route = route_of(scope)
    REQUESTS.labels(service, method, route, str(status)).inc()
    LATENCY.labels(service, method, route).observe(seconds)


# -- figures read when scraped --------------------------------------------------------------


@dataclass(frozen=True)
class Reading(Generic[T]):
    """A figure as last read: its value, or why there is none."""

    value: T | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Cached(Generic[T]):
    """Reads a figure in a thread of its own, at most once per `ttl` seconds, and lets a
    caller wait for it at most `timeout` seconds.

    One read at a time: scrapes that arrive while it runs wait for that same read. A read
    that takes longer than the timeout is reported as unavailable and its result, when
    it comes, serves the next scrapes. Failures are kept for `ttl` too, so a broker that
    is down is not asked again on every scrape.
    """

    def __init__(self, name: str, read: Callable[[], T], *, ttl: float, timeout: float) -> None:
        self.name = name
        self._read = read
        self.ttl = ttl
        self.timeout = timeout
        self._lock = threading.Lock()
        self._reading: Reading[T] | None = None
        self._read_at = 0.0
        self._running: threading.Event | None = None

    def get(self) -> Reading[T]:
        with self._lock:
            if self._reading is not None and time.monotonic() - self._read_at < self.ttl:
                return self._reading
            if self._running is None:
                self._running = threading.Event()
                threading.Thread(
                    target=self._refresh,
                    args=(self._running,),
                    name=f"metrics-{self.name}",
                    daemon=True,
                ).start()
            running = self._running
        if not running.wait(self.timeout):
            return Reading(None, f"no answer within {self.timeout:g}s")
        with self._lock:
            assert self._reading is not None
            return self._reading

    def _refresh(self, done: threading.Event) -> None:
        try:
            reading: Reading[T] = Reading(self._read())
        except Exception as exc:
            reading = Reading(None, f"{type(exc).__name__}: {exc}")
        with self._lock:
            was_ok = self._reading is None or self._reading.ok
            if was_ok and not reading.ok:
                log.warning("metrics: %s unavailable: %s", self.name, reading.error)
            elif not was_ok and reading.ok:
                log.info("metrics: %s available again", self.name)
            self._reading = reading
            self._read_at = time.monotonic()
            self._running = None
        done.set()


@contextlib.contextmanager
def bounded_read(db: Database, seconds: float) -> Iterator[Connection]:
    """A connection whose statements PostgreSQL cancels after `seconds`; nothing is
    committed."""
    with db.engine.connect() as conn:
        if db.is_postgres:
            conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, int(seconds * 1000))}")
        yield conn


def age_seconds(since: datetime | None, now: datetime | None = None) -> float:
    if since is None:
        return 0.0
    return max(0.0, ((now or datetime.now(UTC)) - since).total_seconds())


def up_gauge(name: str, documentation: str, service: str, reading: Reading[Any]) -> Metric:
    gauge = GaugeMetricFamily(name, documentation, labels=["service"])
    gauge.add_metric([service], 1.0 if reading.ok else 0.0)
    return gauge


# -- the outbox backlog ---------------------------------------------------------------------


@dataclass(frozen=True)
class Backlog:
    unsent: int
    oldest: datetime | None


def read_backlog(db: Database, table: Table, *, timeout: float) -> Backlog:
    """Rows the relay has not published yet, and when the oldest of them was written."""
    with bounded_read(db, timeout) as conn:
        unsent, oldest = conn.execute(
            select(func.count(), func.min(table.c.created_at)).where(table.c.sent_at.is_(None))
        ).one()
    return Backlog(int(unsent or 0), oldest)


class OutboxCollector:
    def __init__(self, service: str, cached: Cached[Backlog]) -> None:
        self.service = service
        self.cached = cached

    def collect(self) -> Iterable[Metric]:
        reading = self.cached.get()
        yield up_gauge(
            "outbox_up", "1 when the outbox backlog could be read.", self.service, reading
        )
        if reading.value is None:
            return
        unsent = GaugeMetricFamily(
            "outbox_unsent_events",
            "Events stored with their change and not yet published to Kafka.",
            labels=["service"],
        )
        unsent.add_metric([self.service], reading.value.unsent)
        yield unsent
        oldest = GaugeMetricFamily(
            "outbox_oldest_unsent_age_seconds",
            "How long the oldest unpublished event has waited (0: none waiting).",
            labels=["service"],
        )
        oldest.add_metric([self.service], age_seconds(reading.value.oldest))
        yield oldest


# -- consumer lag ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int  # -1: the group has committed nothing there yet
    end: int
    lag: int


class ConsumerLag:
    """A consumer group's committed offsets against the end of each partition it reads,
    asked of the broker with an admin client of its own."""

    def __init__(
        self, settings: Settings, group: str, topics: Sequence[str], *, timeout: float
    ) -> None:
        self.settings = settings
        self.group = group
        self.topics = list(topics)
        self.timeout_ms = max(1000, int(timeout * 1000))
        self._admin: Any = None

    def read(self) -> list[PartitionLag]:
        from kafka import TopicPartition
        from kafka.admin import OffsetSpec

        try:
            admin = self._client()
            partitions: list[Any] = []
            for topic in admin.describe_topics(self.topics):
                if topic["error_code"] != 0:
                    raise LookupError(f"topic {topic['name']}: error {topic['error_code']}")
                partitions += [
                    TopicPartition(topic["name"], p["partition_index"]) for p in topic["partitions"]
                ]
            committed = admin.list_group_offsets({self.group: partitions})[self.group]
            ends = admin.list_partition_offsets({tp: OffsetSpec.LATEST for tp in partitions})
            # The consumer starts where the log starts (auto_offset_reset=earliest).
            fresh = [tp for tp in partitions if _offset(committed.get(tp)) < 0]
            starts = (
                admin.list_partition_offsets({tp: OffsetSpec.EARLIEST for tp in fresh})
                if fresh
                else {}
            )
        except Exception:
            self.close()
            raise
        lags = []
        for tp in sorted(partitions):
            done = _offset(committed.get(tp))
            end = ends[tp].offset
            start = done if done >= 0 else starts[tp].offset
            lags.append(PartitionLag(tp.topic, tp.partition, done, end, max(0, end - start)))
        return lags

    def _client(self) -> Any:
        if self._admin is None:
            from kafka.admin import KafkaAdminClient

            self._admin = KafkaAdminClient(
                **client_config(self.settings),
                client_id="metrics",
                request_timeout_ms=self.timeout_ms,
                bootstrap_timeout_ms=self.timeout_ms,
            )
        return self._admin

    def close(self) -> None:
        if self._admin is not None:
            with contextlib.suppress(Exception):  # a broken client: nothing left to do
                self._admin.close()
            self._admin = None


def _offset(committed: Any) -> int:
    return -1 if committed is None else int(committed.offset)


class ConsumerLagCollector:
    def __init__(self, service: str, group: str, cached: Cached[list[PartitionLag]]) -> None:
        self.service = service
        self.group = group
        self.cached = cached

    def collect(self) -> Iterable[Metric]:
        reading = self.cached.get()
        up = GaugeMetricFamily(
            "kafka_consumer_lag_up",
            "1 when the consumer group's offsets could be read from Kafka.",
            labels=["service", "group"],
        )
        up.add_metric([self.service, self.group], 1.0 if reading.ok else 0.0)
        yield up
        if reading.value is None:
            return
        lag = GaugeMetricFamily(
            "kafka_consumer_lag",
            "Messages on the partition the service's consumer group has not committed yet.",
            labels=["service", "group", "topic", "partition"],
        )
        committed = GaugeMetricFamily(
            "kafka_consumer_committed_offset",
            "The group's committed offset on the partition (-1: none yet).",
            labels=["service", "group", "topic", "partition"],
        )
        for p in reading.value:
            labels = [self.service, self.group, p.topic, str(p.partition)]
            lag.add_metric(labels, p.lag)
            committed.add_metric(labels, p.committed)
        yield lag
        yield committed


# -- one service's metrics --------------------------------------------------------------------


@dataclass(frozen=True)
class MetricsContext:
    """What a service's own collectors get to read their figures the same bounded way."""

    service: str
    db: Database
    settings: Settings
    cache_seconds: float
    timeout_seconds: float

    def cached(self, name: str, read: Callable[[], T]) -> Cached[T]:
        return Cached(
            f"{self.service}-{name}", read, ttl=self.cache_seconds, timeout=self.timeout_seconds
        )


@dataclass(frozen=True)
class MetricsSpec:
    """What a service's /metrics reports besides its HTTP requests."""

    # The outbox table whose unsent rows are the backlog.
    outbox: Table | None = None
    # The worker's Kafka consumer group and the topics it reads.
    consumer_group: str | None = None
    topics: Sequence[str] = ()
    # The service's own figures (notify: its SMS).
    collectors: Callable[[MetricsContext], Sequence[Collector]] = lambda ctx: ()
    cache_seconds: float = 5.0
    timeout_seconds: float = 2.0

    @classmethod
    def of_worker(cls, worker: Any, **extra: Any) -> MetricsSpec:
        """The backlog and the consumer lag of a service's worker (shared.worker.WorkerSpec),
        whose consumer group is named after the service."""
        topics = list(worker.topics)
        group = (worker.consumer_kwargs.get("group_id") or worker.service) if topics else None
        return cls(outbox=worker.outbox, consumer_group=group, topics=topics, **extra)


class ServiceMetrics:
    """The registry one app serves: the process's request metrics and the service's
    figures read when scraped."""

    def __init__(
        self, service: str, spec: MetricsSpec, *, db: Database, settings: Settings
    ) -> None:
        ctx = MetricsContext(service, db, settings, spec.cache_seconds, spec.timeout_seconds)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Forward(process_registry()))
        self._lag: ConsumerLag | None = None
        if spec.outbox is not None:
            table = spec.outbox
            backlog = ctx.cached(
                "outbox", lambda: read_backlog(db, table, timeout=spec.timeout_seconds)
            )
            self.registry.register(OutboxCollector(service, backlog))
        if spec.consumer_group and spec.topics:
            self._lag = ConsumerLag(
                settings, spec.consumer_group, spec.topics, timeout=spec.timeout_seconds
            )
            lag = ctx.cached("consumer-lag", self._lag.read)
            self.registry.register(ConsumerLagCollector(service, spec.consumer_group, lag))
        for collector in spec.collectors(ctx):
            self.registry.register(collector)

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The scrape's body and content type, in the format the scraper asked for."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type

    def close(self) -> None:
        if self._lag is not None:
            self._lag.close()


class _Forward:
    """Serves another registry's metrics from this one."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterable[Metric]:
        return self.registry.collect()


_process_registry: CollectorRegistry | None = None


def process_registry() -> CollectorRegistry:
    """This process's request metrics, or every worker's in multiprocess mode."""
    global _process_registry
    if _process_registry is None:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            _process_registry = registry
        else:
            _process_registry = REGISTRY
    return _process_registry


def metrics_router() -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get(
        "/metrics",
        summary="Prometheus metrics: requests, consumer lag, outbox backlog",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    def metrics(request: Request) -> Response:
        # A plain function: FastAPI runs it in a thread, so the reads it may wait for
        # (bounded by the spec's timeout) never hold up the event loop.
        body, content_type = request.app.state.metrics.exposition(request.headers.get("accept", ""))
        return Response(body, headers={"content-type": content_type})

    return router
