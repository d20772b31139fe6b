"""Hot spots in real hotline messages imported through intake, and root-cause
suggestions through the API (real PostgreSQL)."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.analytics.text import datasets
from services.analytics.text.tokens import STOP_ZH
from services.intake.db import outbox as intake_outbox
from services.intake.importer import import_rows, read_rows
from shared.events import registry
from shared.vocabulary import RootCause
from tests.analytics.conftest import Analytics, load
from tests.analytics.story import P1, Story, bj
from tests.conftest import ROOT, ServiceEnv

pytestmark = pytest.mark.postgres

GOV = Path(ROOT) / "data" / "gov_messages_labelled.csv"
# Words a person reading these messages would name as their subjects.
RECOGNISABLE = {
    "小区",
    "业主",
    "物业",
    "物业管理",
    "业委会",
    "停电",
    "电梯",
    "学校",
    "乱收费",
    "学费",
    "收费",
    "家长",
    "报名",
    "义务教育",
    "社保",
    "社保局",
    "报销",
    "工资",
    "退休",
    "户口",
    "商品房",
    "证书",
    "培训",
    "噪音",
    "拆迁",
}


def test_hot_spots_in_the_hotline_messages_imported_through_intake(
    analytics: Analytics, service_env: Callable[[str], ServiceEnv]
) -> None:
    intake = service_env("intake")
    summary = import_rows(
        intake.db, read_rows(GOV), preset="gov-messages", source="gov", progress=False
    )
    assert summary.accepted == 495
    with intake.db.read() as session:
        values = session.execute(select(intake_outbox.c.value)).scalars().all()
    events = [registry.decode(value.encode()).envelope for value in values]
    assert load(analytics.env.db, events) == 495

    # 2019 and January 2020 against the 396 days before.
    found = analytics.get("/analytics/hotspots", **{"from": "2019-01-01", "to": "2020-01-31"})
    assert (found["complaints"], found["baseline_from"]) == (135, "2017-12-01")
    topics = found["topics"]
    assert len(topics) >= 5
    keywords = [word for topic in topics for word in topic["keywords"]]
    assert not STOP_ZH & set(keywords)
    assert len(RECOGNISABLE & set(keywords)) >= 5, keywords
    for topic in topics:
        assert topic["count"] >= 3 and topic["growth"] >= 1.2
        assert topic["examples"] and topic["examples"][0]["reference"].startswith(
            ("TS2019", "TS2020")
        )
        assert topic["keywords"][0] in topic["examples"][0]["text"]


# A centre whose QA tags follow the text: the hotline messages' categories standing in for
# root causes (two categories share one).
CAUSE_OF = {
    "城乡建设": RootCause.MANAGEMENT,
    "环境保护": RootCause.MANAGEMENT,
    "劳动和社会保障": RootCause.PROCESS,
    "教育文体": RootCause.SERVICE,
    "卫生计生": RootCause.BUSINESS,
    "交通运输": RootCause.EXTERNAL,
    "商贸旅游": RootCause.SYSTEM,
}
TAGGED = 240


def tagged_centre(causes: list[RootCause]) -> tuple[Story, list[str]]:
    """The first messages registered and resolved with these causes; the rest of the
    texts, for new complaints."""
    data = datasets.gov_categories()
    s = Story()
    for n, (text, cause) in enumerate(zip(data.texts, causes, strict=False)):
        name = f"S{n:03d}"
        at = bj(3, 1 + n % 27, 8 + n % 12)
        s.received(name, at, category="service", phone=P1, description=text[:600])
        s.act(name, "replied", "resolve", at, to="replied", stage="follow_up",
              root_cause=cause.value, resolution="已处理")  # fmt: skip
    return s, data.texts[len(causes) :]


def ask(
    analytics: Analytics, s: Story, name: str, text: str, resolution: str = "已处理"
) -> dict[str, Any]:
    """A new complaint, and the suggestion for the resolution its replier is writing."""
    s.received(name, bj(3, 30, 9), category="service", phone=P1, description=text[:600])
    load(analytics.env.db, s.events[-2:])
    answer = analytics.client.post(
        f"/analytics/complaints/{s.complaints[name].id}/root-cause/suggestion",
        json={"resolution": resolution},
        headers=analytics.supervisor,
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def test_root_cause_suggestions_learn_from_tagged_complaints(analytics: Analytics) -> None:
    data = datasets.gov_categories()
    s, _ = tagged_centre([CAUSE_OF[label] for label in data.labels[:TAGGED]])
    load(analytics.env.db, s.events)
    answer = ask(analytics, s, "NEW", "小区物业乱收停车费，业主多次反映无果")
    assert answer["learned_from"] == TAGGED and answer["offered"] is True
    evaluated = answer["evaluation"]
    assert evaluated["precision"] > max(
        evaluated["majority_precision"], evaluated["keyword_precision"]
    )
    best = answer["suggestion"]
    assert (best["root_cause"], best["label"]) == ("management", "管理 Management")
    assert best["probability"] >= 0.5 and {"小区", "物业"} & set(best["because_of"])
    assert answer["reason"] is None
    # A complaint with no telling word gets no suggestion, and hears why.
    vague = ask(analytics, s, "VAGUE", "你好，请尽快处理")
    assert vague["offered"] is True and vague["suggestion"] is None
    assert vague["reason"].startswith("not confident")
    missing = analytics.client.get(
        "/analytics/complaints/nope/root-cause/suggestion", headers=analytics.supervisor
    )
    assert missing.status_code == 404


def test_a_suggestion_waits_for_the_resolution_and_then_reads_the_one_on_record(
    analytics: Analytics,
) -> None:
    """From a customer's account alone a root cause cannot be told: before anything is
    written the answer says so; once the department has replied, the recorded
    resolution is read; a draft may be sent meanwhile (nothing is stored), but not an
    empty one, and not by the client's viewer."""
    data = datasets.gov_categories()
    s, _ = tagged_centre([CAUSE_OF[label] for label in data.labels[:TAGGED]])
    s.received("NEW", bj(3, 30, 9), category="service", phone=P1,
               description="小区物业乱收停车费，业主多次反映无果")  # fmt: skip
    load(analytics.env.db, s.events)
    path = f"/analytics/complaints/{s.complaints['NEW'].id}/root-cause/suggestion"
    before = analytics.get(path)
    assert before["offered"] is True and before["suggestion"] is None
    assert before["reason"].startswith("waiting for the resolution")
    empty = analytics.client.post(path, json={"resolution": ""}, headers=analytics.supervisor)
    assert empty.status_code == 422 and "resolution" in empty.text
    viewer = analytics.client.post(path, json={"resolution": "已处理"}, headers=analytics.viewer)
    assert viewer.status_code == 403
    s.act("NEW", "replied", "resolve", bj(3, 30, 15), to="replied", stage="follow_up",
          root_cause=RootCause.MANAGEMENT.value, resolution="已督促物业整改停车收费")  # fmt: skip
    load(analytics.env.db, s.events[-1:])
    after = analytics.get(path)
    assert after["suggestion"]["root_cause"] == RootCause.MANAGEMENT.value, after


def test_suggestions_are_off_where_the_centres_own_tags_do_not_support_them(
    analytics: Analytics,
) -> None:
    rng = random.Random(11)
    s, unseen = tagged_centre([rng.choice(list(RootCause)) for _ in range(TAGGED)])
    load(analytics.env.db, s.events)
    answer = ask(analytics, s, "NEW", unseen[0])
    assert answer["offered"] is False and answer["suggestion"] is None
    assert answer["reason"].startswith("suggestions are off: "), answer["reason"]
    assert answer["learned_from"] == TAGGED and answer["evaluation"]["complaints"] == TAGGED


def test_suggestions_wait_for_enough_tagged_complaints(analytics: Analytics) -> None:
    s = Story()
    s.received("ONE", bj(3, 2, 9), category="billing", phone=P1, description="账单多扣")
    load(analytics.env.db, s.events)
    answer = analytics.client.get(
        f"/analytics/complaints/{s.complaints['ONE'].id}/root-cause/suggestion",
        headers=analytics.supervisor,
    )
    assert answer.status_code == 409 and answer.json()["tagged"] == 0
