"""Feedback and notes, and the lifecycle read copy that decides when feedback is due."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.intake.complaints.flows import apply_lifecycle
from shared.contracts import LifecycleChanged
from tests.intake.conftest import Intake

pytestmark = pytest.mark.postgres


def _lifecycle(
    intake: Intake, complaint_id: str, reference: str, seq: int, to: str, **kw: object
) -> bool:
    payload = LifecycleChanged(
        complaint_id=complaint_id,
        reference=reference,
        action="reply",
        from_state="in_progress",
        to_state=to,  # type: ignore[arg-type]
        history_seq=seq,
        **kw,  # type: ignore[arg-type]
    )
    with intake.env.db.transaction() as session:
        return apply_lifecycle(session, payload, datetime.now(UTC))


def test_the_read_copy_follows_the_escalation_service_and_ignores_stale_events(
    intake: Intake,
) -> None:
    c = intake.register().json()
    assert _lifecycle(intake, c["id"], c["reference"], 3, "in_progress", department_id="billing")
    assert _lifecycle(intake, c["id"], c["reference"], 5, "replied", department_id="billing")
    assert not _lifecycle(intake, c["id"], c["reference"], 4, "in_progress")  # late arrival
    assert not _lifecycle(intake, c["id"], c["reference"], 5, "replied")  # redelivered
    seen = intake.client.get(f"/complaints/{c['id']}", headers=intake.agent).json()
    assert (seen["status"], seen["department_id"]) == ("replied", "billing")


def test_feedback_on_a_replied_complaint_is_recorded_and_announced(intake: Intake) -> None:
    c = intake.register().json()
    _lifecycle(intake, c["id"], c["reference"], 4, "replied")
    r = intake.client.post(
        f"/complaints/{c['id']}/feedback",
        json={"result": "unsatisfied", "comment": "还是多扣了钱"},
        headers=intake.agent,
    )
    assert r.status_code == 201, r.text
    assert r.json()["result"] == "unsatisfied"
    event = json.loads(intake.outbox_rows()[-1].value)
    assert event["type"] == "complaint.feedback_received"
    assert event["payload"]["comment"] == "还是多扣了钱"
    listed = intake.client.get(f"/complaints/{c['id']}/feedback", headers=intake.agent).json()
    assert [f["result"] for f in listed] == ["unsatisfied"]


def test_feedback_before_the_reply_is_refused_naming_the_state(intake: Intake) -> None:
    c = intake.register().json()
    r = intake.client.post(
        f"/complaints/{c['id']}/feedback", json={"result": "satisfied"}, headers=intake.agent
    )
    assert r.status_code == 409
    assert r.json()["state"] == "received" and "'replied'" in r.json()["message"]
    assert [row.event_type for row in intake.outbox_rows()] == ["complaint.received"]


def test_an_unknown_feedback_result_is_named(intake: Intake) -> None:
    c = intake.register().json()
    r = intake.client.post(
        f"/complaints/{c['id']}/feedback", json={"result": "meh"}, headers=intake.agent
    )
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "result"


def test_an_agent_adds_what_the_customer_said_on_a_second_call(intake: Intake) -> None:
    c = intake.register().json()
    r = intake.client.post(
        f"/complaints/{c['id']}/notes",
        json={"text": "客户补充：扣费发生在 11 月 3 日。"},
        headers=intake.agent,
    )
    assert r.status_code == 201, r.text
    event = json.loads(intake.outbox_rows()[-1].value)
    assert event["type"] == "complaint.note_added"
    assert event["payload"]["text"] == "客户补充：扣费发生在 11 月 3 日。"
    notes = intake.client.get(f"/complaints/{c['id']}/notes", headers=intake.agent).json()
    assert [n["text"] for n in notes] == ["客户补充：扣费发生在 11 月 3 日。"]


def test_a_clerk_cannot_add_notes_to_another_departments_complaint(intake: Intake) -> None:
    c = intake.register().json()
    _lifecycle(intake, c["id"], c["reference"], 2, "dispatched", department_id="network")
    clerk = intake.env.token("department", "D1", department="billing")
    r = intake.client.post(f"/complaints/{c['id']}/notes", json={"text": "hi"}, headers=clerk)
    assert r.status_code == 404


def test_a_follow_up_call_records_the_verdict_and_a_note_by_the_reference_read_out(
    intake: Intake,
) -> None:
    c = intake.register().json()
    _lifecycle(intake, c["id"], c["reference"], 4, "replied", department_id="billing")
    ref = c["reference"]
    r = intake.client.post(
        f"/complaints/{ref}/feedback",
        json={"result": "satisfied", "comment": "钱已退回"},
        headers=intake.agent,
    )
    assert r.status_code == 201, r.text
    assert r.json()["complaint_id"] == c["id"]
    note = intake.client.post(
        f"/complaints/{ref}/notes", json={"text": "客户说以后按月核对账单。"}, headers=intake.agent
    )
    assert note.status_code == 201, note.text
    events = [json.loads(row.value) for row in intake.outbox_rows()[-2:]]
    assert [(e["type"], e["complaint_id"]) for e in events] == [
        ("complaint.feedback_received", c["id"]),
        ("complaint.note_added", c["id"]),
    ]
    listed = intake.client.get(f"/complaints/{ref}/feedback", headers=intake.agent).json()
    assert [f["result"] for f in listed] == ["satisfied"]
    notes = intake.client.get(f"/complaints/{ref}/notes", headers=intake.agent).json()
    assert [n["text"] for n in notes] == ["客户说以后按月核对账单。"]


def test_a_reference_nobody_issued_or_another_departments_is_not_found(intake: Intake) -> None:
    c = intake.register().json()
    _lifecycle(intake, c["id"], c["reference"], 2, "dispatched", department_id="network")
    clerk = intake.env.token("department", "D1", department="billing")
    ref = c["reference"]
    for path in (f"/complaints/{ref}/notes", f"/complaints/{ref}/feedback"):
        assert intake.client.get(path, headers=clerk).status_code == 404
    assert (
        intake.client.post(f"/complaints/{ref}/notes", json={"text": "hi"}, headers=clerk)
    ).status_code == 404
    nobody = intake.client.post(
        "/complaints/TS20200101-999999/feedback", json={"result": "satisfied"}, headers=intake.agent
    )
    assert nobody.status_code == 404 and "TS20200101-999999" in nobody.json()["message"]
