"""What a background loop needs: to run until it is told to stop, to wait longer after
each failure in a row, and to sleep until there is work.

A worker's loops (the outbox relay, the Kafka consumer, notify's sender) and its start-up
(waiting for the database and the broker) all go through these, so they log their
failures alike: `<the loop>: <the error>; retrying in 0.4s`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import select
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from shared.db import Database

log = logging.getLogger(__name__)

T = TypeVar("T")


class Stopped(Exception):
    """Told to stop before the call being retried succeeded."""


class Stop(threading.Event):
    """A worker's stop signal, which also wakes at once the waits that watch it: a
    `Waiter` then sleeps on PostgreSQL until work comes or its safety pass falls due,
    instead of waking every second to see whether it is told to stop. `set` writes a
    byte to each watcher's pipe (nothing that could block: it is called from a signal
    handler)."""

    def __init__(self) -> None:
        super().__init__()
        self._pipes: set[int] = set()

    def watch(self, fd: int) -> None:
        self._pipes.add(fd)
        if self.is_set():
            _poke(fd)

    def unwatch(self, fd: int) -> None:
        self._pipes.discard(fd)

    def set(self) -> None:
        super().set()
        for fd in tuple(self._pipes):
            _poke(fd)


def _poke(fd: int) -> None:
    with contextlib.suppress(OSError):  # full (already poked) or closed
        os.write(fd, b"!")


class Fatal(Exception):
    """Raised by a step for an error that is not to be retried: it ends the loop and
    propagates, so that the worker stops and its supervisor starts a fresh one."""


class Backoff:
    """How long to wait after a failure: `first`, doubled after each failure in a row up
    to `ceiling`, and back to `first` after a success.

    Each wait is drawn between half and all of that, so that the processes one outage
    stopped together do not all come back in the same instant.
    """

    def __init__(self, name: str, *, first: float, ceiling: float) -> None:
        self.name = name
        self.first = first
        self.ceiling = ceiling
        self._delay = first

    def next(self) -> float:
        """The wait before the next try; the one after it is longer."""
        wait = self._delay * random.uniform(0.5, 1.0)
        self._delay = min(self._delay * 2, self.ceiling)
        return wait

    def reset(self) -> None:
        self._delay = self.first

    def wait_after(self, exc: BaseException, stop: threading.Event) -> bool:
        """Log the failure, then wait (cut short if told to stop); whether told to stop."""
        wait = self.next()
        log.warning("%s: %s; retrying in %.1fs", self.name, exc, wait)
        return stop.wait(wait)


def run_until_stopped(step: Callable[[], object], stop: threading.Event, backoff: Backoff) -> None:
    """Call `step` again and again until `stop` is set.

    An exception from `step` is logged with the loop's name and the next call waits the
    backoff, which a call that returns resets; `Fatal` ends the loop instead. `step` does
    its own waiting for work, so this loop never spins.
    """
    while not stop.is_set():
        try:
            step()
        except Fatal:
            raise
        except Exception as exc:
            backoff.wait_after(exc, stop)
            continue
        backoff.reset()


def retry(
    attempt: Callable[[], T],
    stop: threading.Event,
    backoff: Backoff,
    *,
    retry_if: Callable[[Exception], bool] = lambda exc: True,
) -> T:
    """`attempt()` until it returns, waiting the backoff after each error that `retry_if`
    accepts (others propagate). Raises `Stopped` once `stop` is set and it failed."""
    while True:
        try:
            return attempt()
        except Exception as exc:
            if not retry_if(exc):
                raise
            if stop.is_set() or backoff.wait_after(exc, stop):
                raise Stopped from exc


class Waiter:
    """Sleep until new work may be there: a PostgreSQL notification on `channel` (sent at
    the commit that wrote the work), or the loop's own timeout.

    SQLite cannot notify, so there the loop polls every `poll_seconds`. The listening
    connection is the waiter's own (autocommit, outside the pool); should it fail, the
    loop polls and the next wait connects again.
    """

    def __init__(
        self,
        db: Database,
        channel: str,
        *,
        name: str,
        poll_seconds: float,
        linger_seconds: float = 0.0,
        failed_pause: float | None = None,
        stop_check: float = 1.0,
    ) -> None:
        self.db = db
        self.channel = channel
        self.name = name
        self.poll_seconds = poll_seconds
        self.linger_seconds = linger_seconds
        self.failed_pause = poll_seconds if failed_pause is None else failed_pause
        # How soon a wait notices that its loop is told to stop.
        self.stop_check = stop_check
        self._conn: Any = None
        # With a `Stop`: the pipe it pokes when set (read end, write end, the signal).
        self._pipe: tuple[int, int, Stop] | None = None

    def listen(self) -> None:
        """Start listening now (PostgreSQL), so that writes from here on wake `wait`."""
        if not self.db.is_postgres:
            return
        try:
            self._listen()
        except Exception as exc:  # `wait` tries again, and polls meanwhile
            log.warning("%s: LISTEN failed (%s)", self.name, exc)
            self.close()

    def wait(self, stop: threading.Event, timeout: Callable[[], float]) -> None:
        """Wait for a notification at most `timeout()` seconds, which is only asked when
        none has come since the last wait; return at once if that is 0 or less."""
        if not self.db.is_postgres:
            seconds = timeout()
            if seconds > 0:
                stop.wait(min(seconds, self.poll_seconds))
            return
        try:
            conn = self._listen()
            # Written meanwhile: no need to ask how long to wait.
            woken = any(True for _ in conn.notifies(timeout=0))
            if not woken:
                seconds = timeout()
                if seconds <= 0:
                    return
                if isinstance(stop, Stop):
                    woken = self._sleep(conn, stop, seconds)
                else:
                    # A long wait is cut in slices, so that a loop told to stop ends
                    # within one of them, not when its safety pass falls due.
                    deadline = time.monotonic() + seconds
                    while not woken and not stop.is_set():
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        for _ in conn.notifies(timeout=min(left, self.stop_check), stop_after=1):
                            woken = True
            if woken and self.linger_seconds > 0:
                # Every commit notifies. Waiting a moment lets the next few commits
                # join the coming pass, and the notifications they sent are covered by it.
                stop.wait(self.linger_seconds)
            for _ in conn.notifies(timeout=0):
                pass
        except Exception as exc:
            log.warning("%s: LISTEN failed (%s); polling", self.name, exc)
            self.close()
            stop.wait(self.failed_pause)

    def _listen(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg

            url = self.db.engine.url.set(drivername="postgresql")
            conn = psycopg.connect(
                url.render_as_string(hide_password=False), autocommit=True, connect_timeout=5
            )
            conn.execute(f"LISTEN {self.channel}")
            self._conn = conn
        return self._conn

    def _sleep(self, conn: Any, stop: Stop, seconds: float) -> bool:
        """Asleep until a notification (True), `seconds` pass or `stop` is set (False)."""
        if self._pipe is None:
            read, write = os.pipe()
            os.set_blocking(read, False)
            os.set_blocking(write, False)
            self._pipe = (read, write, stop)
            stop.watch(write)
        read = self._pipe[0]
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([conn.fileno(), read], [], [], left)
            if read in ready:
                with contextlib.suppress(OSError):
                    os.read(read, 64)
            elif ready and any(True for _ in conn.notifies(timeout=0)):
                return True
        return False

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # already broken
                self._conn.close()
            self._conn = None

    def end(self) -> None:
        """Its loop is over: close the connection, and stop watching the stop signal."""
        self.close()
        if self._pipe is not None:
            read, write, stop = self._pipe
            stop.unwatch(write)
            os.close(read)
            os.close(write)
            self._pipe = None
