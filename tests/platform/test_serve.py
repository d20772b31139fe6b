"""Every API runs under shared.serve: uvicorn's command line, its loop ticking once a
second instead of ten times, so an API with nothing to do costs next to nothing."""

from __future__ import annotations

import asyncio
import importlib
import signal
import time
from pathlib import Path

import httpx
import uvicorn

from shared import serve
from tests.support.probe_app import probe_api


def _ticks_in(server: uvicorn.Server, seconds: float) -> list[int]:
    """The counters the server's loop calls on_tick with, over `seconds`."""
    seen: list[int] = []
    started = time.monotonic()

    async def on_tick(counter: int) -> bool:
        seen.append(counter)
        return time.monotonic() - started >= seconds

    server.on_tick = on_tick  # type: ignore[method-assign]
    asyncio.run(server.main_loop())
    return seen


def test_an_idle_api_wakes_about_once_a_second_and_refreshes_its_date_each_time() -> None:
    config = uvicorn.Config(app=lambda scope, receive, send: None)
    ticks = _ticks_in(serve.Server(config), 2.5)
    # uvicorn's own loop would tick some 26 times in 2.5 s.
    assert 3 <= len(ticks) <= 4, ticks
    # uvicorn refreshes the Date header when the counter is a multiple of ten.
    assert all(counter % 10 == 0 for counter in ticks), ticks


def test_uvicorn_makes_our_server_in_one_process_and_in_each_of_several() -> None:
    serve.install()
    for name in ("uvicorn.main", "uvicorn.supervisors.multiprocess"):
        assert importlib.import_module(name).Server is serve.Server


def test_an_api_started_by_shared_serve_answers_and_stops_within_a_few_seconds(
    tmp_path: Path,
) -> None:
    with probe_api(tmp_path, "--timeout-graceful-shutdown", "10") as (proc, base):
        answer = httpx.get(f"{base}/pid", timeout=5)
        assert answer.status_code == 200
        assert answer.json() == {"pid": proc.pid}
        assert answer.headers.get("date", "").endswith(" GMT")
        asked = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        # uvicorn shuts down gracefully, then ends by the signal it was stopped with.
        assert proc.wait(timeout=10) in (0, -signal.SIGTERM)
        assert time.monotonic() - asked < 5
    assert b"Finished server process" in (tmp_path / "serve.log").read_bytes()
