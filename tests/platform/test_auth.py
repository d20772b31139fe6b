"""Who may call: bearer tokens, stored hashed, each naming a staff member, a role and a
department, and the roles a route requires.

The routes here belong to a small case desk built the way every service is built
(`shared.api.create_service_app`), so what holds for it holds for each of them.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from shared.api import create_service_app
from shared.auth.deps import CurrentPrincipal, require_roles
from shared.auth.principal import Principal, Role
from shared.auth.store import (
    Grant,
    TokenVerifier,
    grant_outside_directory,
    issue_token,
    put_grant,
    revoke_tokens,
)
from shared.db import create_database, database_for
from shared.migrations import upgrade
from shared.settings import AUTH_STORE, Settings
from tests.conftest import ROOT, ServiceEnv

PYTHON = str(Path(ROOT) / ".venv" / "bin" / "python")


def case_desk(settings: Settings) -> FastAPI:
    router = APIRouter()

    @router.get("/me")
    def me(principal: CurrentPrincipal) -> dict[str, Any]:
        return {
            "staff_id": principal.staff_id,
            "role": principal.role.value,
            "department_id": principal.department_id,
            "tenant": principal.tenant,
        }

    @router.post("/complaints/{complaint_id}/close")
    def close(
        complaint_id: str,
        principal: Annotated[Principal, require_roles(Role.DUTY_MANAGER, Role.SUPERVISOR)],
    ) -> dict[str, str]:
        return {"complaint_id": complaint_id, "closed_by": principal.staff_id}

    return create_service_app(
        service="analytics",
        title="Case desk",
        description="Routes guarded the way every service guards them.",
        settings=settings,
        routers=[router],
    )


@pytest.fixture
def desk_env(service_env: Callable[[str], ServiceEnv]) -> ServiceEnv:
    return service_env("analytics")


@pytest.fixture
def desk(desk_env: ServiceEnv) -> Iterator[TestClient]:
    with TestClient(case_desk(desk_env.settings)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def issue(env: ServiceEnv, role: str, staff: str, **kw: Any) -> str:
    with env.auth_db.transaction() as session:
        grant_outside_directory(session, staff, role, kw.get("department_id"))
        token, _ = issue_token(session, staff_id=staff, role=role, **kw)
    return token


# -- 401: who is calling is not known --------------------------------------------------


@pytest.mark.postgres
def test_a_caller_without_a_token_is_asked_for_one(desk: TestClient) -> None:
    answer = desk.get("/me")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["error"] == "unauthorized"
    assert "Authorization: Bearer" in answer.json()["message"]


@pytest.mark.postgres
@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer ",
        "Basic QTAwMTpzZWNyZXQ=",
        "Token cpt_abc",
        "Bearer not-one-of-ours",
        "Bearer cpt_" + "x" * 300,
        "Bearer cpt_abc def",
    ],
    ids=["no-credentials", "empty", "basic", "other-scheme", "no-prefix", "oversized", "spaces"],
)
def test_a_malformed_token_is_refused(desk: TestClient, authorization: str) -> None:
    answer = desk.get("/me", headers={"Authorization": authorization})
    assert answer.status_code == 401, answer.text
    assert answer.headers["www-authenticate"] == "Bearer"


@pytest.mark.postgres
def test_a_well_formed_token_nobody_issued_is_refused(desk: TestClient) -> None:
    answer = desk.get("/me", headers=bearer("cpt_" + secrets.token_urlsafe(32)))
    assert answer.status_code == 401
    assert answer.json()["message"] == "invalid, expired or revoked token"


@pytest.mark.postgres
def test_an_expired_token_is_refused(desk_env: ServiceEnv, desk: TestClient) -> None:
    yesterday = datetime.now(UTC) - timedelta(days=1)
    token = issue(desk_env, "agent", "A001", expires_in=timedelta(hours=1), now=yesterday)
    assert desk.get("/me", headers=bearer(token)).status_code == 401


@pytest.mark.postgres
def test_a_revoked_token_stops_working_at_once_without_a_cache(desk_env: ServiceEnv) -> None:
    settings = desk_env.settings.model_copy(update={"token_cache_seconds": 0})
    token = issue(desk_env, "agent", "A001")
    with TestClient(case_desk(settings)) as desk:
        assert desk.get("/me", headers=bearer(token)).status_code == 200
        with desk_env.auth_db.transaction() as session:
            assert revoke_tokens(session, staff_id="A001") == 1
        answer = desk.get("/me", headers=bearer(token))
        assert answer.status_code == 401
        assert answer.json()["message"] == "invalid, expired or revoked token"


def answers_within(client: TestClient, token: str, status: int, seconds: float = 3.0) -> float:
    """How long until `client` answers `status` to this token: a change is heard by
    PostgreSQL NOTIFY, a few milliseconds after its commit."""
    started = time.monotonic()
    while True:
        answer = client.get("/me", headers=bearer(token))
        if answer.status_code == status:
            return time.monotonic() - started
        assert time.monotonic() - started < seconds, f"still {answer.status_code}"
        time.sleep(0.01)


@pytest.mark.postgres
def test_a_revoked_token_stops_working_in_every_process_long_before_the_cache_forgets_it(
    desk_env: ServiceEnv,
) -> None:
    token = issue(desk_env, "agent", "A002")
    colleague = issue(desk_env, "agent", "A003")
    with (
        TestClient(case_desk(desk_env.settings)) as one,
        TestClient(case_desk(desk_env.settings)) as other,
    ):
        for desk in (one, other):
            assert desk.get("/me", headers=bearer(token)).status_code == 200
        with desk_env.auth_db.transaction() as session:
            revoke_tokens(session, staff_id="A002")
        for desk in (one, other):
            assert answers_within(desk, token, 401) < desk_env.settings.token_cache_seconds / 10
            # Other people's tokens do not care.
            assert desk.get("/me", headers=bearer(colleague)).status_code == 200


@pytest.mark.postgres
def test_a_verified_token_is_not_looked_up_again_on_each_request(
    desk_env: ServiceEnv, desk: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = issue(desk_env, "agent", "A001")
    verifier: TokenVerifier = desk.app.state.tokens  # type: ignore[attr-defined]
    lookups: list[str] = []
    real = verifier._lookup

    def counted(digest: str) -> Any:
        lookups.append(digest)
        return real(digest)

    monkeypatch.setattr(verifier, "_lookup", counted)
    for _ in range(20):
        assert desk.get("/me", headers=bearer(token)).status_code == 200
    assert len(lookups) == 1


# -- 403: known, but not allowed -------------------------------------------------------


@pytest.mark.postgres
def test_an_agent_may_not_close_a_complaint(desk_env: ServiceEnv, desk: TestClient) -> None:
    agent = issue(desk_env, "agent", "A001")
    answer = desk.post("/complaints/c-1/close", headers=bearer(agent))
    assert answer.status_code == 403
    body = answer.json()
    assert body["error"] == "forbidden"
    assert body["role"] == "agent"
    assert body["allowed_roles"] == ["duty_manager", "supervisor"]
    assert "'agent' may not do this" in body["message"]


@pytest.mark.postgres
@pytest.mark.parametrize("role", ["department", "qa", "admin", "viewer"])
def test_only_the_named_roles_pass_the_guard(
    desk_env: ServiceEnv, desk: TestClient, role: str
) -> None:
    token = issue(desk_env, role, "S100", department_id="billing" if role == "department" else None)
    assert desk.post("/complaints/c-1/close", headers=bearer(token)).status_code == 403


@pytest.mark.postgres
def test_a_duty_manager_closes_a_complaint(desk_env: ServiceEnv, desk: TestClient) -> None:
    manager = issue(desk_env, "duty_manager", "DM01")
    answer = desk.post("/complaints/c-1/close", headers=bearer(manager))
    assert answer.status_code == 200
    assert answer.json() == {"complaint_id": "c-1", "closed_by": "DM01"}


@pytest.mark.postgres
def test_a_guarded_route_still_answers_401_before_403(desk: TestClient) -> None:
    assert desk.post("/complaints/c-1/close").status_code == 401
    assert desk.post("/complaints/c-1/close", headers=bearer("cpt_nobody")).status_code == 401


@pytest.mark.postgres
def test_a_token_says_who_is_calling(desk_env: ServiceEnv, desk: TestClient) -> None:
    token = issue(desk_env, "department", "B-07", department_id="billing")
    assert desk.get("/me", headers=bearer(token)).json() == {
        "staff_id": "B-07",
        "role": "department",
        "department_id": "billing",
        "tenant": "default",
    }


# -- storage -------------------------------------------------------------------------


@pytest.mark.postgres
def test_tokens_are_stored_only_as_hashes(desk_env: ServiceEnv) -> None:
    tokens = [
        issue(desk_env, "agent", "A001"),
        issue(desk_env, "department", "B-07", department_id="billing", label="billing desk"),
    ]
    with desk_env.auth_db.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text("SELECT * FROM api_tokens"))]
    assert len(rows) == 2
    stored = " ".join(str(value) for row in rows for value in row.values())
    for token in tokens:
        assert token not in stored
    assert {row["token_hash"] for row in rows} == {
        hashlib.sha256(t.encode()).hexdigest() for t in tokens
    }
    # The hint lets an operator tell tokens apart; it is far too short to use.
    assert all(len(row["token_hint"]) <= 10 for row in rows)


# -- issuing tokens from the command line ----------------------------------------------


def run_cli(argv: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SCHEMA_PREFIX")}
    return subprocess.run(
        argv, env={**base, **env}, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


@pytest.mark.postgres
def test_the_token_command_prints_a_token_the_services_accept(
    desk_env: ServiceEnv, desk: TestClient
) -> None:
    with desk_env.auth_db.transaction() as session:  # what the directory says of B-07
        put_grant(session, Grant("B-07", "department", "billing", active=True))
    command = ["issue", "--role", "department", "--staff", "B-07", "--department", "billing"]
    done = run_cli(
        [PYTHON, "-m", "shared.auth.cli", *command],
        DATABASE_URL=desk_env.settings.database_url or "",
        SCHEMA_PREFIX=desk_env.settings.schema_prefix,
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    assert "role=department department=billing" in done.stderr
    assert desk.get("/me", headers=bearer(token)).json() == {
        "staff_id": "B-07",
        "role": "department",
        "department_id": "billing",
        "tenant": "default",
    }


def test_make_token_on_the_local_sqlite_system(tmp_path: Path) -> None:
    """On a fresh system the first administrator's token comes from a shell; an agent's
    only once the directory has them."""
    agent = run_cli(
        [PYTHON, "scripts/stack.py", "token", "--role", "agent", "--staff", "A001"],
        STACK="dev",
        RUN_DIR=str(tmp_path),
    )
    assert agent.returncode == 2
    assert agent.stdout == ""
    assert "error: staff 'A001' is not in the directory (add them there first)" in agent.stderr

    done = run_cli(
        [PYTHON, "scripts/stack.py", "token", "--role", "admin", "--staff", "AD01"],
        STACK="dev",
        RUN_DIR=str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert "registered as a bootstrap administrator" in done.stderr
    token = done.stdout.strip().splitlines()[-1]
    assert token.startswith("cpt_")
    auth_db = database_for(AUTH_STORE, Settings(data_dir=tmp_path / "data"))
    try:
        principal = TokenVerifier(auth_db).verify(token)
    finally:
        auth_db.dispose()
    assert principal is not None
    assert (principal.staff_id, principal.role) == ("AD01", Role.ADMIN)


@pytest.mark.parametrize("days", ["0", "-3", "91"])
def test_the_token_command_refuses_a_token_that_never_expires_or_lives_too_long(
    tmp_path: Path, days: str
) -> None:
    command = ["issue", "--role", "admin", "--staff", "AD01", "--expires-days", days]
    done = run_cli([PYTHON, "-m", "shared.auth.cli", *command], DATA_DIR=str(tmp_path))
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"error: --expires-days {days}: a token lives 1 to 90 days" in done.stderr
    assert not (tmp_path / "auth.db").exists()  # refused before anything was written


def test_every_token_the_command_issues_expires(tmp_path: Path) -> None:
    done = run_cli(
        [PYTHON, "-m", "shared.auth.cli", "issue", "--role", "admin", "--staff", "AD01"],
        DATA_DIR=str(tmp_path),
        TOKEN_MAX_DAYS="30",
    )
    assert done.returncode == 0, done.stderr
    auth_db = create_database(f"sqlite:///{tmp_path / 'auth.db'}", schema="auth")
    try:
        with auth_db.engine.connect() as conn:
            row = conn.execute(text("SELECT created_at, expires_at FROM api_tokens")).one()
    finally:
        auth_db.dispose()
    created, expires = (datetime.fromisoformat(str(v)) for v in row)
    assert expires - created == timedelta(days=30)


def test_the_token_command_refuses_a_role_that_does_not_exist(tmp_path: Path) -> None:
    done = run_cli(
        [PYTHON, "-m", "shared.auth.cli", "issue", "--role", "boss", "--staff", "A001"],
        DATA_DIR=str(tmp_path),
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "invalid choice: 'boss'" in done.stderr
    assert "duty_manager" in done.stderr  # the roles there are, to pick from


def test_the_token_command_refuses_a_department_user_without_a_department(
    tmp_path: Path,
) -> None:
    done = run_cli(
        [PYTHON, "-m", "shared.auth.cli", "issue", "--role", "department", "--staff", "B-07"],
        DATA_DIR=str(tmp_path),
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "error: department: a department user needs a department id" in done.stderr
    auth_db = create_database(f"sqlite:///{tmp_path / 'auth.db'}", schema="auth")
    try:
        with auth_db.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM api_tokens")).scalar_one() == 0
    finally:
        auth_db.dispose()


def test_on_sqlite_every_process_hears_of_a_revocation_at_the_next_request(
    tmp_path: Path,
) -> None:
    """SQLite cannot notify: each request reads the store's generation, a number every
    revocation raises, and what was cached under an older one is looked up again."""
    settings = Settings(data_dir=tmp_path)
    upgrade(AUTH_STORE, url=settings.database_url_for(AUTH_STORE), schema="auth")
    one_db, other_db = database_for(AUTH_STORE, settings), database_for(AUTH_STORE, settings)
    try:
        with one_db.transaction() as session:
            grant_outside_directory(session, "A001", "agent")
            grant_outside_directory(session, "A002", "agent")
            token, _ = issue_token(session, staff_id="A001", role="agent")
            colleague, _ = issue_token(session, staff_id="A002", role="agent")
        one, other = TokenVerifier(one_db), TokenVerifier(other_db)
        for verifier in (one, other):
            assert verifier.verify(token) is not None
            assert verifier.verify(colleague) is not None
        with one_db.transaction() as session:
            revoke_tokens(session, staff_id="A001")
        for verifier in (one, other):
            assert verifier.verify(token) is None
            assert verifier.verify(colleague) is not None
    finally:
        one_db.dispose()
        other_db.dispose()
