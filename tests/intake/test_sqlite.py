"""The embedded default for a quick local run: the same intake on SQLite files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.intake.complaints.service import complaints, customers
from services.intake.db import outbox
from services.intake.importer import import_rows, read_rows
from services.intake.main import create_app
from shared.auth.store import grant_outside_directory, issue_token
from shared.db import database_for
from shared.migrations import upgrade
from shared.settings import AUTH_STORE, Settings
from tests.conftest import ROOT
from tests.intake.conftest import complaint

GOV = Path(ROOT) / "data" / "gov_messages_labelled.csv"


@pytest.fixture
def sqlite_intake(tmp_path: Path) -> Iterator[tuple[TestClient, Settings, dict[str, str]]]:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1", access_log=False)
    for store in ("intake", AUTH_STORE):
        upgrade(store, url=settings.database_url_for(store))
    auth = database_for(AUTH_STORE, settings)
    with auth.transaction() as session:
        grant_outside_directory(session, "A001", "agent")  # no directory in this test
        token, _ = issue_token(session, staff_id="A001", role="agent")
    auth.dispose()
    with TestClient(create_app(settings)) as client:
        yield client, settings, {"Authorization": f"Bearer {token}"}


def test_an_agent_registers_on_sqlite_with_the_same_answer_and_event(
    sqlite_intake: tuple[TestClient, Settings, dict[str, str]],
) -> None:
    client, settings, agent = sqlite_intake
    first = client.post("/complaints", json=complaint(), headers=agent)
    second = client.post("/complaints", json=complaint(category="network"), headers=agent)
    assert first.status_code == second.status_code == 201, first.text
    assert second.json()["customer_file"]["open_complaints"] == 1
    assert first.json()["reference"] != second.json()["reference"]
    db = database_for("intake", settings)
    with db.read() as session:
        rows = list(session.execute(select(outbox).order_by(outbox.c.id)))
    db.dispose()
    assert [json.loads(r.value)["payload"]["reference"] for r in rows] == [
        first.json()["reference"],
        second.json()["reference"],
    ]


def test_a_landline_and_an_anonymous_caller_register_on_sqlite_too(
    sqlite_intake: tuple[TestClient, Settings, dict[str, str]],
) -> None:
    client, settings, agent = sqlite_intake
    landline = client.post(
        "/complaints", json=complaint(customer_phone="010-6512 3456 转 801"), headers=agent
    )
    anonymous = client.post(
        "/complaints", json=complaint(customer_phone=None, anonymous=True), headers=agent
    )
    assert landline.status_code == anonymous.status_code == 201, anonymous.text
    assert landline.json()["customer_extension"] == "801"
    assert anonymous.json()["customer_file"]["total_complaints"] == 0
    db = database_for("intake", settings)
    with db.read() as session:
        keys = sorted(session.execute(select(customers.c.key)).scalars())
    db.dispose()
    assert keys == ["+861065123456"]  # the anonymous caller has no file


def test_idempotent_retries_on_sqlite_register_once(
    sqlite_intake: tuple[TestClient, Settings, dict[str, str]],
) -> None:
    client, _, agent = sqlite_intake
    headers = {**agent, "Idempotency-Key": "retry-1"}
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(
                lambda _: client.post("/complaints", json=complaint(), headers=headers), range(4)
            )
        )
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert len({a.json()["id"] for a in answers}) == 1
    other = client.post("/complaints", json=complaint(severity="urgent"), headers=headers)
    assert other.status_code == 409


def test_an_unreachable_database_is_503_with_retry_after(tmp_path: Path) -> None:
    settings = Settings(
        database_url="postgresql://nobody:secret@127.0.0.1:1/complaints",
        kafka_bootstrap_servers="127.0.0.1:1",
        access_log=False,
    )
    with TestClient(create_app(settings)) as client:
        r = client.post(
            "/complaints",
            json=complaint(),
            headers={"Authorization": "Bearer cpt_" + "x" * 43},
        )
    assert r.status_code == 503, r.text
    assert r.json()["error"] == "database_unavailable"
    assert r.headers["Retry-After"] == "2"


def test_the_import_command_loads_rows_on_sqlite_like_on_postgresql(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    upgrade("intake", url=settings.database_url_for("intake"))
    db = database_for("intake", settings)
    rows = list(read_rows(GOV))[:30]
    try:
        # As live work: their files then count each citizen's open messages.
        first, again = (
            import_rows(
                db,
                rows,
                preset="gov-messages",
                source="gov",
                default_outcome="open",
                progress=False,
            )
            for _ in range(2)
        )
        with db.read() as session:
            stored = list(session.execute(select(complaints).order_by(complaints.c.number)))
            events = [json.loads(r.value) for r in session.execute(select(outbox))]
    finally:
        db.dispose()
    assert (first.accepted, first.rejected, again.already_imported) == (30, [], 30)
    assert [r.number for r in stored] == list(range(1, 31))
    assert all(r.reference.endswith(f"-{r.number:06d}") for r in stored)
    assert sorted(e["complaint_id"] for e in events) == sorted(r.id for r in stored)
    assert all(e["payload"]["imported"] for e in events)
    # Oldest first: each message's file counts the same citizen's earlier messages.
    earlier = {
        r.id: sum(1 for o in stored if o.customer_key == r.customer_key and o.number < r.number)
        for r in stored
    }
    assert {e["complaint_id"]: e["payload"]["open_complaints"] for e in events} == earlier
    assert any(earlier.values())
