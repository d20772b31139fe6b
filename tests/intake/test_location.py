"""Where it happened (事发地点): the agent takes down the place as the caller says it, and
it travels with the complaint: stored, announced, read back, imported from older systems,
and masked like the caller's own words for those who may not read them."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from pydantic import ValidationError
from sqlalchemy import select, update

from services.intake.complaints.models import LOCATION_MAX, ComplaintCreate
from services.intake.complaints.registration import request_hash
from services.intake.complaints.service import complaints
from services.intake.importer import import_rows, read_rows
from tests.intake.conftest import Intake, complaint

ESTATE = "朝阳区幸福里小区 3 号楼 2 单元"

# --- the rules, before anything is stored ------------------------------------------------


def test_a_location_is_cleaned_to_one_line_and_a_blank_one_is_none() -> None:
    typed = ComplaintCreate(**complaint(location="  朝阳区幸福里小区\r\n\r\n3 号楼\x00  2 单元 "))
    assert typed.location == ESTATE
    assert ComplaintCreate(**complaint(location=" \n ")).location is None
    assert ComplaintCreate(**complaint()).location is None


def test_a_location_of_201_characters_is_refused_and_200_are_taken() -> None:
    assert ComplaintCreate(**complaint(location="路" * LOCATION_MAX)).location == "路" * 200
    with pytest.raises(ValidationError) as err:
        ComplaintCreate(**complaint(location="路" * (LOCATION_MAX + 1)))
    (error,) = err.value.errors()
    assert error["loc"] == ("location",) and "at most 200 characters" in error["msg"]


def test_a_retry_names_the_same_place_or_it_is_another_complaint() -> None:
    here = ComplaintCreate(**complaint(location=ESTATE))
    retyped = ComplaintCreate(**complaint(location=f" {ESTATE}\n"))
    elsewhere = ComplaintCreate(**complaint(location="人民路 88 号"))
    assert request_hash(here) == request_hash(retyped) != request_hash(elsewhere)
    # Without a place the body hashes as before places were taken down: a retry with a
    # key stored then still gets its first answer.
    nowhere = ComplaintCreate(**complaint()).model_dump(mode="json")
    del nowhere["location"]
    # Nor from an article of the knowledge base: as before articles were recorded.
    del nowhere["answered_from_article"]
    canonical = json.dumps(nowhere, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    expected = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert request_hash(ComplaintCreate(**complaint())) == expected


# --- through the API (real PostgreSQL) ---------------------------------------------------


@pytest.mark.postgres
def test_an_agent_records_where_it_happened_and_the_department_sees_it_on_the_complaint(
    intake: Intake,
) -> None:
    created = intake.register(location=f"  {ESTATE} ")
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["location"] == ESTATE
    (row,) = intake.outbox_rows()
    assert json.loads(row.value)["payload"]["location"] == ESTATE
    with intake.env.db.transaction() as session:
        session.execute(
            update(complaints)
            .where(complaints.c.id == body["id"])
            .values(status="in_progress", status_seq=3, department_id="billing")
        )
    clerk = intake.env.token("department", "B07", department="billing")
    seen = intake.client.get(f"/complaints/{body['reference']}", headers=clerk)
    assert seen.status_code == 200 and seen.json()["location"] == ESTATE
    listed = intake.client.get("/complaints", headers=clerk).json()["items"]
    assert [c["location"] for c in listed] == [ESTATE]


@pytest.mark.postgres
def test_a_complaint_without_a_place_says_none(intake: Intake) -> None:
    body = intake.register().json()
    assert body["location"] is None
    (row,) = intake.outbox_rows()
    assert json.loads(row.value)["payload"]["location"] is None
    got = intake.client.get(f"/complaints/{body['id']}", headers=intake.agent).json()
    assert got["location"] is None


@pytest.mark.postgres
def test_a_location_of_201_characters_is_refused_naming_the_field(intake: Intake) -> None:
    r = intake.register(location="幸福里小区" * 40 + "东")
    assert r.status_code == 422
    (field,) = r.json()["fields"]
    assert field["field"] == "location"
    assert "too long: at most 200 characters" in field["message"]
    assert intake.count("complaints") == 0 and intake.outbox_rows() == []


@pytest.mark.postgres
def test_a_retry_with_its_key_replays_the_place_and_another_place_is_refused(
    intake: Intake,
) -> None:
    key = {**intake.agent, "Idempotency-Key": "call-0931-location"}
    first = intake.register(headers=key, location=ESTATE)
    again = intake.register(headers=key, location=f"{ESTATE}\n")
    other = intake.register(headers=key, location="人民路 88 号")
    assert (first.status_code, again.status_code, other.status_code) == (201, 200, 409)
    assert again.json() == first.json() and again.json()["location"] == ESTATE
    assert intake.count("complaints") == 1


@pytest.mark.postgres
@pytest.mark.parametrize("role", ["viewer", "qa"])
def test_those_who_may_not_read_the_callers_words_see_the_place_masked_like_them(
    intake: Intake, role: str
) -> None:
    # The caller's home, with her name and number in it, as callers do say it.
    home = "王秀英家，幸福里小区 3 号楼 502，门口电话 139 1234 5678"
    body = intake.register(
        customer_name="王秀英", location=home, description="楼下饭店油烟直排，王秀英家窗户全是油。"
    ).json()
    seen = intake.client.get(
        f"/complaints/{body['id']}", headers=intake.env.token(role, "X1")
    ).json()
    assert seen["location"] == "王**家，幸福里小区 3 号楼 502，门口电话 139 **** 5678"
    assert seen["description"] == "楼下饭店油烟直排，王**家窗户全是油。"
    listed = intake.client.get("/complaints", headers=intake.env.token(role, "X1")).json()
    assert [c["location"] for c in listed["items"]] == [seen["location"]]
    # Those who call her back read it as she said it.
    assert (
        intake.client.get(f"/complaints/{body['id']}", headers=intake.agent).json()["location"]
        == home
    )


# --- from an older system's export (real PostgreSQL) -------------------------------------


@pytest.mark.postgres
def test_an_imported_rows_location_lands_on_the_complaint(intake: Intake, tmp_path: Path) -> None:
    far = "新华路" * 67  # 201 characters
    csv_file = tmp_path / "hotline_12345.csv"
    csv_file.write_text(
        "customer_phone,category,description,location,registered_at\n"
        f"13800138000,transport,12 路公交车连续三天没有按时发车,{ESTATE},2026-10-01 09:30\n"
        "13800138001,billing,账单多扣了 30 元,,2026-10-01 09:31\n"
        f"13800138002,transport,路灯坏了一个月没人修,{far},2026-10-01 09:32\n",
        encoding="utf-8",
    )
    summary = import_rows(
        intake.env.db, read_rows(csv_file), preset="generic", source="12345", progress=False
    )
    assert summary.accepted == 2
    ((line, column, reason),) = [(r.line, r.field, r.reason) for r in summary.rejected]
    assert (line, column) == (4, "location") and "at most 200 characters" in reason
    with intake.env.db.read() as session:
        rows = session.execute(select(complaints.c.customer_phone, complaints.c.location))
        stored = {phone: location for phone, location in rows}
    assert stored == {"+8613800138000": ESTATE, "+8613800138001": None}
    events = [json.loads(r.value)["payload"] for r in intake.outbox_rows()]
    assert {e["customer_phone"]: e["location"] for e in events} == stored


@pytest.mark.postgres
def test_a_mapping_names_the_files_location_column(intake: Intake, tmp_path: Path) -> None:
    mapping = tmp_path / "hotline.toml"
    mapping.write_text(
        '[columns]\ntext = "诉求内容"\nlocation = "事发地址"\n\n[defaults]\ncategory = "other"\n',
        encoding="utf-8",
    )
    csv_file = tmp_path / "orders.csv"
    csv_file.write_text(
        f"诉求内容,事发地址\n小区门口的垃圾三天没人清运,{ESTATE}\n", encoding="utf-8"
    )
    summary = import_rows(
        intake.env.db, read_rows(csv_file), mapping=mapping, source="orders", progress=False
    )
    assert (summary.accepted, summary.rejected) == (1, [])
    with intake.env.db.read() as session:
        assert session.execute(select(complaints.c.location)).scalar_one() == ESTATE
