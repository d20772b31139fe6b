"""A file attached at intake is listed in the complaint's history: intake's own event,
from intake's outbox, handled by escalation's consumer handler. The entry is one more
link of the tamper-evident chain; it changes neither the state nor a deadline, and
escalation announces nothing for it."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.intake.config import IntakeConfig
from services.intake.db import outbox as intake_outbox
from services.intake.main import create_app as intake_app
from shared.contracts import ATTACHMENT_ADDED, COMPLAINT_RECEIVED
from shared.events import Envelope, registry
from shared.vocabulary import Record
from tests.conftest import ServiceEnv
from tests.escalation.conftest import Centre
from tests.intake.conftest import complaint
from tests.support import files

pytestmark = pytest.mark.postgres


class Intake:
    """Intake beside the centre, its files kept on disk (the store is not the point here)."""

    def __init__(self, env: ServiceEnv, client: TestClient) -> None:
        self.env, self.client = env, client
        self.agent = env.token("agent", "A001")

    def events(self, complaint_id: str, name: str) -> list[Envelope]:
        with self.env.db.read() as session:
            rows = session.execute(
                select(intake_outbox)
                .where(intake_outbox.c.key == complaint_id)
                .order_by(intake_outbox.c.id)
            )
            decoded = [registry.decode(row.value.encode()) for row in rows]
        return [event.envelope for event in decoded if event.type == name]


@pytest.fixture
def intake(service_env: Callable[[str], ServiceEnv], tmp_path: Path) -> Iterator[Intake]:
    env = service_env("intake")
    config = IntakeConfig(object_store="filesystem", attachments_dir=tmp_path)
    with TestClient(intake_app(env.settings, config)) as client:
        yield Intake(env, client)


def registered_and_taken_in(intake: Intake, centre: Centre) -> dict[str, Any]:
    answer = intake.client.post(
        "/complaints",
        json=complaint(description="楼上水管爆裂，漏水把我家天花板泡坏了。"),
        headers=intake.agent,
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    [received] = intake.events(created["id"], COMPLAINT_RECEIVED.name)
    assert centre.deliver(received)
    return created


def test_the_history_lists_the_photo_an_agent_attached(intake: Intake, centre: Centre) -> None:
    created = registered_and_taken_in(intake, centre)
    cid = created["id"]
    before = centre.row(cid)
    photo = files.jpeg(2_200_000)
    attached = intake.client.post(
        f"/complaints/{cid}/attachments",
        files={"file": ("水管爆裂.jpg", photo, "image/jpeg")},
        headers=intake.agent,
    )
    assert attached.status_code == 201, attached.text
    [event] = intake.events(cid, ATTACHMENT_ADDED.name)
    outgoing = len(centre.events(cid))

    assert centre.deliver(event)
    assert not centre.deliver(event)  # redelivered: listed once

    entries = centre.history(cid)
    last = entries[-1]
    assert [e["action"] for e in entries].count(Record.ATTACHMENT) == 1
    assert last["action"] == Record.ATTACHMENT
    assert (last["actor_id"], last["actor_role"]) == ("A001", "agent")
    assert last["from_state"] == last["to_state"] == before.state
    assert (last["event_type"], last["event_id"]) == (ATTACHMENT_ADDED.name, str(event.event_id))
    assert last["payload"]["name"] == "水管爆裂.jpg"
    assert last["payload"]["content_type"] == "image/jpeg"
    assert last["payload"]["size"] == len(photo)
    assert last["payload"]["sha256"] == hashlib.sha256(photo).hexdigest()
    assert last["payload"]["attachment_id"] == attached.json()["id"]
    assert centre.verify(cid) == {
        "valid": True,
        "first_bad_seq": None,
        "entries": len(entries),
        "problem": None,
    }
    after = centre.row(cid)
    assert (after.state, after.due_at, after.stage) == (before.state, before.due_at, before.stage)
    assert len(centre.events(cid)) == outgoing  # nothing announced downstream

    # The lifecycle goes on after it, on the same chain.
    assert centre.act(cid, "acknowledge", "DM01").status_code == 200
    entries = centre.history(cid)
    assert entries[-1]["seq"] == last["seq"] + 1
    assert entries[-1]["prev_hash"] == last["hash"]
    assert centre.verify(cid)["valid"] is True


def test_qa_reads_the_entry_with_the_customers_name_masked(intake: Intake, centre: Centre) -> None:
    created = registered_and_taken_in(intake, centre)
    cid = created["id"]
    answer = intake.client.post(
        f"/complaints/{cid}/attachments",
        files={"file": ("王女士身份证.jpg", files.jpeg(), "image/jpeg")},
        headers=intake.agent,
    )
    assert answer.status_code == 201, answer.text
    [event] = intake.events(cid, ATTACHMENT_ADDED.name)
    assert centre.deliver(event)
    assert centre.history(cid, who="Q01")[-1]["payload"]["name"] == "王**身份证.jpg"
    assert centre.history(cid)[-1]["payload"]["name"] == "王女士身份证.jpg"
    assert centre.verify(cid, who="Q01")["valid"] is True


def test_a_file_for_a_complaint_escalation_never_took_in_is_passed_over(
    intake: Intake, centre: Centre
) -> None:
    answer = intake.client.post(
        "/complaints", json=complaint(description="路灯坏了三天没人修。"), headers=intake.agent
    )
    cid = answer.json()["id"]
    attached = intake.client.post(
        f"/complaints/{cid}/attachments",
        files={"file": ("lamp.png", files.png(), "image/png")},
        headers=intake.agent,
    )
    assert attached.status_code == 201, attached.text
    [event] = intake.events(cid, ATTACHMENT_ADDED.name)
    assert centre.deliver(event)  # handled: nothing to list it on, nothing retried
    assert centre.row(cid) is None
