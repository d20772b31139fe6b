"""`make demo` for real: with no system running it starts one, seeds the organisation,
walks its complaints to their ends and prints where to look; run again, it keeps the
organisation and files new texts.

The system runs as in test_stack.py: on the test broker and database, on ports, schemas
and a run directory of its own. Other systems publish on the test broker's topics too,
so its complaints get a reference prefix of their own; quiet hours and the duty
manager's digest are off, so every SMS of the walk goes out whatever the hour.
"""

from __future__ import annotations

import os
import random
import re
import string
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from shared.migrations import STORES
from tests.conftest import ROOT, ObjectStoreAccess
from tests.platform.test_stack import free_port_base

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

PYTHON = str(Path(ROOT) / ".venv" / "bin" / "python")
SCRIPTS = Path(ROOT) / "scripts"


@pytest.fixture
def demo_env(
    tmp_path: Path, pg_url: str, kafka_bootstrap: str, objectstore: ObjectStoreAccess
) -> Iterator[dict[str, str]]:
    prefix = f"d{uuid.uuid4().hex[:8]}_"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DB")}
    env.update(
        STACK="test",
        RUN_DIR=str(tmp_path / "run"),
        PG_DIR=str(tmp_path / "pg"),
        STACK_KAFKA=kafka_bootstrap,
        DATABASE_URL=pg_url,
        SCHEMA_PREFIX=prefix,
        STACK_PORT_BASE=str(free_port_base()),
        INTAKE_REFERENCE_PREFIX="".join(random.choices(string.ascii_uppercase, k=4)),
        NOTIFY_QUIET_HOURS_START="00:00",
        NOTIFY_QUIET_HOURS_END="00:00",
        NOTIFY_STAFF_RATE_LIMIT="0",
        **objectstore.intake_env(),
    )
    try:
        yield env
    finally:
        subprocess.run(
            [PYTHON, str(SCRIPTS / "stack.py"), "down"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            timeout=90,
            check=False,
        )
        engine = create_engine(pg_url)
        with engine.begin() as conn:
            for store in STORES:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{prefix}{store}" CASCADE'))
        engine.dispose()


def run_demo(env: dict[str, str]) -> str:
    done = subprocess.run(
        [PYTHON, str(SCRIPTS / "demo.py"), "--timeout", "45"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done.stdout


def summary(out: str, prefix: str) -> dict[str, list[str]]:
    """The summary table's rows by case letter: ref, case, department, state, closure,
    root cause, history."""
    rows = {}
    for line in out.split("== 总结 Summary ==")[1].splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if re.fullmatch(rf"{prefix}\d{{8}}-\d{{6}}", cells[0]):
            rows[cells[1][0]] = cells
    return rows


def test_demo_starts_the_system_walks_every_complaint_and_runs_again(
    demo_env: dict[str, str],
) -> None:
    prefix = demo_env["INTAKE_REFERENCE_PREFIX"]
    first = run_demo(demo_env)
    assert "Starting the system the way 'make run' does" in first
    assert first.count("  created  ") >= 3, first  # departments and shifts
    rows = summary(first, prefix)
    assert set(rows) == {"A", "B", "C", "D", "E", "F"}, first
    assert rows["A"][2:6] == ["hrss", "closed", "satisfied", "management"]
    assert rows["B"][2:6] == ["housing", "closed", "unreached", "process"]
    assert rows["C"][2:6] == ["health", "closed", "satisfied", "service"]
    assert rows["D"][2:6] == ["environment", "dispatched", "-", "-"]
    # The landline caller: urged the department by calling again, verdict taken by a call.
    assert rows["E"][2:6] == ["transport", "closed", "satisfied", "management"]
    assert "landline 座机 +861065123456 ext 801" in first
    assert "督办短信 SMS to the transport desk +8613700137005" in first
    # The anonymous caller has nobody to ask: the department's answer stands.
    assert rows["F"][2] == "commerce" and rows["F"][3] in ("replied", "closed")
    assert "anonymous 匿名: no file, no SMS" in first
    assert all(r[6].endswith("chain valid") for r in rows.values())
    # The duty manager's SMS answers and the customers' went through the gateway.
    assert first.count("(read as ack): acknowledged") == 2, first
    assert "(read as unsatisfied): reopened to housing" in first
    assert first.count("(read as satisfied): closed, satisfied") == 2

    # What it printed is what the services hold.
    sup = re.search(r"export SUP=(\S+)", first)
    dashboard = re.search(r"dashboard\s+(http://\S+)/dashboard#token=(cpt_\S+)", first)
    history = re.search(r"history\s+(http://\S+)/complaints/<ref>/history", first)
    assert sup and dashboard and history, first
    headers = {"Authorization": f"Bearer {sup.group(1)}"}
    with httpx.Client(timeout=10) as client:
        for letter, state in (("A", "closed"), ("B", "closed"), ("D", "dispatched")):
            ref = rows[letter][0]
            got = client.get(f"{history.group(1)}/complaints/{ref}", headers=headers).json()
            assert got["state"] == state
            check = client.get(
                f"{history.group(1)}/complaints/{ref}/history/verify", headers=headers
            ).json()
            assert check["valid"] is True
        viewer = {"Authorization": f"Bearer {dashboard.group(2)}"}
        page = client.get(f"{dashboard.group(1)}/analytics/filters", headers=viewer)
        assert page.status_code == 200

    again = run_demo(demo_env)
    assert "Starting the system" not in again
    assert "  created  " not in again, again
    assert "0 created, 23 kept" in again
    assert "workbench sign-in for each of them: 0 created, 23 kept" in again
    assert re.search(r"Sign in to the workbench at http://\S+/ \(password \S+\):", first)
    rows_again = summary(again, prefix)
    assert rows_again["A"][3] == "closed" and rows_again["B"][3] == "closed"
    refs = {r[0] for r in rows.values()}
    assert refs.isdisjoint(r[0] for r in rows_again.values())
    texts = set(re.findall(r"\(data row (\d+)\)", first))
    assert len(texts) == 6
    assert texts.isdisjoint(re.findall(r"\(data row (\d+)\)", again))
