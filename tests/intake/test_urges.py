"""A caller who calls again about their complaint (催办): the agent takes down what they
say, and the escalation service is asked to urge whoever holds it (real PostgreSQL)."""

from __future__ import annotations

import json

import pytest

from tests.intake.conftest import Intake
from tests.intake.test_feedback_and_notes import _lifecycle

pytestmark = pytest.mark.postgres

WORDS = "已经三天了还没人联系我，请尽快处理。"


def test_a_caller_calling_again_about_an_open_complaint_urges_its_holder(intake: Intake) -> None:
    c = intake.register().json()
    _lifecycle(intake, c["id"], c["reference"], 3, "dispatched", department_id="billing")
    # The caller reads out the reference; the agent types what they say.
    r = intake.client.post(
        f"/complaints/{c['reference']}/urges", json={"text": f"  {WORDS} "}, headers=intake.agent
    )
    assert r.status_code == 201, r.text
    urge = r.json()
    assert (urge["complaint_id"], urge["reference"], urge["status"]) == (
        c["id"],
        c["reference"],
        "dispatched",
    )
    assert (urge["text"], urge["requested_by"]) == (WORDS, "A001")
    row = intake.outbox_rows()[-1]
    assert (row.event_type, row.key) == ("complaint.urge_requested", c["id"])
    event = json.loads(row.value)
    assert event["payload"] == {
        "complaint_id": c["id"],
        "reference": c["reference"],
        "text": WORDS,
        "requested_by": "A001",
    }
    assert event["actor"] == {"id": "A001", "role": "agent"}
    # The next agent on the line sees how often the caller has pressed.
    again = intake.client.post(
        f"/complaints/{c['id']}/urges", json={"text": "还是没人来"}, headers=intake.agent
    )
    assert again.status_code == 201
    listed = intake.client.get(f"/complaints/{c['reference']}/urges", headers=intake.agent).json()
    assert [u["text"] for u in listed] == [WORDS, "还是没人来"]


def test_a_closed_complaints_caller_is_told_it_is_closed_and_what_to_do(intake: Intake) -> None:
    c = intake.register().json()
    _lifecycle(intake, c["id"], c["reference"], 6, "closed", closure_reason="satisfied")
    before = len(intake.outbox_rows())
    r = intake.client.post(
        f"/complaints/{c['reference']}/urges", json={"text": WORDS}, headers=intake.agent
    )
    assert r.status_code == 409, r.text
    body = r.json()
    assert body["state"] == "closed" and body["closure_reason"] == "satisfied"
    assert "is closed" in body["message"]
    assert "register a new complaint" in body["message"] and "reopen" in body["message"]
    assert len(intake.outbox_rows()) == before and intake.count("urges") == 0


def test_an_urge_needs_the_callers_words_and_a_complaint(intake: Intake) -> None:
    c = intake.register().json()
    empty = intake.client.post(
        f"/complaints/{c['id']}/urges", json={"text": "   "}, headers=intake.agent
    )
    assert empty.status_code == 422 and empty.json()["fields"][0]["field"] == "text"
    nobody = intake.client.post(
        "/complaints/TS20200101-999999/urges", json={"text": WORDS}, headers=intake.agent
    )
    assert nobody.status_code == 404
    assert intake.count("urges") == 0


def test_a_department_clerk_does_not_take_callers_and_cannot_urge(intake: Intake) -> None:
    c = intake.register().json()
    _lifecycle(intake, c["id"], c["reference"], 3, "dispatched", department_id="billing")
    clerk = intake.env.token("department", "B07", department="billing")
    r = intake.client.post(f"/complaints/{c['id']}/urges", json={"text": WORDS}, headers=clerk)
    assert r.status_code == 403
    other = intake.env.token("department", "N03", department="network")
    assert intake.client.get(f"/complaints/{c['id']}/urges", headers=other).status_code == 404
