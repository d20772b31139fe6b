"""`make run` and `make down` for real: every API and worker started, every API ready,
and nothing left running afterwards.

The system is brought up on the test broker and database, which `up` must use as they
are and `down` must leave running for everyone else, with ports and schemas of its own.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from shared.kafka import KafkaProbe
from shared.migrations import STORES
from shared.settings import SERVICE_PORTS, WORKBENCH_PORT, Settings
from tests.conftest import ROOT, ObjectStoreAccess

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

PYTHON = str(Path(ROOT) / ".venv" / "bin" / "python")
STACK_PY = str(Path(ROOT) / "scripts" / "stack.py")


def port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port_base() -> int:
    """A base whose ports (the services base+1 … base+4, the workbench base) are free, below the
    ephemeral range so no outgoing connection takes one meanwhile."""
    offsets = [p - 8000 for p in (*SERVICE_PORTS.values(), WORKBENCH_PORT)]
    for _ in range(50):
        base = random.randrange(20_000, 32_000, 100)
        if not any(port_taken(base + o) for o in offsets):
            return base
    raise AssertionError("no free ports for the services")


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in a process group."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


def readyz(port: int) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
        return resp.status, json.loads(resp.read())


class LocalSystem:
    def __init__(self, run_dir: Path, env: dict[str, str], port_base: int) -> None:
        self.run_dir = run_dir
        self.env = env
        self.port_base = port_base

    def stack(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PYTHON, STACK_PY, *args],
            env={**self.env, **env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=90,
        )

    @property
    def ports(self) -> dict[str, int]:
        return {s: self.port_base + p - 8000 for s, p in SERVICE_PORTS.items()}

    def pids(self) -> dict[str, int]:
        return {p.stem: int(p.read_text()) for p in (self.run_dir / "pids").glob("*.pid")}


@pytest.fixture
def local_system(
    tmp_path: Path, pg_url: str, kafka_bootstrap: str, objectstore: ObjectStoreAccess
) -> Iterator[LocalSystem]:
    prefix = f"s{uuid.uuid4().hex[:8]}_"
    run_dir = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DB")}
    env.update(
        STACK="test",
        # Everything the scripts keep goes here, so no command can reach the data or
        # the pid files of the test broker and database themselves.
        RUN_DIR=str(run_dir),
        PG_DIR=str(tmp_path / "pg"),
        STACK_KAFKA=kafka_bootstrap,
        DATABASE_URL=pg_url,
        SCHEMA_PREFIX=prefix,
        STACK_PORT_BASE=str(free_port_base()),
        # The test object store: used, neither started nor stopped.
        **objectstore.intake_env(),
    )
    system = LocalSystem(run_dir, env, int(env["STACK_PORT_BASE"]))
    try:
        yield system
    finally:
        if (run_dir / "stack.json").exists():
            system.stack("down")
        engine = create_engine(pg_url)
        with engine.begin() as conn:
            for store in STORES:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{prefix}{store}" CASCADE'))
        engine.dispose()


def test_up_brings_every_service_to_ready_and_down_leaves_nothing_running(
    local_system: LocalSystem, kafka_bootstrap: str
) -> None:
    up = local_system.stack("up", "--timeout", "45")
    assert up.returncode == 0, up.stdout + up.stderr
    for service, port in local_system.ports.items():
        assert f"{service:<11} http://127.0.0.1:{port}" in up.stdout
        status, body = readyz(port)
        assert status == 200
        assert body == {
            "status": "ready",
            "service": service,
            "checks": {"database": "ok", "kafka": "ok"},
        }
    pids = local_system.pids()
    # Every service's API and worker, the workbench, and the SMS gateway notify provides.
    assert set(pids) == {f"{s}-{part}" for s in SERVICE_PORTS for part in ("api", "worker")} | {
        "sms-gateway",
        "workbench",
    }
    workbench = local_system.port_base + WORKBENCH_PORT - 8000
    assert f"workbench   http://127.0.0.1:{workbench}" in up.stdout
    status, body = readyz(workbench)
    assert (status, body["checks"]) == (200, {"database": "ok"})
    assert all(group_members(pid) for pid in pids.values())

    status = local_system.stack("status")
    assert status.returncode == 0, status.stdout + status.stderr
    # and the SMS gateway and the workbench
    assert status.stdout.count(" ready") == len(SERVICE_PORTS) + 2

    # Asking again changes nothing; asking for another system while this one runs is refused.
    again = local_system.stack("up", "--timeout", "45")
    assert again.returncode == 0, again.stdout + again.stderr
    assert local_system.pids() == pids
    other = local_system.stack("up", "--port-base", str(local_system.port_base + 50))
    assert other.returncode == 1
    assert "already running" in other.stderr
    assert "make down" in other.stderr

    # A pid file that outlived its process must never make `down` signal a stranger
    # that was given the same pid: the gateway dies, and its pid goes to someone else.
    os.killpg(pids["sms-gateway"], signal.SIGTERM)
    deadline = time.monotonic() + 20
    while group_members(pids["sms-gateway"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    (local_system.run_dir / "pids" / "sms-gateway.pid").write_text(str(stranger.pid))
    try:
        down = local_system.stack("down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert stranger.poll() is None, "down signalled a process it did not start"
    finally:
        stranger.kill()
        stranger.wait()

    assert "stopped: " in down.stdout
    for name, pid in pids.items():
        assert group_members(pid) == [], f"{name} (pid {pid}) left processes behind"
    assert not any(port_taken(port) for port in local_system.ports.values())
    assert not port_taken(workbench)
    assert list((local_system.run_dir / "pids").glob("*.pid")) == []
    assert not (local_system.run_dir / "stack.json").exists()
    # The broker it was given is still there for everyone else.
    probe = KafkaProbe(Settings(kafka_bootstrap_servers=kafka_bootstrap), cache_seconds=0)
    try:
        assert probe.check()[0]
    finally:
        probe.close()
