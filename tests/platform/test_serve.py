"""Every API runs under shared.serve: uvicorn's command line, its loop ticking once a
second instead of ten times, so an API with nothing to do costs next to nothing."""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import uvicorn

from shared import serve
from tests.support.infra import wait_until

ROOT = Path(__file__).resolve().parents[2]


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_api_started_by_shared_serve_answers_and_stops_within_a_few_seconds(
    tmp_path: Path,
) -> None:
    port = _free_port()
    env = {**os.environ, "DATA_DIR": str(tmp_path), "ENVIRONMENT": "test", "LOG_LEVEL": "WARNING"}
    argv = [sys.executable, "-m", "shared.serve", "--factory", "tests.support.probe_app:create_app"]
    argv += ["--port", str(port), "--no-access-log", "--timeout-graceful-shutdown", "10"]
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=60, what="the API under shared.serve", interval=0.2)
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
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
