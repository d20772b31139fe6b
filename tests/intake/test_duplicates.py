"""Likely duplicates (重复件) while a complaint is registered: the same caller again, the
same place with similar text, or very similar text; texts compared word by word after
segmentation, within a window of days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.intake.complaints.flows import store_complaint
from services.intake.complaints.registration import NewComplaint
from services.intake.config import get_config
from services.intake.db import outbox
from services.intake.search.flows import same_place, similarity
from services.intake.search.words import words
from shared.outbox import Outbox
from shared.vocabulary import Channel, Nature, Severity
from tests.intake.conftest import Intake

PIPE = "楼下水管破裂，水一直往外冒，地下室都淹了。"


def similar(intake: Intake, who: dict[str, str] | None = None, **params: Any) -> Any:
    answer = intake.client.get("/complaints/similar", params=params, headers=who or intake.agent)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_a_caller_who_rings_a_third_time_about_one_broken_pipe_hears_of_the_first_two(
    intake: Intake,
) -> None:
    first = intake.register(description=PIPE, location="幸福里小区 3 号楼").json()
    second = intake.register(
        description="又打来了：水管破裂还在漏水，没人来修。", location="幸福里小区 3 号楼"
    ).json()
    intake.register(customer_phone="13700001111", description="路灯坏了一个月。")
    found = similar(
        intake,
        phone="138 0013 8000",
        location="幸福里小区3号楼",
        description="第三次打电话了，水管破裂漏水三天，地下室全是水。",
    )
    assert {d["complaint"]["id"] for d in found} == {first["id"], second["id"]}
    for d in found:
        assert {"same_caller", "same_place", "similar_text"} <= set(d["reasons"]), d
        assert 0 < d["score"] <= 1
        assert "水管" in d["shared_words"] and "破裂" in d["shared_words"]


def test_someone_else_at_the_same_place_with_similar_text_is_suggested_other_text_is_not(
    intake: Intake,
) -> None:
    burst = intake.register(description=PIPE, location="幸福里小区 3 号楼").json()
    lights = intake.register(
        description="小区路灯全坏了，晚上一片漆黑。", location="幸福里小区 3 号楼"
    ).json()
    elsewhere = intake.register(description=PIPE, location="人民路 88 号").json()
    found = similar(
        intake,
        phone="13911112222",
        location="幸福里小区 3 号楼",
        description="水管破裂了，楼道里到处是水。",
    )
    ids = [d["complaint"]["id"] for d in found]
    assert ids[0] == burst["id"]
    assert found[0]["reasons"] == ["same_place", "similar_text"]
    assert lights["id"] not in ids  # the same place, another matter
    # The same words from another place: similar, not as likely as at the same place.
    if elsewhere["id"] in ids:
        assert ids.index(elsewhere["id"]) > 0
        assert "same_place" not in found[ids.index(elsewhere["id"])]["reasons"]


def test_only_the_window_is_searched_but_the_callers_open_complaints_always_are(
    intake: Intake,
) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=30)
    with intake.env.db.transaction() as session:
        old = store_complaint(
            session,
            Outbox(outbox, lanes=1),
            NewComplaint(
                customer_key="+8613700002222",
                customer_phone="+8613700002222",
                customer_name=None,
                channel=Channel.PHONE,
                category="other",
                severity=Severity.NORMAL,
                nature=Nature.GENUINE,
                strong_emotion=False,
                description=PIPE,
                occurred_at=None,
                registered_at=long_ago,
                registered_by="A001",
                registered_by_role="agent",
            ),
            get_config(),
        ).body
    # From anyone else, a month ago is outside the window …
    assert similar(intake, description=PIPE) == []
    assert [d["complaint"]["id"] for d in similar(intake, description=PIPE, days=40)] == [old["id"]]
    # … but the caller's own complaint, still open, is theirs whenever it was.
    [mine] = similar(intake, phone="13700002222", description="水管又破了")
    assert mine["complaint"]["id"] == old["id"] and "same_caller" in mine["reasons"]


def test_who_may_ask_and_what_they_must_give(intake: Intake) -> None:
    for role in ("qa", "viewer", "department"):
        who = intake.env.token(role, f"X{role}", "billing" if role == "department" else None)
        answer = intake.client.get("/complaints/similar", params={"description": PIPE}, headers=who)
        assert answer.status_code == 403, role
    nothing = intake.client.get("/complaints/similar", headers=intake.agent)
    assert nothing.status_code == 422
    bad = intake.client.get("/complaints/similar", params={"phone": "12"}, headers=intake.agent)
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "phone"


def test_telling_words_weigh_more_than_common_ones() -> None:
    pipe = set(words("水管破裂，一直漏水"))
    same, shared = similarity(pipe, set(words("水管破裂了，漏水严重")))
    other, _ = similarity(pipe, set(words("一直没有人来处理，问题严重")))
    assert same > 0.5 > other
    assert set(shared) == {"水管", "破裂", "漏水"}


def test_one_place_is_the_same_however_much_of_it_is_given() -> None:
    estate = set(words("幸福里小区"))
    building = set(words("幸福里小区 3 号楼"))
    assert same_place(building, estate, set())
    assert same_place(estate, building, set())
    assert not same_place(building, set(words("幸福里小区 5 号楼")), set())
    # Without a place of its own, the other complaint's text names it.
    assert same_place(estate, set(), set(words("幸福里小区门口的水管破了")))
    assert not same_place(set(), estate, estate)
