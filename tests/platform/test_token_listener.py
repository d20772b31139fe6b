"""The API's token listener sleeps until PostgreSQL tells it a token changed: it hears a
change at once, and stops at once when told to, however long it would sleep."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from sqlalchemy import text

from shared.auth.store import _Listener
from shared.db import Database

pytestmark = pytest.mark.postgres


def test_a_quiet_listener_hears_a_change_at_once_and_stops_at_once(
    migrated: Callable[[str], Database],
) -> None:
    db = migrated("auth")
    heard = threading.Semaphore(0)
    listener = _Listener(db, on_change=heard.release, check_every=60.0)
    listener.start()
    try:
        assert heard.acquire(timeout=10), "the listener calls on_change once it listens"
        time.sleep(0.5)
        started = time.monotonic()
        with db.engine.connect() as conn:
            conn.execute(text("SELECT pg_notify(:c, 'revoked')"), {"c": listener.channel})
            conn.commit()
        assert heard.acquire(timeout=5)
        assert time.monotonic() - started < 1.0
    finally:
        started = time.monotonic()
        listener.stop()
    assert not listener._thread.is_alive()
    assert time.monotonic() - started < 1.5  # not the 60 s wait, nor stop()'s 2 s limit
