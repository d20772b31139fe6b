"""What a customer texts back, as notify publishes it (`sms.inbound`): "1"/"2" to the
satisfaction question is their verdict; anything else is kept as their message."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from services.intake.handlers import handlers
from shared.consumer import NotYet, _waiting
from shared.contracts import SMS_INBOUND, SmsInbound
from shared.events import SYSTEM, Event, registry
from shared.topics import COMPLAINTS_LIFECYCLE
from tests.intake.conftest import Intake
from tests.intake.test_feedback_and_notes import _lifecycle

pytestmark = pytest.mark.postgres

CUSTOMER = "+8613800138000"  # the phone `complaint()` registers, normalised


def _texts(intake: Intake, complaint_id: str | None, text: str, **kw: Any) -> list[str]:
    """Hand intake's worker one `sms.inbound`; returns the types of the events it wrote."""
    before = len(intake.outbox_rows())
    payload = SmsInbound(
        message_id=str(uuid.uuid4()),
        phone=kw.pop("phone", CUSTOMER),
        text=text,
        received_at=datetime.now(UTC),
        complaint_id=complaint_id,
        **kw,
    )
    envelope = registry.new(
        SMS_INBOUND.name,
        payload,
        source="notify",
        tenant="default",
        actor=SYSTEM,
        complaint_id=complaint_id,
    )
    handle = handlers(intake.env.db, intake.env.settings)[SMS_INBOUND.name]
    with intake.env.db.transaction() as session:
        handle(session, Event(envelope=envelope, payload=payload))
    return [row.event_type for row in intake.outbox_rows()[before:]]


def _replied(intake: Intake) -> dict[str, Any]:
    c = intake.register().json()
    _lifecycle(intake, c["id"], c["reference"], 4, "replied", department_id="billing")
    return c


def test_a_customers_2_to_the_reply_is_recorded_as_unsatisfied_feedback_from_sms(
    intake: Intake,
) -> None:
    c = _replied(intake)
    assert _texts(intake, c["id"], "2", intent="unsatisfied") == ["complaint.feedback_received"]
    event = json.loads(intake.outbox_rows()[-1].value)
    assert event["payload"] | {"comment": None} == {
        "complaint_id": c["id"],
        "reference": c["reference"],
        "result": "unsatisfied",
        "comment": None,
        "source": "sms",
        "recorded_by": "customer",
    }
    assert event["actor"] == {"id": "customer", "role": "customer"}
    listed = intake.client.get(f"/complaints/{c['id']}/feedback", headers=intake.agent).json()
    assert [(f["result"], f["source"]) for f in listed] == [("unsatisfied", "sms")]


def test_a_verdict_read_before_the_reply_it_answers_waits_and_is_then_the_verdict(
    intake: Intake,
) -> None:
    """The customer answered the question faster than the read copy heard of the reply
    (intake's worker behind on escalation's topic, or down): under its consumer the SMS
    waits until that topic is read, and counts as the verdict, not as a message."""
    c = intake.register().json()
    _lifecycle(intake, c["id"], c["reference"], 3, "in_progress", department_id="billing")
    with _waiting(True), pytest.raises(NotYet) as waited:
        _texts(intake, c["id"], "1", intent="satisfied")
    assert waited.value.topic == COMPLAINTS_LIFECYCLE
    assert intake.client.get(f"/complaints/{c['id']}/notes", headers=intake.agent).json() == []
    _lifecycle(intake, c["id"], c["reference"], 4, "replied", department_id="billing")
    with _waiting(True):
        assert _texts(intake, c["id"], "1", intent="satisfied") == ["complaint.feedback_received"]


def test_a_satisfied_1_after_the_complaint_was_closed_is_kept_as_the_customers_message(
    intake: Intake,
) -> None:
    c = _replied(intake)
    _lifecycle(intake, c["id"], c["reference"], 5, "closed")
    assert _texts(intake, c["id"], "1", intent="satisfied") == ["complaint.note_added"]
    notes = intake.client.get(f"/complaints/{c['id']}/notes", headers=intake.agent).json()
    assert [(n["text"], n["source"], n["added_by"]) for n in notes] == [
        ("1", "customer_sms", "customer")
    ]
    assert intake.client.get(f"/complaints/{c['id']}/feedback", headers=intake.agent).json() == []


def test_anything_else_the_customer_texts_is_attached_to_the_complaint(intake: Intake) -> None:
    c = intake.register().json()
    assert _texts(intake, c["id"], "  我下午三点以后方便接电话  ") == ["complaint.note_added"]
    notes = intake.client.get(f"/complaints/{c['id']}/notes", headers=intake.agent).json()
    assert [(n["text"], n["source"]) for n in notes] == [
        ("我下午三点以后方便接电话", "customer_sms")
    ]


@pytest.mark.parametrize(
    "case",
    ["no complaint matched", "a duty manager's reply", "another phone", "an opt-out", "blank"],
)
def test_texts_that_are_not_the_customers_word_on_this_complaint_change_nothing(
    intake: Intake, case: str
) -> None:
    c = _replied(intake)
    kw: dict[str, Any] = {
        "no complaint matched": {"complaint_id": None, "text": "2", "intent": "unsatisfied"},
        "a duty manager's reply": {"text": "1", "intent": "ack", "staff_id": "DM01"},
        "another phone": {"text": "2", "intent": "unsatisfied", "phone": "+8613900000000"},
        "an opt-out": {"text": "TD", "intent": "opt_out"},
        "blank": {"text": "   "},
    }[case]
    complaint_id = kw.pop("complaint_id", c["id"])
    assert _texts(intake, complaint_id, kw.pop("text"), **kw) == []
    assert intake.count("feedback") == 0 and intake.count("notes") == 0
