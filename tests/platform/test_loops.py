"""The loop every background process runs: each failure in a row waits longer (up to a
ceiling, with jitter), a success starts again from the first wait, the log names the
loop, and a stop ends it; and the waiter that sleeps until there is work."""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from shared.db import Database, create_database
from shared.loops import Backoff, Fatal, Stopped, Waiter, retry, run_until_stopped
from shared.loops import Stop as WorkerStop
from shared.worker import wait_for


class Stop(threading.Event):
    """A stop event that does not sleep: it keeps the waits asked of it, and is set
    after `waits` of them."""

    def __init__(self, waits: int = 1_000) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.limit = waits

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        if len(self.waits) >= self.limit:
            self.set()
        return self.is_set()


def steps(*outcomes: Exception | None, stop: Stop) -> Callable[[], None]:
    """A step that fails or succeeds as told, one outcome per call, then stops the loop."""
    queue = list(outcomes)

    def step() -> None:
        if not queue:
            stop.set()
            return
        outcome = queue.pop(0)
        if outcome is not None:
            raise outcome

    return step


def test_each_failure_in_a_row_waits_about_twice_as_long_up_to_the_ceiling() -> None:
    backoff = Backoff("relay", first=0.2, ceiling=1.0)
    waits = [backoff.next() for _ in range(6)]
    for wait, full in zip(waits, [0.2, 0.4, 0.8, 1.0, 1.0, 1.0], strict=True):
        assert full / 2 <= wait <= full
    backoff.reset()
    assert 0.1 <= backoff.next() <= 0.2


def test_the_waits_are_spread_so_processes_stopped_together_do_not_retry_together() -> None:
    waits = {Backoff("relay", first=1.0, ceiling=1.0).next() for _ in range(50)}
    assert len(waits) > 40
    assert min(waits) >= 0.5 and max(waits) <= 1.0


def test_a_loop_backs_off_on_failures_starts_again_after_a_success_and_names_itself(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = Stop()
    boom = RuntimeError("broker down")
    step = steps(boom, boom, boom, None, boom, stop=stop)
    with caplog.at_level(logging.WARNING, logger="shared.loops"):
        run_until_stopped(step, stop, Backoff("outbox relay", first=0.2, ceiling=10.0))
    assert len(stop.waits) == 4
    first, second, third, after_success = stop.waits
    assert 0.1 <= first <= 0.2 and 0.2 <= second <= 0.4 and 0.4 <= third <= 0.8
    assert 0.1 <= after_success <= 0.2
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("outbox relay: broker down; retrying in ")
    assert len(lines) == 4


def test_a_fatal_error_ends_the_loop_instead_of_being_retried() -> None:
    stop = Stop()
    step = steps(RuntimeError("once"), Fatal("poll failed"), stop=stop)
    with pytest.raises(Fatal, match="poll failed"):
        run_until_stopped(step, stop, Backoff("consumer", first=0.2, ceiling=10.0))
    assert len(stop.waits) == 1


def test_a_loop_told_to_stop_ends_without_another_step() -> None:
    stop = threading.Event()
    calls = 0

    def step() -> None:
        nonlocal calls
        calls += 1
        stop.set()
        raise RuntimeError("failing while stopping")

    started = time.monotonic()
    run_until_stopped(step, stop, Backoff("sender", first=5.0, ceiling=10.0))
    assert calls == 1
    assert time.monotonic() - started < 1.0


def test_retry_waits_out_what_it_is_told_to_and_raises_the_rest() -> None:
    stop = Stop()
    answers: list[Exception | str] = [ConnectionError("down"), ConnectionError("down"), "ok"]

    def attempt() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    transient = Backoff("database unavailable", first=0.2, ceiling=15.0)
    assert (
        retry(attempt, stop, transient, retry_if=lambda e: isinstance(e, ConnectionError)) == "ok"
    )
    assert len(stop.waits) == 2

    def bug() -> str:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        retry(bug, stop, transient, retry_if=lambda e: isinstance(e, ConnectionError))
    assert len(stop.waits) == 2


def test_retry_gives_up_with_stopped_once_told_to_stop() -> None:
    stop = Stop(waits=2)

    def attempt() -> None:
        raise ConnectionError("still down")

    with pytest.raises(Stopped):
        retry(attempt, stop, Backoff("database unavailable", first=0.2, ceiling=15.0))
    assert len(stop.waits) == 2


def test_a_worker_waits_for_its_dependencies_and_says_what_it_waits_for(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = threading.Event()
    tries = 0

    def attempt() -> str:
        nonlocal tries
        tries += 1
        if tries < 3:
            raise ConnectionError("connection refused")
        return "connected"

    with caplog.at_level(logging.WARNING, logger="shared.loops"):
        assert wait_for("Kafka", attempt, stop) == "connected"
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert all(line.startswith("waiting for Kafka: connection refused;") for line in lines)

    stop.set()
    with pytest.raises(SystemExit):
        wait_for("Kafka", attempt, stop)


# -- the waiter ---------------------------------------------------------------------------


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    db = create_database(f"sqlite:///{tmp_path}/loops.db", schema="loops")
    yield db
    db.dispose()


def test_without_notifications_the_waiter_polls_or_waits_less_when_work_falls_due_sooner(
    sqlite_db: Database,
) -> None:
    waiter = Waiter(sqlite_db, "unused", name="sender", poll_seconds=0.05)
    stop = Stop()
    waiter.wait(stop, lambda: 1.0)
    waiter.wait(stop, lambda: 0.01)
    waiter.wait(stop, lambda: 0.0)
    assert stop.waits == [0.05, 0.01]


@pytest.mark.postgres
def test_a_notification_wakes_the_waiter_and_the_timeout_ends_a_quiet_wait(
    migrated: Callable[[str], Database],
) -> None:
    db = migrated("intake")
    channel = f"loops_{db.schema}"
    waiter = Waiter(db, channel, name="outbox relay", poll_seconds=0.05)
    stop = threading.Event()
    asked = 0

    def timeout() -> float:
        nonlocal asked
        asked += 1
        return 0.5

    try:
        waiter.listen()
        started = time.monotonic()
        waiter.wait(stop, timeout)
        assert 0.45 <= time.monotonic() - started < 2.0

        with db.engine.begin() as conn:
            conn.execute(text(f"NOTIFY {channel}"))
            conn.execute(text(f"NOTIFY {channel}, 'second'"))
        time.sleep(0.3)  # delivered to the waiter's connection while the loop worked
        asked = 0
        started = time.monotonic()
        waiter.wait(stop, timeout)
        assert time.monotonic() - started < 0.3
        assert asked == 0  # written meanwhile: no need to ask how long to wait

        # Both notifications were covered by the one wake-up.
        started = time.monotonic()
        waiter.wait(stop, timeout)
        assert time.monotonic() - started >= 0.45
    finally:
        waiter.close()


@pytest.mark.postgres
def test_a_long_quiet_wait_ends_within_a_moment_once_its_loop_is_told_to_stop(
    migrated: Callable[[str], Database],
) -> None:
    db = migrated("intake")
    waiter = Waiter(db, f"loops_{db.schema}", name="outbox relay", poll_seconds=0.05)
    stop = threading.Event()
    try:
        waiter.listen()
        threading.Timer(0.3, stop.set).start()
        started = time.monotonic()
        waiter.wait(stop, lambda: 30.0)  # a relay's safety pass is ten seconds off
        assert time.monotonic() - started < 2.0
    finally:
        waiter.close()


@pytest.mark.postgres
def test_a_worker_waiter_sleeps_through_a_quiet_wait_and_wakes_at_once_on_work_or_stop(
    migrated: Callable[[str], Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the worker's own stop signal the waiter sleeps in one piece (no wake-up a
    second to see whether it is told to stop), yet a notification or the stop wakes it
    at once."""
    db = migrated("intake")
    channel = f"loops_{db.schema}"
    waiter = Waiter(db, channel, name="outbox relay", poll_seconds=0.05)
    stop = WorkerStop()
    sleeps: list[float] = []
    real_select = select.select

    def counted(*args: Any) -> Any:
        sleeps.append(args[3])
        return real_select(*args)

    monkeypatch.setattr(select, "select", counted)  # the module shared.loops calls
    try:
        waiter.listen()
        started = time.monotonic()
        waiter.wait(stop, lambda: 2.5)
        assert 2.4 <= time.monotonic() - started < 3.5
        assert len(sleeps) == 1 and sleeps[0] > 2.4

        def notify() -> None:
            with db.engine.begin() as conn:
                conn.execute(text(f"NOTIFY {channel}"))

        threading.Timer(0.3, notify).start()
        started = time.monotonic()
        waiter.wait(stop, lambda: 30.0)
        assert time.monotonic() - started < 1.0

        threading.Timer(0.3, stop.set).start()
        started = time.monotonic()
        waiter.wait(stop, lambda: 30.0)
        assert time.monotonic() - started < 0.8
    finally:
        read, write, _ = waiter._pipe or (None, None, None)
        waiter.end()
    assert waiter._pipe is None and write not in stop._pipes
    with pytest.raises(OSError):
        os.fstat(read)  # type: ignore[arg-type]
