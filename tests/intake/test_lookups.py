"""Looking complaints up: filters, pages, who may see what."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from services.intake.complaints.service import complaints
from tests.intake.conftest import Intake

pytestmark = pytest.mark.postgres


def _move(intake: Intake, complaint_id: str, **values: object) -> None:
    with intake.env.db.transaction() as session:
        session.execute(update(complaints).where(complaints.c.id == complaint_id).values(**values))


def test_the_list_pages_newest_first_without_gaps_or_repeats(intake: Intake) -> None:
    ids = [intake.register(customer_phone=f"1380013{n:04d}").json()["id"] for n in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = intake.client.get("/complaints", params=params, headers=intake.agent).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


def test_filters_by_phone_status_category_and_time(intake: Intake) -> None:
    a = intake.register(customer_phone="13900000001").json()
    b = intake.register(customer_phone="13900000002", category="network").json()
    _move(intake, b["id"], status="dispatched", status_seq=2, department_id="network_ops")

    def ids(**params: object) -> list[str]:
        r = intake.client.get("/complaints", params=params, headers=intake.agent)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert ids(phone="139 0000 0001") == [a["id"]]
    assert ids(status="dispatched") == [b["id"]]
    assert ids(category="network") == [b["id"]]
    assert ids(**{"from": "2000-01-01T00:00:00Z", "to": "2001-01-01T00:00:00Z"}) == []
    now = datetime.now(UTC).isoformat()
    assert set(ids(to=now)) == {a["id"], b["id"]}


def test_bad_filters_are_named(intake: Intake) -> None:
    for params, field in [
        ({"status": "lost"}, "status"),
        ({"category": "weather"}, "category"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"limit": 1000}, "limit"),
        ({"phone": "12"}, "phone"),
        ({"from": "2026-11-01T00:00:00"}, "from"),
    ]:
        r = intake.client.get("/complaints", params=params, headers=intake.agent)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["fields"][0]["field"] == field


def test_a_department_clerk_sees_only_their_departments_complaints(intake: Intake) -> None:
    ours = intake.register().json()
    theirs = intake.register(customer_phone="13900000002").json()
    _move(intake, ours["id"], status="in_progress", status_seq=3, department_id="billing")
    _move(intake, theirs["id"], status="in_progress", status_seq=3, department_id="network")
    clerk = intake.env.token("department", "D7", department="billing")
    assert intake.client.get(f"/complaints/{ours['id']}", headers=clerk).status_code == 200
    assert intake.client.get(f"/complaints/{theirs['id']}", headers=clerk).status_code == 404
    listed = intake.client.get("/complaints", headers=clerk).json()["items"]
    assert [c["id"] for c in listed] == [ours["id"]]
    other_queue = intake.client.get("/complaints", params={"department": "network"}, headers=clerk)
    assert other_queue.status_code == 404


def test_a_viewer_sees_the_phone_masked(intake: Intake) -> None:
    body = intake.register().json()
    viewer = intake.env.token("viewer", "CLIENT1")
    seen = intake.client.get(f"/complaints/{body['id']}", headers=viewer).json()
    assert seen["customer_phone"] == "+86138****8000"
    assert intake.client.get("/customers/13800138000", headers=viewer).status_code == 403


def test_an_unknown_complaint_or_customer_is_404(intake: Intake) -> None:
    assert intake.client.get("/complaints/nope", headers=intake.agent).status_code == 404
    r = intake.client.get("/customers/13700000000", headers=intake.agent)
    assert r.status_code == 404 and "137****0000" in r.json()["message"]


def test_a_search_by_words_finds_the_text_the_name_or_the_reference(intake: Intake) -> None:
    first = intake.register(description="宽带每天晚上断线，修了三次都没好。").json()
    second = intake.register(customer_name="Mr_Smith", description="账单 100% 多扣了钱").json()

    def found(q: str) -> list[str]:
        answer = intake.client.get("/complaints", params={"q": q}, headers=intake.agent)
        assert answer.status_code == 200, answer.text
        return [item["id"] for item in answer.json()["items"]]

    assert found("晚上断线") == [first["id"]]
    assert found("mr_smith") == [second["id"]]
    assert found(first["reference"]) == [first["id"]]
    assert found(first["reference"].lower()) == [first["id"]]
    # % and _ are no wildcards: 100% is the amount; a part of a name is no name.
    assert found("100%") == [second["id"]]
    assert found("r_S") == []
    assert found("x_y") == []
    too_long = intake.client.get("/complaints", params={"q": "字" * 101}, headers=intake.agent)
    assert too_long.status_code == 422
