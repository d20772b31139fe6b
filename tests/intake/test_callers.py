"""Every kind of caller a hotline hears: a landline with an extension, and a caller who will
not give a number (real PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.intake.conftest import Intake

pytestmark = pytest.mark.postgres


def _received(intake: Intake) -> dict[str, Any]:
    """The payload of the last `complaint.received` written to the outbox."""
    rows = [r for r in intake.outbox_rows() if r.event_type == "complaint.received"]
    return dict(json.loads(rows[-1].value)["payload"])


def test_a_landline_caller_is_registered_with_the_extension_and_gets_no_sms(
    intake: Intake,
) -> None:
    r = intake.register(customer_phone="010-6512 3456 转 801", customer_name="刘先生")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["customer_phone"], body["customer_extension"]) == ("+861065123456", "801")
    assert body["customer_textable"] is False and body["anonymous"] is False
    payload = _received(intake)
    # What notify and escalation need to leave SMS out and call back instead.
    assert payload["customer_phone"] == "+861065123456"
    assert payload["customer_extension"] == "801"
    assert payload["customer_textable"] is False
    assert payload["anonymous"] is False


def test_a_landline_callers_file_is_kept_by_the_number_however_it_is_typed(
    intake: Intake,
) -> None:
    first = intake.register(customer_phone="010-6512 3456", customer_name="刘先生").json()
    again = intake.register(customer_phone="+86 10 6512 3456", category="network")
    assert again.status_code == 201, again.text
    assert again.json()["customer_file"]["open_complaints"] == 1
    assert again.json()["customer_file"]["repeat"] is True
    for spelling in ("010-6512%203456", "+861065123456", "01065123456"):
        customer = intake.client.get(f"/customers/{spelling}", headers=intake.agent)
        assert customer.status_code == 200, customer.text
        assert customer.json()["phone"] == "+861065123456"
        assert [c["id"] for c in customer.json()["complaints"]] == [again.json()["id"], first["id"]]


def test_a_mobile_caller_can_still_receive_sms(intake: Intake) -> None:
    body = intake.register().json()
    assert body["customer_textable"] is True and body["customer_extension"] is None
    assert _received(intake)["customer_textable"] is True


def test_an_anonymous_web_complaint_is_registered_without_a_file_and_says_so(
    intake: Intake,
) -> None:
    first = intake.register(customer_phone=..., customer_name=..., anonymous=True, channel="web")
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["anonymous"] is True and body["customer_phone"] is None
    assert body["customer_textable"] is False
    assert body["customer_file"] == {
        "open_complaints": 0,
        "complaints_last_30_days": 0,
        "total_complaints": 0,
        "repeat": False,
        "last_complaint_at": None,
    }
    payload = _received(intake)
    assert payload["anonymous"] is True and payload["customer_phone"] is None
    assert payload["customer_textable"] is False
    # A second anonymous complaint is nobody's repeat call, and nobody has a file.
    second = intake.register(customer_phone=None, anonymous=True, channel="web").json()
    assert second["customer_file"]["total_complaints"] == 0
    assert intake.count("customers") == 0
    assert intake.count("complaints") == 2


def test_a_complaint_without_a_phone_is_refused_until_the_agent_asks_or_marks_it_anonymous(
    intake: Intake,
) -> None:
    for missing in (..., None, "  "):
        r = intake.register(customer_phone=missing)
        assert r.status_code == 422, r.text
        (field,) = r.json()["fields"]
        assert field["field"] == "customer_phone"
        assert "anonymous" in field["message"] and "ask the caller" in field["message"]
    assert intake.count("complaints") == 0


@pytest.mark.parametrize(
    ("fields", "bad", "reason"),
    [
        ({"anonymous": True}, "customer_phone", "no phone"),
        ({"customer_extension": "801", "customer_phone": ...}, "customer_phone", "anonymous"),
        (
            {"customer_extension": "801", "customer_phone": ..., "anonymous": True},
            "customer_extension",
            "needs the number",
        ),
        ({"customer_extension": "8O1"}, "customer_extension", "digits only"),
        (
            {"customer_phone": "010-6512 3456 转 801", "customer_extension": "802"},
            "customer_phone",
            "two extensions",
        ),
        ({"customer_phone": "6512 3456"}, "customer_phone", "area code"),
    ],
)
def test_what_does_not_make_a_caller_is_named(
    intake: Intake, fields: dict[str, Any], bad: str, reason: str
) -> None:
    r = intake.register(**fields)
    assert r.status_code == 422, r.text
    problems = {f["field"]: f["message"] for f in r.json()["fields"]}
    assert reason in problems[bad], problems


def test_the_extension_may_be_given_apart_from_the_number(intake: Intake) -> None:
    r = intake.register(customer_phone="(010) 6512-3456", customer_extension="801")
    assert r.status_code == 201, r.text
    assert (r.json()["customer_phone"], r.json()["customer_extension"]) == ("+861065123456", "801")
    same = intake.register(customer_phone="010 6512 3456 ext 801", customer_extension="801")
    assert same.status_code == 201 and same.json()["customer_extension"] == "801"
