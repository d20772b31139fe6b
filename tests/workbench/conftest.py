"""The whole system running as `make run` starts it (every API and worker, the SMS
gateway and the workbench) on the test broker and database, with a centre in its
directory, a duty roster, and a sign-in account for each person; and headless Chromium
driven by Playwright to use the pages as the staff would."""

from __future__ import annotations

import os
import random
import string
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from shared.auth.store import bootstrap_admin, issue_token
from shared.db import database_for
from shared.migrations import STORES
from shared.settings import AUTH_STORE, SERVICE_PORTS, WORKBENCH, WORKBENCH_PORT, Settings
from tests.conftest import ROOT, ObjectStoreAccess
from tests.platform.test_stack import LocalSystem, free_port_base

ARTIFACTS = Path(ROOT) / ".run" / "test" / "artifacts" / "workbench"
PASSWORD = "correct-horse-battery-7"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

DEPARTMENTS = [
    {"id": "billing", "name": "账务部", "contact_phones": ["13700137001"]},
    {"id": "network", "name": "网络部", "contact_phones": ["13700137002"]},
]
# (id, name, phone, role, department)
PEOPLE = [
    ("AD01", "钱管理员", "13900139000", "admin", None),
    ("DM01", "王经理", "13900139001", "duty_manager", None),
    ("DM02", "李经理", "13900139002", "duty_manager", None),
    ("SV01", "赵主管", "13900139003", "supervisor", None),
    ("B07", "陈会计", "13900139007", "department", "billing"),
    ("N03", "孙工程师", "13900139013", "department", "network"),
    ("A001", "小刘", "13900139021", "agent", None),
    ("Q01", "吴质检", "13900139031", "qa", None),
    ("Q02", "郑质检", "13900139032", "qa", None),
    ("A002", "小张", "13900139022", "agent", None),
    ("V01", "甲方代表", "13900139041", "viewer", None),
]


@dataclass
class Centre:
    """The running system, seen from outside."""

    system: LocalSystem
    settings: Settings
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.system.port_base + WORKBENCH_PORT - 8000}"

    def api(self, service: str) -> str:
        return f"http://127.0.0.1:{self.system.port_base + SERVICE_PORTS[service] - 8000}"

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.system.port_base + 90}"

    def token(self, role: str, staff: str, department: str | None = None) -> str:
        key = f"{role}:{staff}"
        if key not in self.tokens:
            db = database_for(AUTH_STORE, self.settings)
            try:
                with db.transaction() as session:
                    if role == "admin":  # the first administrator, who seeds the directory
                        bootstrap_admin(session, staff)
                    self.tokens[key], _ = issue_token(
                        session, staff_id=staff, role=role, department_id=department
                    )
            finally:
                db.dispose()
        return self.tokens[key]

    def call(self, service: str, method: str, path: str, **kwargs: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.token('admin', 'AD01')}"}
        answer = httpx.request(
            method, self.api(service) + path, headers=headers, timeout=10, **kwargs
        )
        assert answer.status_code < 300, answer.text
        return answer.json() if answer.content else None

    def sms_to(self, phone: str) -> list[str]:
        answer = httpx.get(f"{self.gateway}/api/messages", params={"to": phone}, timeout=10)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items = body["messages"] if isinstance(body, dict) else body
        return [m.get("body") or m.get("text") or "" for m in items]


def seed(centre: Centre) -> None:
    for department in DEPARTMENTS:
        centre.call("escalation", "POST", "/departments", json=department)
    for staff_id, name, phone, role, department in PEOPLE:
        body = {"id": staff_id, "name": name, "phone": phone, "role": role}
        centre.call("escalation", "POST", "/staff", json=body | {"department_id": department})
    now = datetime.now(UTC)
    shift = {
        "staff_id": "DM01",
        "backup_staff_id": "DM02",
        "starts_at": (now - timedelta(hours=2)).isoformat(),
        "ends_at": (now + timedelta(hours=10)).isoformat(),
    }
    centre.call("escalation", "POST", "/roster/shifts", json=shift)
    from services.workbench.access.flows import set_password
    from services.workbench.config import WorkbenchConfig

    db = database_for(WORKBENCH, centre.settings)
    try:
        for staff_id, *_ in PEOPLE:
            set_password(
                db,
                staff_id,
                PASSWORD,
                WorkbenchConfig(),
                by="test",
                now=datetime.now(UTC),
                must_change=False,
            )
    finally:
        db.dispose()


@pytest.fixture(scope="package")
def centre(
    tmp_path_factory: pytest.TempPathFactory,
    pg_url: str,
    kafka_bootstrap: str,
    objectstore: ObjectStoreAccess,
) -> Iterator[Centre]:
    prefix = f"w{uuid.uuid4().hex[:8]}_"
    tmp = tmp_path_factory.mktemp("system")
    run_dir = tmp / "run"
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DB")}
    env.update(
        STACK="test",
        RUN_DIR=str(run_dir),
        PG_DIR=str(tmp / "pg"),
        STACK_KAFKA=kafka_bootstrap,
        DATABASE_URL=pg_url,
        SCHEMA_PREFIX=prefix,
        STACK_PORT_BASE=str(free_port_base()),
        # Other systems publish on the test broker's topics too: references of its own
        # keep their complaints from colliding with this centre's.
        INTAKE_REFERENCE_PREFIX="".join(random.choices(string.ascii_uppercase, k=4)),
        # The duty manager's page refreshes quickly; sessions look the directory up often.
        WORKBENCH_DIRECTORY_CHECK_SECONDS="1",
        ESCALATION_SWEEP_SECONDS="1",
        # No quiet hours: the stories text callers whatever the hour the suite runs at
        # (at night in the centre's zone a customer's SMS would wait for the morning).
        NOTIFY_QUIET_HOURS_START="00:00",
        NOTIFY_QUIET_HOURS_END="00:00",
        # Attachments go to the test object store, as in production to an S3 API.
        **objectstore.intake_env(),
    )
    system = LocalSystem(run_dir, env, int(env["STACK_PORT_BASE"]))
    settings = Settings(database_url=pg_url, schema_prefix=prefix)
    try:
        up = system.stack("up", "--timeout", "80")
        assert up.returncode == 0, up.stdout + up.stderr
        built = Centre(system, settings)
        seed(built)
        yield built
    finally:
        if (run_dir / "stack.json").exists():
            system.stack("down")
        engine = create_engine(pg_url)
        with engine.begin() as conn:
            for store in STORES:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{prefix}{store}" CASCADE'))
        engine.dispose()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: apt-get install -y chromium fonts-wqy-zenhei")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
