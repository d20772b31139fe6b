"""A token is good only for someone the directory has, active, in the token's role.

The directory is escalation's; the token store every service verifies against is
shared. Escalation copies what the directory says of each person into the store's
grants, so that an administrator deactivating someone, or moving them to another role,
takes their tokens away in every service at once (here: intake, a process of its own).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert, select, text

from services.escalation.directory.models import Staff
from services.escalation.main import create_app as escalation_app
from services.intake.main import create_app as intake_app
from shared.auth.store import ApiToken, StaffGrant, hash_token, issue_token
from shared.db import table_of
from shared.migrations import upgrade
from tests.conftest import ServiceEnv
from tests.escalation.conftest import Centre
from tests.intake.conftest import complaint

pytestmark = pytest.mark.postgres

AGENT = {"id": "A009", "name": "小周", "phone": "13900139029", "role": "agent"}


@pytest.fixture
def intake_beside(pg_url: str) -> Iterator[Callable[[ServiceEnv], TestClient]]:
    """Intake's API in the same installation as a centre: its own schema, the same token
    store."""
    made: list[tuple[TestClient, str]] = []

    def make(env: ServiceEnv) -> TestClient:
        schema = env.settings.schema_for("intake")
        upgrade("intake", url=pg_url, schema=schema)
        client = TestClient(intake_app(env.settings))
        client.__enter__()
        made.append((client, schema))
        return client

    yield make
    engine = create_engine(pg_url)
    for client, schema in made:
        client.__exit__(None, None, None)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


def hire(centre: Centre, person: dict[str, Any]) -> None:
    answer = centre.client.post("/staff", json=person, headers=centre.admin)
    assert answer.status_code == 201, answer.text


def change(centre: Centre, staff_id: str, **fields: Any) -> None:
    current = centre.client.get(f"/staff/{staff_id}", headers=centre.admin).json()
    body = {k: current[k] for k in ("name", "phone", "role", "department_id", "active")}
    answer = centre.client.put(f"/staff/{staff_id}", json=body | fields, headers=centre.admin)
    assert answer.status_code == 200, answer.text


def issue(centre: Centre, staff_id: str, role: str, department: str | None = None) -> str:
    with centre.env.auth_db.transaction() as session:
        token, _ = issue_token(session, staff_id=staff_id, role=role, department_id=department)
    return token


def registered(intake: TestClient, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex}
    return intake.post("/complaints", json=complaint(), headers=headers).status_code


def first_status(intake: TestClient, token: str, wanted: int, within: float = 3.0) -> float:
    """Seconds until intake answers `wanted`: a change is heard by PostgreSQL NOTIFY a
    few milliseconds after it commits, not at the end of the 30 s token cache."""
    started = time.monotonic()
    while (status := registered(intake, token)) != wanted:
        assert time.monotonic() - started < within, f"intake still answers {status}"
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_deactivated_agent_can_no_longer_register_a_complaint_at_intake(
    centre: Centre, intake_beside: Callable[[ServiceEnv], TestClient]
) -> None:
    intake = intake_beside(centre.env)
    hire(centre, AGENT)
    token = issue(centre, "A009", "agent")
    assert registered(intake, token) == 201  # verified once: intake now caches it

    change(centre, "A009", active=False)

    assert first_status(intake, token, 401) < 1.0
    answer = intake.get("/complaints", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401
    # Nor can they be given a new one.
    with pytest.raises(ValueError, match="'A009' is not active in the directory"):
        issue(centre, "A009", "agent")


def test_an_agent_made_a_duty_manager_holds_no_agent_token_any_more(
    centre: Centre, intake_beside: Callable[[ServiceEnv], TestClient]
) -> None:
    intake = intake_beside(centre.env)
    hire(centre, AGENT)
    token = issue(centre, "A009", "agent")
    assert registered(intake, token) == 201

    change(centre, "A009", role="duty_manager")

    assert first_status(intake, token, 401) < 1.0
    with pytest.raises(ValueError, match="is 'duty_manager' in the directory, not 'agent'"):
        issue(centre, "A009", "agent")
    manager = {"Authorization": f"Bearer {issue(centre, 'A009', 'duty_manager')}"}
    assert centre.client.get("/queues/mine", headers=manager).status_code == 200


def test_a_clerk_moved_to_another_department_loses_the_old_departments_token(
    centre: Centre,
) -> None:
    old = issue(centre, "B08", "department", "billing")
    assert centre.client.get("/staff/B08", headers=centre.admin).status_code == 200
    change(centre, "B08", department_id="network")
    with centre.env.auth_db.read() as session:
        row = session.execute(
            select(ApiToken).where(ApiToken.token_hash == hash_token(old))
        ).scalar_one()
    assert row.revoked_at is not None
    with pytest.raises(ValueError, match="belongs to network in the directory, not 'billing'"):
        issue(centre, "B08", "department", "billing")


def test_a_token_for_someone_the_directory_does_not_know_is_refused(
    centre: Centre, intake_beside: Callable[[ServiceEnv], TestClient]
) -> None:
    """A token row for a staff id nobody granted (one written before tokens were bound to
    the directory, or by hand) acknowledges nothing: 401."""
    intake = intake_beside(centre.env)
    with pytest.raises(ValueError, match="'DM99' is not in the directory"):
        issue(centre, "DM99", "duty_manager")
    token = "cpt_" + uuid.uuid4().hex * 2
    now = datetime.now(UTC)
    with centre.env.auth_db.transaction() as session:
        session.add(
            ApiToken(
                id=str(uuid.uuid4()),
                token_hash=hash_token(token),
                token_hint=token[:10],
                staff_id="DM99",
                role="duty_manager",
                created_at=now,
                expires_at=now + timedelta(days=1),
            )
        )
    complaint_id = centre.receive()
    headers = {"Authorization": f"Bearer {token}"}
    answer = centre.client.post(
        f"/complaints/{complaint_id}/actions/acknowledge", json={}, headers=headers
    )
    assert answer.status_code == 401, answer.text
    assert centre.row(complaint_id).acknowledged_at is None
    assert registered(intake, token) == 401


def test_a_token_from_before_every_token_expired_runs_out_after_the_longest_life(
    centre: Centre,
) -> None:
    now = datetime.now(UTC)
    tokens = {}
    with centre.env.auth_db.transaction() as session:
        for age in (1, 89, 91):
            token = "cpt_" + uuid.uuid4().hex * 2
            tokens[age] = token
            session.add(
                ApiToken(
                    id=str(uuid.uuid4()),
                    token_hash=hash_token(token),
                    token_hint=token[:10],
                    staff_id="DM01",
                    role="duty_manager",
                    created_at=now - timedelta(days=age),
                    expires_at=None,
                )
            )
    statuses = {
        age: centre.client.get("/staff/DM01", headers={"Authorization": f"Bearer {t}"}).status_code
        for age, t in tokens.items()
    }
    assert statuses == {1: 200, 89: 200, 91: 401}


def test_a_directory_older_than_the_grants_is_copied_at_the_start(
    service_env: Callable[[str], ServiceEnv],
) -> None:
    env = service_env("escalation")
    now = datetime.now(UTC)
    staff = table_of(Staff)
    with env.db.transaction() as session:
        for staff_id, role, active in (("DM05", "duty_manager", True), ("A005", "agent", False)):
            session.execute(
                insert(staff).values(
                    id=staff_id,
                    name=staff_id,
                    phone="+8613900139005",
                    role=role,
                    department_id=None,
                    active=active,
                    created_at=now,
                    updated_at=now,
                )
            )
    with env.auth_db.transaction() as session:
        # Someone the directory no longer has, whose grant was kept by it.
        session.add(
            StaffGrant(
                staff_id="GONE1", role="agent", active=True, source="directory", changed_at=now
            )
        )
        session.add(
            StaffGrant(
                staff_id="AD01", role="admin", active=True, source="bootstrap", changed_at=now
            )
        )

    with TestClient(escalation_app(env.settings)):
        pass

    with env.auth_db.read() as session:
        grants = {
            g.staff_id: (g.role, g.active, g.source)
            for g in session.execute(select(StaffGrant)).scalars()
        }
    assert grants == {
        "DM05": ("duty_manager", True, "directory"),
        "A005": ("agent", False, "directory"),
        "GONE1": ("agent", False, "directory"),
        # The first administrator is not the directory's to take away.
        "AD01": ("admin", True, "bootstrap"),
    }


def test_the_first_administrator_becomes_the_directorys_once_it_has_them(centre: Centre) -> None:
    with centre.env.auth_db.read() as session:
        assert session.get(StaffGrant, "AD01").source == "bootstrap"  # type: ignore[union-attr]
    hire(centre, {"id": "AD01", "name": "钱管理员", "phone": "13900139000", "role": "admin"})
    assert centre.client.get("/staff/AD01", headers=centre.admin).status_code == 200
    change(centre, "AD01", active=False)
    assert centre.client.get("/staff/DM01", headers=centre.admin).status_code == 401
