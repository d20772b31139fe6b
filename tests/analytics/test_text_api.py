"""Hot spots in real hotline messages imported through intake, and root-cause
suggestions through the API (real PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select

from services.analytics.text.tokens import STOP_ZH
from services.intake.db import outbox as intake_outbox
from services.intake.importer import import_rows, read_rows
from shared.events import registry
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


def test_root_cause_suggestions_learn_from_tagged_complaints(analytics: Analytics) -> None:
    s = Story()
    texts = {
        "system": ["计费系统故障，重复扣费", "系统升级后无法登录APP", "系统宕机，充值不到账"],
        "service": ["营业员态度恶劣", "客服态度差，挂电话", "工作人员服务态度冷漠"],
        "process": ["办理携号转网流程繁琐", "退订流程太复杂，跑了三次", "审批流程太慢"],
    }
    n = 0
    for cause, samples in texts.items():
        for round_ in range(3):
            for text in samples:
                n += 1
                name = f"S{n:02d}"
                at = bj(3, 1 + n % 27, 9 + round_)
                s.received(name, at, category="service", phone=P1, description=text)
                s.act(name, "replied", "resolve", at, to="replied", stage="follow_up",
                      root_cause=cause, resolution="已处理")  # fmt: skip
    s.received("NEW", bj(3, 30, 9), category="service", phone=P1, description="系统故障，扣费两次")
    load(analytics.env.db, s.events)
    new = s.complaints["NEW"].id
    answer = analytics.get(f"/analytics/complaints/{new}/root-cause/suggestion")
    assert answer["learned_from"] == 27
    best = answer["suggestions"][0]
    assert (best["root_cause"], best["label"]) == ("system", "系统 System")
    assert best["probability"] > 0.5 and "系统故障" in best["because_of"]
    missing = analytics.client.get(
        "/analytics/complaints/nope/root-cause/suggestion", headers=analytics.supervisor
    )
    assert missing.status_code == 404


def test_suggestions_wait_for_enough_tagged_complaints(analytics: Analytics) -> None:
    s = Story()
    s.received("ONE", bj(3, 2, 9), category="billing", phone=P1, description="账单多扣")
    load(analytics.env.db, s.events)
    answer = analytics.client.get(
        f"/analytics/complaints/{s.complaints['ONE'].id}/root-cause/suggestion",
        headers=analytics.supervisor,
    )
    assert answer.status_code == 409 and answer.json()["tagged"] == 0
