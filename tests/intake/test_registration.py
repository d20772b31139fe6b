"""An agent registers complaints while the customer is on the line (real PostgreSQL)."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.intake.conftest import Intake, complaint

pytestmark = pytest.mark.postgres


def test_an_agent_registers_a_complaint_and_reads_out_the_reference(intake: Intake) -> None:
    r = intake.register()
    assert r.status_code == 201, r.text
    body = r.json()
    assert re.fullmatch(r"TS\d{8}-\d{6}", body["reference"])
    assert body["status"] == "received"
    assert body["customer_phone"] == "+8613800138000"
    assert body["registered_by"] == "A001"
    assert body["description"] == "上月话费账单多扣了 30 元，客服一直没有回复。"
    assert body["customer_file"] == {
        "open_complaints": 0,
        "complaints_last_30_days": 0,
        "total_complaints": 0,
        "repeat": False,
        "last_complaint_at": None,
    }
    got = intake.client.get(f"/complaints/{body['id']}", headers=intake.agent)
    assert got.status_code == 200 and got.json()["reference"] == body["reference"]
    by_reference = intake.client.get(f"/complaints/{body['reference']}", headers=intake.agent)
    assert by_reference.json()["id"] == body["id"]


def test_a_second_call_from_the_same_customer_shows_the_open_complaint_and_the_repeat_flag(
    intake: Intake,
) -> None:
    first = intake.register().json()
    second = intake.register(customer_phone="+86 13800138000", category="network").json()
    assert first["reference"] != second["reference"]
    assert second["customer_file"]["open_complaints"] == 1
    assert second["customer_file"]["complaints_last_30_days"] == 1
    assert second["customer_file"]["repeat"] is True
    customer = intake.client.get("/customers/13800138000", headers=intake.agent).json()
    assert customer["name"] == "王女士"
    assert customer["file"]["total_complaints"] == 2
    assert [c["id"] for c in customer["complaints"]] == [second["id"], first["id"]]


def test_registration_writes_complaint_received_to_the_outbox_in_the_same_transaction(
    intake: Intake,
) -> None:
    body = intake.register(strong_emotion=True, severity="urgent").json()
    rows = intake.outbox_rows()
    assert len(rows) == 1
    row = rows[0]
    assert (row.topic, row.key, row.event_type) == (
        "intake.events",
        body["id"],
        "complaint.received",
    )
    event = json.loads(row.value)
    assert event["complaint_id"] == body["id"]
    assert event["actor"] == {"id": "A001", "role": "agent"}
    payload = event["payload"]
    assert payload["reference"] == body["reference"]
    assert payload["customer_phone"] == "+8613800138000"
    assert payload["strong_emotion"] is True and payload["severity"] == "urgent"
    assert payload["description"] == body["description"]


def test_a_retry_with_the_same_idempotency_key_returns_the_same_complaint_once(
    intake: Intake,
) -> None:
    key = {**intake.agent, "Idempotency-Key": "call-7781-attempt"}
    first = intake.register(headers=key)
    again = intake.register(headers=key, customer_phone="+8613800138000")  # same, typed otherwise
    assert first.status_code == 201 and again.status_code == 200
    assert again.json() == first.json()
    assert intake.count("complaints") == 1
    assert len(intake.outbox_rows()) == 1


def test_the_same_idempotency_key_for_a_different_complaint_is_refused(intake: Intake) -> None:
    key = {**intake.agent, "Idempotency-Key": "k-1"}
    first = intake.register(headers=key).json()
    other = intake.register(headers=key, description="快递丢件，三天没人处理。")
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()["message"]
    assert other.json()["complaint_id"] == first["id"]
    assert intake.count("complaints") == 1


def test_keys_belong_to_the_agent_who_sent_them(intake: Intake) -> None:
    other_agent = {**intake.env.token("agent", "A002"), "Idempotency-Key": "k-1"}
    mine = {**intake.agent, "Idempotency-Key": "k-1"}
    assert intake.register(headers=mine).status_code == 201
    assert intake.register(headers=other_agent).status_code == 201
    assert intake.count("complaints") == 2


def test_concurrent_retries_with_one_key_register_one_complaint(intake: Intake) -> None:
    headers = {**intake.agent, "Idempotency-Key": "double-click"}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: intake.register(headers=headers), range(8)))
    assert sorted(a.status_code for a in answers).count(201) == 1
    assert {a.json()["id"] for a in answers} == {answers[0].json()["id"]}
    assert intake.count("complaints") == 1
    assert len(intake.outbox_rows()) == 1


def test_every_invalid_field_is_named_with_its_reason_and_nothing_is_stored(
    intake: Intake,
) -> None:
    r = intake.register(
        customer_phone="12345",
        channel="fax",
        category="weather",
        severity="critical",
        description="  ",
        occurred_at="2026-11-01T10:00:00",
    )
    assert r.status_code == 422
    fields = {f["field"]: f["message"] for f in r.json()["fields"]}
    assert set(fields) == {
        "customer_phone",
        "channel",
        "category",
        "severity",
        "description",
        "occurred_at",
    }
    assert "billing" in fields["category"]  # the allowed categories are listed
    assert intake.count("complaints") == 0 and intake.outbox_rows() == []


def test_a_missing_field_and_an_unknown_field_are_named(intake: Intake) -> None:
    r = intake.register(customer_phone=..., colour="red")
    assert r.status_code == 422
    fields = {f["field"] for f in r.json()["fields"]}
    assert fields == {"customer_phone", "colour"}


def test_a_bad_idempotency_key_is_refused(intake: Intake) -> None:
    r = intake.register(headers={**intake.agent, "Idempotency-Key": "x" * 200})
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "Idempotency-Key"


@pytest.mark.parametrize("role", ["viewer", "qa", "admin"])
def test_roles_that_do_not_take_calls_cannot_register(intake: Intake, role: str) -> None:
    r = intake.register(headers=intake.env.token(role, "X1"))
    assert r.status_code == 403
    assert "agent" in r.json()["message"]


def test_a_department_clerk_cannot_register(intake: Intake) -> None:
    clerk = intake.env.token("department", "D1", department="billing")
    assert intake.register(headers=clerk).status_code == 403
    assert intake.count("complaints") == 0


def test_no_token_is_401(intake: Intake) -> None:
    assert intake.client.post("/complaints", json=complaint()).status_code == 401


def test_the_categories_come_with_chinese_and_english_labels(intake: Intake) -> None:
    cats = {c["id"]: c for c in intake.client.get("/categories", headers=intake.agent).json()}
    assert cats["billing"]["zh"] and cats["billing"]["en"]
