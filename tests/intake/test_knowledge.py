"""The knowledge base: departments and QA write articles (question, answer, category,
keywords, when valid, whose department), QA or a supervisor approves them, and only then
do agents see them — and see them come up while they type what a caller says, matched on
the words of the citizens' own messages to a city hotline (data/gov_messages_labelled.csv).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.intake.main import create_app
from shared.auth.store import grant_outside_directory, issue_token
from shared.db import database_for
from shared.migrations import upgrade
from shared.settings import AUTH_STORE, Settings
from tests.conftest import ROOT
from tests.intake.conftest import Intake

GOV = Path(ROOT) / "data" / "gov_messages_labelled.csv"


def message(number: str) -> str:
    """A citizen's message to the hotline, as they wrote it."""
    with GOV.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["留言编号"] == number:
                return " ".join(row["留言详情"].split())
    raise KeyError(number)


HEATING = {
    "question": "A市冬天有没有集中供暖？能不能给小区统一供暖？",
    "answer": "A市地处夏热冬冷地区，不在国家集中供暖范围内，目前没有统一集中供暖的规划。"
    "新建小区可由开发商自建分户采暖，居民可使用空调、电暖器取暖，请注意用电安全。",
    "category": "urban_construction",
    "keywords": ["集中供暖", "暖气", "采暖"],
    "owner_department": "housing",
}
POWER_CUTS = {
    "question": "小区经常停电怎么办？",
    "answer": "请先拨打供电公司 95598 报修并记下工单号；同一小区反复停电的，由供电公司排查线路，"
    "中心转派电力部门跟进。",
    "category": "urban_construction",
    "keywords": ["停电", "跳闸", "供电"],
    "owner_department": "power",
}


@pytest.fixture
def people(intake: Intake) -> dict[str, dict[str, str]]:
    env = intake.env
    return {
        "agent": intake.agent,
        "housing": env.token("department", "H01", "housing"),
        "power": env.token("department", "P01", "power"),
        "qa": env.token("qa", "Q01"),
        "qa2": env.token("qa", "Q02"),
        "supervisor": env.token("supervisor", "SV01"),
    }


def written(intake: Intake, who: dict[str, str], **fields: Any) -> dict[str, Any]:
    answer = intake.client.post("/knowledge/articles", json=fields, headers=who)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def step(intake: Intake, who: dict[str, str], article: dict[str, Any], name: str) -> Any:
    return intake.client.post(f"/knowledge/articles/{article['id']}/{name}", headers=who)


def published(
    intake: Intake, people: dict[str, dict[str, str]], writer: str, **fields: Any
) -> dict[str, Any]:
    """Written by `writer`, submitted, approved by a supervisor."""
    article = written(intake, people[writer], **fields)
    assert step(intake, people[writer], article, "submit").status_code == 200
    approved = step(intake, people["supervisor"], article, "approve")
    assert approved.status_code == 200, approved.text
    return dict(approved.json())


def suggested(intake: Intake, description: str, **params: Any) -> list[dict[str, Any]]:
    answer = intake.client.get(
        "/knowledge/suggest", params={"description": description, **params}, headers=intake.agent
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_a_citizen_asking_for_central_heating_brings_up_the_housing_departments_approved_answer(
    intake: Intake, people: dict[str, dict[str, str]]
) -> None:
    heating = written(intake, people["housing"], **HEATING)
    assert heating["status"] == "draft" and heating["version"] == 1
    assert heating["owner_department"] == "housing" and heating["written_by"] == "H01"
    # A draft is nobody's answer yet: the agent neither finds nor reads it.
    text = message("4082")  # 「A市可以实现集中供暖吗？」
    assert suggested(intake, text) == []
    assert (
        intake.client.get(f"/knowledge/articles/{heating['id']}", headers=intake.agent).status_code
        == 404
    )
    assert step(intake, people["housing"], heating, "submit").json()["status"] == "submitted"
    assert suggested(intake, text) == []
    approved = step(intake, people["qa"], heating, "approve").json()
    assert approved["status"] == "approved" and approved["approved_by"] == "Q01"
    assert approved["valid_now"] is True
    power = published(intake, people, "power", **POWER_CUTS)

    for number in ("4082", "4055", "382"):  # three citizens asking for heating, in their words
        found = suggested(intake, message(number), category="urban_construction")
        assert [s["article"]["id"] for s in found] == [heating["id"]], number
        assert "供暖" in found[0]["shared_words"] and found[0]["same_category"] is True
        assert 0.2 <= found[0]["score"] <= 1
        assert found[0]["article"]["answer"] == HEATING["answer"]
    # Another category chosen: still found by its words, with less to it.
    elsewhere = suggested(intake, message("4082"), category="transport")
    assert elsewhere[0]["same_category"] is False
    assert (
        elsewhere[0]["score"]
        < suggested(intake, message("4082"), category="urban_construction")[0]["score"]
    )
    # A caller whose power keeps going off hears the power article, not the heating one.
    outages = suggested(intake, message("1440"))  # 「锦楚国际新城从6月份开始停电好多次了」
    assert [s["article"]["id"] for s in outages] == [power["id"]]
    assert "停电" in outages[0]["shared_words"]
    # And a building site's safety hazard matches neither; nor does a broken street lamp
    # whose caller lives in an estate (小区) too: one word of the question is not enough.
    assert suggested(intake, message("24")) == []
    assert suggested(intake, "我们小区门口的路灯坏了一个月了，晚上一片漆黑。") == []
    # The agent reads the approved ones, and may take no step on them.
    listed = intake.client.get("/knowledge/articles", headers=intake.agent).json()["items"]
    assert {a["id"] for a in listed} == {heating["id"], power["id"]}
    assert all(a["allowed_steps"] == [] for a in listed)
    by_words = intake.client.get(
        "/knowledge/articles", params={"q": "集中供暖"}, headers=intake.agent
    )
    assert [a["id"] for a in by_words.json()["items"]] == [heating["id"]]


def test_a_step_the_status_does_not_allow_is_refused_naming_the_status_and_the_steps_allowed(
    intake: Intake, people: dict[str, dict[str, str]]
) -> None:
    article = written(intake, people["housing"], **HEATING)
    early = step(intake, people["qa"], article, "approve")
    assert early.status_code == 409
    assert early.json()["state"] == "draft"
    assert early.json()["allowed_steps"] == ["submit", "retire"]  # QA on a draft
    assert "draft" in early.json()["message"] and "retire" in early.json()["message"]
    step(intake, people["housing"], article, "submit")
    # The writer never approves their own words; the clerk may not approve at all.
    assert step(intake, people["housing"], article, "approve").status_code == 403
    returned = step(intake, people["supervisor"], article, "return")
    assert returned.status_code == 200 and returned.json()["status"] == "draft"
    edited = intake.client.put(
        f"/knowledge/articles/{article['id']}",
        json={**HEATING, "answer": HEATING["answer"] + "（2026 年冬季起试点）", "version": 1},
        headers=people["housing"],
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["version"] == 2 and edited.json()["updated_by"] == "H01"
    stale = intake.client.put(
        f"/knowledge/articles/{article['id']}", json={**HEATING, "version": 1}, headers=people["qa"]
    )
    assert stale.status_code == 409 and stale.json()["version"] == 2
    step(intake, people["housing"], article, "submit")
    approved = step(intake, people["qa"], article, "approve").json()
    assert approved["status"] == "approved"
    # An approved text is not edited in place: revised into a draft first.
    in_place = intake.client.put(
        f"/knowledge/articles/{article['id']}", json=HEATING, headers=people["housing"]
    )
    assert in_place.status_code == 409
    assert in_place.json()["state"] == "approved"
    assert in_place.json()["allowed_steps"] == ["revise"]
    retired = step(intake, people["qa"], article, "retire").json()
    assert retired["status"] == "retired"
    assert suggested(intake, message("4082")) == []
    again = step(intake, people["qa"], article, "retire")
    assert again.status_code == 409 and again.json()["allowed_steps"] == ["revise"]


def test_qa_writes_but_someone_else_approves(
    intake: Intake, people: dict[str, dict[str, str]]
) -> None:
    article = written(intake, people["qa"], **HEATING)
    step(intake, people["qa"], article, "submit")
    own = step(intake, people["qa"], article, "approve")
    assert own.status_code == 409
    assert "someone else" in own.json()["message"] and own.json()["state"] == "submitted"
    assert step(intake, people["qa2"], article, "approve").status_code == 200


def test_who_writes_for_which_department_and_what_a_bad_article_is_told(
    intake: Intake, people: dict[str, dict[str, str]]
) -> None:
    post = intake.client.post
    # A clerk writes for their own department only; QA for any.
    theirs = post("/knowledge/articles", json=POWER_CUTS, headers=people["housing"])
    assert theirs.status_code == 403 and "housing" in theirs.json()["message"]
    assert post("/knowledge/articles", json=HEATING, headers=intake.agent).status_code == 403
    by_qa = written(intake, people["qa"], **POWER_CUTS)
    assert by_qa["owner_department"] == "power"
    # Another department's draft is not there for a clerk; theirs is.
    assert (
        intake.client.get(
            f"/knowledge/articles/{by_qa['id']}", headers=people["housing"]
        ).status_code
        == 404
    )
    assert (
        intake.client.get(f"/knowledge/articles/{by_qa['id']}", headers=people["power"]).status_code
        == 200
    )
    assert step(intake, people["housing"], by_qa, "submit").status_code == 404
    # Each bad field named.
    missing = post("/knowledge/articles", json={"answer": "好的"}, headers=people["qa"])
    assert missing.status_code == 422
    assert {f["field"] for f in missing.json()["fields"]} == {"question", "category"}
    unknown = post(
        "/knowledge/articles", json={**HEATING, "category": "heating"}, headers=people["qa"]
    )
    assert unknown.status_code == 422 and unknown.json()["fields"][0]["field"] == "category"
    now = datetime.now(UTC)
    backwards = post(
        "/knowledge/articles",
        json={
            **HEATING,
            "valid_from": now.isoformat(),
            "valid_until": (now - timedelta(days=1)).isoformat(),
        },
        headers=people["qa"],
    )
    assert backwards.status_code == 422
    assert backwards.json()["fields"][0]["field"] == "valid_until"
    naive = post(
        "/knowledge/articles",
        json={**HEATING, "valid_from": "2026-12-01T00:00:00"},
        headers=people["qa"],
    )
    assert naive.status_code == 422 and naive.json()["fields"][0]["field"] == "valid_from"
    long_word = post(
        "/knowledge/articles", json={**HEATING, "keywords": ["暖" * 41]}, headers=people["qa"]
    )
    assert long_word.status_code == 422 and long_word.json()["fields"][0]["field"] == "keywords"


def test_agents_read_only_what_is_valid_now(
    intake: Intake, people: dict[str, dict[str, str]]
) -> None:
    now = datetime.now(UTC)
    expired = published(
        intake, people, "housing", **HEATING, valid_until=(now - timedelta(minutes=1)).isoformat()
    )
    coming = published(
        intake, people, "housing", **HEATING, valid_from=(now + timedelta(days=1)).isoformat()
    )
    current = published(
        intake,
        people,
        "housing",
        **HEATING,
        valid_from=(now - timedelta(days=1)).isoformat(),
        valid_until=(now + timedelta(days=30)).isoformat(),
    )
    assert [s["article"]["id"] for s in suggested(intake, message("4082"))] == [current["id"]]
    seen = intake.client.get("/knowledge/articles", headers=intake.agent).json()["items"]
    assert [a["id"] for a in seen] == [current["id"]]
    for hidden in (expired, coming):
        assert (
            intake.client.get(
                f"/knowledge/articles/{hidden['id']}", headers=intake.agent
            ).status_code
            == 404
        )
        qa_sees = intake.client.get(
            f"/knowledge/articles/{hidden['id']}", headers=people["qa"]
        ).json()
        assert qa_sees["status"] == "approved" and qa_sees["valid_now"] is False
    drafts = intake.client.get(
        "/knowledge/articles", params={"status": "draft"}, headers=people["qa"]
    )
    assert drafts.status_code == 200 and drafts.json()["items"] == []
    bad = intake.client.get(
        "/knowledge/articles", params={"status": "published"}, headers=people["qa"]
    )
    assert bad.status_code == 422 and bad.json()["fields"][0]["field"] == "status"


@pytest.fixture
def two_clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    clients = tmp_path / "tenants.json"
    clients.write_text(
        json.dumps(
            {
                "tenants": [
                    {"id": "water", "zh": "清源水务", "en": "Qingyuan Water", "numbers": ["96390"]},
                    {"id": "gas", "zh": "蓝焰燃气", "en": "Blue Flame Gas", "numbers": ["96777"]},
                ]
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("TENANTS_FILE", str(clients))


WATER_OUTAGE = {
    "question": "为什么突然停水了？什么时候恢复供水？",
    "answer": "管网检修期间临时停水，一般 8 小时内恢复供水；请关注水务公司的停水公告。",
    "category": "service",
    "keywords": ["停水", "供水", "水压"],
}


def test_each_client_reads_its_own_articles(
    intake: Intake, two_clients: None, people: dict[str, dict[str, str]]
) -> None:
    env = intake.env
    water_clerk = env.token("department", "W01", "supply", tenant="water")
    gas_clerk = env.token("department", "G01", "supply", tenant="gas")
    water_agent = env.token("agent", "WA1", tenant="water")
    gas_agent = env.token("agent", "GA1", tenant="gas")
    article = written(intake, water_clerk, **WATER_OUTAGE)
    assert article["tenant"] == "water" and article["owner_department"] == "supply"
    step(intake, water_clerk, article, "submit")
    assert step(intake, people["supervisor"], article, "approve").status_code == 200
    said = "家里从早上开始就停水了，一直没有恢复供水，也没有看到停水通知。"
    ask = intake.client.get

    def found(who: dict[str, str], **params: Any) -> Any:
        return ask("/knowledge/suggest", params={"description": said, **params}, headers=who)

    assert [s["article"]["id"] for s in found(water_agent).json()["items"]] == [article["id"]]
    assert found(gas_agent).json()["items"] == []
    assert found(gas_agent, tenant="water").status_code == 403
    # The centre's own agent says whose line the caller rang.
    unsaid = found(intake.agent)
    assert unsaid.status_code == 422 and unsaid.json()["fields"][0]["field"] == "tenant"
    assert found(intake.agent, tenant="water").json()["items"][0]["article"]["id"] == article["id"]
    assert found(intake.agent, tenant="gas").json()["items"] == []
    # Another client's article is not there, to read or to move on; a clerk of the same
    # department name at the other client is no writer of it.
    assert ask(f"/knowledge/articles/{article['id']}", headers=gas_agent).status_code == 404
    assert step(intake, gas_clerk, article, "revise").status_code == 404
    assert ask("/knowledge/articles", headers=gas_agent).json()["items"] == []
    assert (
        ask("/knowledge/articles", params={"tenant": "water"}, headers=gas_agent).status_code == 403
    )
    # QA of the centre names the client; a client's clerk writes for theirs only.
    unnamed = intake.client.post("/knowledge/articles", json=WATER_OUTAGE, headers=people["qa"])
    assert unnamed.status_code == 422 and unnamed.json()["fields"][0]["field"] == "tenant"
    other = intake.client.post(
        "/knowledge/articles", json={**WATER_OUTAGE, "tenant": "gas"}, headers=water_clerk
    )
    assert other.status_code == 403


@pytest.fixture
def sqlite_intake(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, dict[str, str]]]]:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap_servers="127.0.0.1:1", access_log=False)
    for store in ("intake", AUTH_STORE):
        upgrade(store, url=settings.database_url_for(store))
    auth = database_for(AUTH_STORE, settings)
    people = {}
    with auth.transaction() as session:
        for staff, role, department in (
            ("A001", "agent", None),
            ("H01", "department", "housing"),
            ("SV01", "supervisor", None),
        ):
            grant_outside_directory(session, staff, role, department)
            token, _ = issue_token(session, staff_id=staff, role=role, department_id=department)
            people[role] = {"Authorization": f"Bearer {token}"}
    auth.dispose()
    with TestClient(create_app(settings)) as client:
        yield client, people


def test_on_sqlite_the_same_message_finds_the_same_article(
    sqlite_intake: tuple[TestClient, dict[str, dict[str, str]]],
) -> None:
    client, people = sqlite_intake
    article = client.post("/knowledge/articles", json=HEATING, headers=people["department"]).json()
    client.post(f"/knowledge/articles/{article['id']}/submit", headers=people["department"])
    client.post(f"/knowledge/articles/{article['id']}/approve", headers=people["supervisor"])
    found = client.get(
        "/knowledge/suggest", params={"description": message("4055")}, headers=people["agent"]
    ).json()["items"]
    assert [s["article"]["id"] for s in found] == [article["id"]]
    assert "供暖" in found[0]["shared_words"]
    assert (
        client.get(
            "/knowledge/suggest", params={"description": message("24")}, headers=people["agent"]
        ).json()["items"]
        == []
    )
    listed = client.get("/knowledge/articles", params={"q": "暖气"}, headers=people["agent"])
    assert [a["id"] for a in listed.json()["items"]] == [article["id"]]


def test_an_agent_who_answers_from_an_article_registers_the_complaint_with_it(
    intake: Intake, people: dict[str, dict[str, str]]
) -> None:
    heating = published(intake, people, "housing", **HEATING)
    said = message("4055")
    answer = intake.register(
        category="urban_construction", description=said, answered_from_article=heating["id"]
    )
    assert answer.status_code == 201, answer.text
    created = answer.json()
    assert created["answered_from_article"] == heating["id"]
    read = intake.client.get(f"/complaints/{created['id']}", headers=intake.agent).json()
    assert read["answered_from_article"] == heating["id"]
    [event] = [json.loads(r.value) for r in intake.outbox_rows() if r.key == created["id"]]
    assert event["type"] == "complaint.received"
    assert event["payload"]["answered_from_article"] == heating["id"]
    # Registered from no article: none said, none kept.
    plain = intake.register(category="urban_construction", description=said).json()
    assert plain["answered_from_article"] is None


def test_an_article_agents_may_not_read_now_is_not_what_a_caller_was_answered_from(
    intake: Intake, two_clients: None, people: dict[str, dict[str, str]]
) -> None:
    water_clerk = intake.env.token("department", "W01", "supply", tenant="water")
    draft = written(intake, water_clerk, **WATER_OUTAGE)
    approved = written(intake, water_clerk, **WATER_OUTAGE)
    step(intake, water_clerk, approved, "submit")
    step(intake, people["supervisor"], approved, "approve")
    said = "家里从早上开始就停水了，一直没有恢复供水。"

    def register(article: int, **fields: Any) -> Any:
        return intake.register(
            category="service", description=said, answered_from_article=article, **fields
        )

    for article, client, why in (
        (draft["id"], "water", "'draft'"),
        (approved["id"], "gas", "no article"),
        (999999, "water", "no article"),
    ):
        refused = register(article, tenant=client)
        assert refused.status_code == 422, refused.text
        assert refused.json()["fields"][0]["field"] == "answered_from_article"
        assert why in refused.json()["message"]
    assert register(approved["id"], tenant="water").status_code == 201
    assert register(0, tenant="water").status_code == 422


WATER_REPLY = (
    "经查，幸福里小区 3 号楼停水系主管道检修所致，已于当晚 8 点恢复供水；王女士如仍有问题请拨打 "
    "138 0013 8000 联系维修班。"
)


def test_qa_marks_a_departments_reply_as_a_model_answer_and_it_becomes_a_draft_article(
    intake: Intake, people: dict[str, dict[str, str]]
) -> None:
    from tests.intake.test_feedback_and_notes import _lifecycle

    c = intake.register(
        category="urban_construction", description="幸福里小区 3 号楼从早上开始停水，一直没有恢复。"
    ).json()
    asked = {"complaint_id": c["reference"], "question": "小区停水了，多久能恢复供水？"}
    # Nothing answered yet: nothing to take.
    early = intake.client.post("/knowledge/model-answers", json=asked, headers=people["qa"])
    assert early.status_code == 409 and c["reference"] in early.json()["message"]
    _lifecycle(
        intake, c["id"], c["reference"], 6, "replied", department_id="water", resolution=WATER_REPLY
    )
    marked = intake.client.post(
        "/knowledge/model-answers",
        json={**asked, "keywords": ["停水", "恢复供水"]},
        headers=people["qa"],
    )
    assert marked.status_code == 201, marked.text
    article = marked.json()
    assert article["status"] == "draft" and article["owner_department"] == "water"
    assert article["from_complaint_id"] == c["id"] and article["category"] == "urban_construction"
    assert article["question"] == "小区停水了，多久能恢复供水？"
    assert article["keywords"] == ["停水", "恢复供水"]
    # The reply's words, the customer's name and number masked: other callers will hear it.
    assert article["answer"].startswith("经查，幸福里小区 3 号楼停水系主管道检修所致")
    assert "138 0013 8000" not in article["answer"] and "王女士" not in article["answer"]
    assert "138 **** 8000" in article["answer"] and "王**" in article["answer"]
    # The water department words it for everyone and submits it; it is approved as any.
    water = intake.env.token("department", "W01", "water")
    assert step(intake, water, article, "submit").status_code == 200
    assert step(intake, people["qa"], article, "approve").status_code == 409  # QA wrote it
    assert step(intake, people["supervisor"], article, "approve").status_code == 200
    said = "我们小区又停水了，请问多久能恢复供水？"
    assert [s["article"]["id"] for s in suggested(intake, said)] == [article["id"]]
    # Only QA marks model answers; a reply that is not there is 409, a complaint 404.
    clerk = intake.client.post("/knowledge/model-answers", json=asked, headers=water)
    assert clerk.status_code == 403
    none = intake.client.post(
        "/knowledge/model-answers", json={**asked, "history_seq": 3}, headers=people["qa"]
    )
    assert none.status_code == 409
    missing = intake.client.post(
        "/knowledge/model-answers",
        json={**asked, "complaint_id": "TS20990101-000001"},
        headers=people["qa"],
    )
    assert missing.status_code == 404


def test_an_article_agents_start_or_stop_reading_is_announced_for_the_figures(
    intake: Intake, people: dict[str, dict[str, str]]
) -> None:
    def announced() -> list[dict[str, Any]]:
        rows = [json.loads(r.value) for r in intake.outbox_rows()]
        return [r for r in rows if r["type"].startswith("knowledge.")]

    article = written(intake, people["housing"], **HEATING)
    step(intake, people["housing"], article, "submit")
    step(intake, people["qa"], article, "return")
    step(intake, people["housing"], article, "submit")
    assert announced() == []  # nothing agents read yet
    step(intake, people["qa"], article, "approve")
    [approval] = announced()
    assert approval["type"] == "knowledge.article_approved"
    assert approval["tenant"] == "default" and approval["source"] == "intake"
    assert approval["actor"] == {"id": "Q01", "role": "qa"}
    p = approval["payload"]
    assert (p["article_id"], p["version"], p["category"]) == (
        article["id"],
        1,
        "urban_construction",
    )
    assert p["question"] == HEATING["question"] and p["keywords"] == HEATING["keywords"]
    step(intake, people["housing"], article, "revise")
    step(intake, people["housing"], article, "submit")
    step(intake, people["supervisor"], article, "approve")
    step(intake, people["qa"], article, "retire")
    assert [(e["type"], e["payload"].get("step")) for e in announced()] == [
        ("knowledge.article_approved", None),
        ("knowledge.article_withdrawn", "revise"),
        ("knowledge.article_approved", None),
        ("knowledge.article_withdrawn", "retire"),
    ]
    times = [e["payload"]["changed_at"] for e in announced()]
    assert times == sorted(times)
