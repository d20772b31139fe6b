"""Kafka clients configured the one way this platform uses them."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

from kafka import KafkaProducer

from shared.settings import Settings


def create_producer(settings: Settings, client_id: str, **overrides: Any) -> KafkaProducer:
    """An idempotent producer that waits for every in-sync replica (acks=all)."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers.split(","),
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": True,
        # Batches go out within a few ms: the relay sends many at once anyway.
        "linger_ms": 2,
        "request_timeout_ms": settings.kafka_request_timeout_ms,
        "delivery_timeout_ms": settings.kafka_request_timeout_ms * 3,
        "max_block_ms": settings.kafka_max_block_ms,
        "retry_backoff_ms": 100,
        "reconnect_backoff_max_ms": 2000,
    }
    config.update(overrides)
    return KafkaProducer(**config)


class KafkaProbe:
    """Answers "is the broker reachable?" for readiness checks, cached for a moment."""

    def __init__(self, settings: Settings, *, cache_seconds: float = 2.0) -> None:
        self._settings = settings
        self._cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._checked_at = 0.0
        self._result: tuple[bool, str] = (False, "not checked yet")
        self._admin: Any = None

    def check(self) -> tuple[bool, str]:
        with self._lock:
            now = time.monotonic()
            if now - self._checked_at < self._cache_seconds:
                return self._result
            self._result = self._probe()
            self._checked_at = time.monotonic()
            return self._result

    def _probe(self) -> tuple[bool, str]:
        from kafka.admin import KafkaAdminClient

        try:
            if self._admin is None:
                self._admin = KafkaAdminClient(
                    bootstrap_servers=self._settings.kafka_bootstrap_servers.split(","),
                    client_id="readiness",
                    request_timeout_ms=3000,
                    bootstrap_timeout_ms=3000,
                )
            cluster = self._admin.describe_cluster()
            brokers = len(cluster.get("brokers", []))
            if not brokers:
                return False, "no brokers in cluster metadata"
            return True, f"{brokers} broker(s)"
        except Exception as exc:
            self.close()
            return False, f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        if self._admin is not None:
            # closing a broken client may fail; there is nothing left to do then
            with contextlib.suppress(Exception):
                self._admin.close()
            self._admin = None
