"""Helpers for tests that drive the real infrastructure."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def kafka_ctl(command: str) -> None:
    """scripts/kafka.sh start|stop|kill for the test stack's broker."""
    env = {**os.environ, "STACK": os.environ.get("TEST_STACK", "test")}
    subprocess.run(
        [str(ROOT / "scripts" / "kafka.sh"), command], env=env, check=True, capture_output=True
    )


def wait_until(
    predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.1
) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def read_topic(bootstrap: str, topic: str, *, expect: int, timeout: float = 30.0) -> list[Any]:
    """Every record on a topic from the beginning, once `expect` of them are there."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
    )
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < expect and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records


def consume_until(consumer: Any, *, handled: int, timeout: float, what: str) -> None:
    """Run an EventConsumer in a thread until it has handled (or recognised as
    duplicates) `handled` events, then stop it and wait for it to finish."""
    import threading

    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: consumer.stats.handled + consumer.stats.duplicates >= handled,
            timeout=timeout,
            what=what,
        )
    finally:
        stop.set()
        thread.join(timeout=30)
