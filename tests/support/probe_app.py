"""An API that says which uvicorn worker answered, for tests that run several:

python -m shared.serve --factory tests.support.probe_app:create_app --workers 2
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from fastapi import APIRouter, FastAPI

from shared.api import create_service_app
from shared.settings import Settings
from tests.support.infra import wait_until

ROOT = Path(__file__).resolve().parents[2]


def create_app() -> FastAPI:
    router = APIRouter()

    @router.get("/pid")
    def pid() -> dict[str, int]:
        time.sleep(0.01)  # long enough for concurrent requests to spread over the workers
        return {"pid": os.getpid()}

    return create_service_app(
        service="probe", title="Probe", description="", settings=Settings(), routers=[router]
    )


@contextmanager
def probe_api(
    tmp_path: Path, *options: str, env: dict[str, str] | None = None, timeout: float = 60
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """The probe API started as the platform starts an API (`python -m shared.serve`,
    uvicorn's `options` added) on a free port, once it answers /healthz: its process and
    address. Its output goes to `tmp_path`/serve.log; it is stopped afterwards if the test
    did not stop it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    variables = {"DATA_DIR": str(tmp_path / "data"), "ENVIRONMENT": "test", "LOG_LEVEL": "WARNING"}
    argv = [sys.executable, "-m", "shared.serve", "--factory", "tests.support.probe_app:create_app"]
    argv += ["--port", str(port), "--no-access-log", *options]
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env={**os.environ, **variables, **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=timeout, what="the probe API under shared.serve", interval=0.2)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=30)
        log.close()
