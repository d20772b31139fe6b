"""Hot issues — one problem at one place, many callers — in real hotline messages
imported through intake, with a planted issue of twenty callers among them (real
PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.analytics.db import outbox as analytics_outbox
from services.analytics.facts.service import facts
from services.analytics.main import create_app
from services.analytics.reports import hot
from services.intake.db import outbox as intake_outbox
from services.intake.importer import import_rows, read_rows
from shared.contracts import HotIssueDetected
from shared.events import registry
from shared.outbox import Outbox
from shared.vocabulary import EventName
from tests.analytics.conftest import Analytics, load
from tests.analytics.story import BEIJING, NOW, Story, bj
from tests.conftest import ROOT, ServiceEnv

pytestmark = pytest.mark.postgres

GOV = Path(ROOT) / "data" / "gov_messages_labelled.csv"

# Twenty callers about the lifts of one estate, each in their own words, in January 2020.
LIFTS = [
    "翠湖花园3栋的电梯又坏了，家里老人上不了楼，请尽快维修",
    "翠湖花园小区电梯长期故障，物业一直拖着不修",
    "反映翠湖花园电梯经常停运，上周还困过人",
    "翠湖花园的电梯三天两头出毛病，希望相关部门督促维修",
    "翠湖花园5栋电梯停了一个星期了，没人来修",
    "我住翠湖花园，电梯故障困人，物业不管",
    "翠湖花园电梯坏了半个月，孕妇只能爬楼梯",
    "投诉翠湖花园物业，电梯故障报修多次无人处理",
    "翠湖花园小区的电梯运行时异响抖动，担心安全",
    "翠湖花园2栋电梯门关不上，一直停用",
    "翠湖花园的电梯又停了，维修工说缺配件",
    "请督促翠湖花园尽快修好电梯，老人出行困难",
    "翠湖花园电梯年检过期还在用，经常坏",
    "翠湖花园电梯故障，昨天有小孩被困二十分钟",
    "翠湖花园高层住户反映电梯长期不能正常使用",
    "翠湖花园8栋电梯坏了没人修，物业电话打不通",
    "翠湖花园小区电梯多次困人，要求彻底检修",
    "翠湖花园电梯停运，残疾人家属无法下楼就医",
    "翠湖花园的电梯一周坏三次，维修不及时",
    "翠湖花园电梯急停困人，物业推说是厂家的事",
]
# Eight callers about the same estate's parking fees: the same place, another problem.
PARKING = [
    "翠湖花园物业乱收停车费，一个月涨到三百元",
    "翠湖花园停车费上涨没有公示，业主不同意",
    "投诉翠湖花园物业擅自提高停车费",
    "翠湖花园地面停车位收费不合理，没有经过业主大会",
    "翠湖花园物业停车费收据不正规，要求查处乱收费",
    "翠湖花园停车费从一百五涨到三百，物业强行收取",
    "翠湖花园临时停车也要收费，外来车辆停十分钟收十元",
    "翠湖花园停车收费标准从未公示，怀疑乱收费",
]


def planted_rows() -> Iterator[tuple[int, dict[str, str]]]:
    for n, text in enumerate(LIFTS):
        yield (
            n + 2,
            {
                "registered_at": f"2020-01-{2 + n:02d} 09:{n:02d}:00",
                "description": text,
                "category": "urban_construction",
                "customer_phone": f"+86139{n:08d}",
            },
        )
    for n, text in enumerate(PARKING):
        yield (
            n + 100,
            {
                "registered_at": f"2020-01-{3 + n * 3:02d} 14:{n:02d}:00",
                "description": text,
                "category": "urban_construction",
                "customer_phone": f"+86137{n:08d}",
            },
        )


@pytest.fixture
def centre(analytics: Analytics, service_env: Callable[[str], ServiceEnv]) -> Analytics:
    """The hotline's messages and the planted callers, imported through intake."""
    intake = service_env("intake")
    assert import_rows(intake.db, read_rows(GOV), preset="gov-messages", source="gov",
                       progress=False).accepted == 495  # fmt: skip
    planted = import_rows(
        intake.db, planted_rows(), preset="generic", source="planted", progress=False
    )
    assert planted.accepted == len(LIFTS) + len(PARKING), planted
    with intake.db.read() as session:
        values = session.execute(select(intake_outbox.c.value)).scalars().all()
    events = [registry.decode(value.encode()).envelope for value in values]
    assert load(analytics.env.db, events) == len(events)
    return analytics


def texts_of(analytics: Analytics, references: list[str]) -> set[str]:
    with analytics.env.db.read() as session:
        found = session.execute(
            select(facts.c.reference, facts.c.description).where(facts.c.reference.in_(references))
        ).all()
    assert len(found) == len(references)
    return {row.description for row in found}


def test_twenty_callers_about_one_estates_lifts_are_one_issue_named_by_the_place(
    centre: Analytics,
) -> None:
    found = centre.get("/analytics/hot-issues", **{"from": "2020-01-01", "to": "2020-01-31"})
    issues = found["issues"]
    top = issues[:5]
    lifts = [i for i in top if "电梯" in i["words"]]
    assert len(lifts) == 1, [i["label"] for i in top]
    issue = lifts[0]
    assert issue["place"] == "翠湖花园" and issue["label"].startswith("翠湖花园：")
    assert "电梯" in issue["label"]
    assert (issue["callers"], issue["complaints"]) == (20, 20)
    assert texts_of(centre, issue["references"]) == set(LIFTS)
    # Not merged with the parking fees at the same estate: those are an issue of their own
    # (the two that speak of 停车位 and 停车 without the fee may stand apart).
    parking = [i for i in issues if "停车费" in i["words"]]
    assert len(parking) == 1 and parking[0]["place"] == "翠湖花园"
    assert 6 <= parking[0]["callers"] <= len(PARKING)
    assert texts_of(centre, parking[0]["references"]) <= set(PARKING)
    # Nothing before the window: every caller is new, and it is the hottest.
    assert issue["previous_callers"] == 0 and issue["new"] is True
    assert issues[0]["key"] == issue["key"]
    assert issue["first_at"] < issue["last_at"]


def test_the_hotline_years_issues_are_problems_at_places_not_word_clouds(
    centre: Analytics,
) -> None:
    found = centre.get(
        "/analytics/hot-issues", **{"from": "2011-01-01", "to": "2020-01-31", "min_callers": 2}
    )
    labels = [i["label"] for i in found["issues"]]
    # The estate whose residents wrote twice about power cuts, under two spellings.
    assert any(i["place"] and "锦楚国际" in i["place"] and "停电" in i["words"]
               for i in found["issues"]), labels  # fmt: skip
    for issue in found["issues"]:
        assert issue["callers"] >= 2
        assert "XXXX" not in issue["label"].upper() and "*" not in issue["label"]
        # No label is a province or the city alone.
        assert issue["place"] not in {"西地省", "A市"}


def test_a_department_sees_its_own_hot_issues_and_a_bad_weight_is_refused(
    centre: Analytics,
) -> None:
    refused = centre.client.get(
        "/analytics/hot-issues", params={"weights": "callers=x"}, headers=centre.supervisor
    )
    assert refused.status_code == 422 and "weights" in refused.text
    csv = centre.get(
        "/analytics/hot-issues", **{"from": "2020-01-01", "to": "2020-01-31", "format": "csv"}
    )
    assert csv.splitlines()[0].startswith("label,callers,complaints")
    assert "翠湖花园" in csv


def _issue(found: dict[str, Any], word: str) -> dict[str, Any]:
    return next(i for i in found["issues"] if word in i["words"])


def test_growth_counts_the_same_issues_callers_in_the_period_before(centre: Analytics) -> None:
    # January's second half against its first half: the lifts began in the first.
    found = centre.get("/analytics/hot-issues", **{"from": "2020-01-12", "to": "2020-01-21"})
    lifts = _issue(found, "电梯")
    assert lifts["previous_callers"] == 10 and lifts["callers"] == 10
    assert lifts["new"] is False
    assert datetime.fromisoformat(lifts["first_at"]) >= datetime(2020, 1, 11, tzinfo=UTC)


def lifts_today(s: Story, callers: int, *, location: str | None = None) -> None:
    """`callers` people about the lifts of one estate on the day before NOW."""
    for n, text in enumerate(LIFTS[:callers]):
        at = bj(3, 31, 8 + n % 14, n)
        if location:
            text = text.replace("翠湖花园", "")
        s.received(f"L{n:02d}", at, category="service", phone=f"+86139{n:08d}",
                   description=text, location=location)  # fmt: skip


def sent_alerts(analytics: Analytics) -> list[HotIssueDetected]:
    with analytics.env.db.read() as session:
        values = session.execute(select(analytics_outbox.c.value)).scalars().all()
    events = [registry.decode(value.encode()) for value in values]
    return [e.payload for e in events if e.type == EventName.HOT_ISSUE_DETECTED]


def test_the_desk_is_told_once_when_an_issue_crosses_the_threshold_within_a_day(
    analytics: Analytics,
) -> None:
    s = Story()
    lifts_today(s, 6)
    load(analytics.env.db, s.events)
    db, sender = analytics.env.db, Outbox(analytics_outbox, lanes=1)

    def check(threshold: int, at: datetime = NOW) -> list[str]:
        return hot.publish_alerts(db, sender, now=at, tz=BEIJING, threshold=threshold,
                                  quiet_days=7)  # fmt: skip

    assert check(threshold=7) == [] and sent_alerts(analytics) == []
    # A second worker finds the same issue at the same time, but records it later.
    late = hot.due_alerts(db, now=NOW, tz=BEIJING, threshold=5, quiet_days=7)
    assert len(late) == 1
    told = check(threshold=5)
    assert len(told) == 1 and told[0].startswith("翠湖花园：") and "电梯" in told[0]
    [alert] = sent_alerts(analytics)
    assert (alert.callers, alert.complaints, alert.threshold) == (6, 6, 5)
    assert alert.place == "翠湖花园" and len(alert.references) == 3
    # Checked again an hour later, and by the second worker: told once.
    assert check(threshold=5, at=NOW + timedelta(hours=1)) == []
    with db.transaction() as session:
        later = NOW + timedelta(hours=1)
        assert hot.record_alerts(session, late, now=later, quiet_days=7) == set()
    assert len(sent_alerts(analytics)) == 1
    # A day later the callers of the day before are no longer "within a day".
    assert check(threshold=5, at=NOW + timedelta(days=2)) == []


def test_the_location_the_agent_wrote_names_the_place_the_text_does_not(
    analytics: Analytics,
) -> None:
    s = Story()
    lifts_today(s, 4, location="翠湖花园5栋2单元601")
    load(analytics.env.db, s.events)
    found = analytics.get("/analytics/hot-issues", **{"from": "2026-03-31", "to": "2026-03-31"})
    [issue] = found["issues"]
    # The estate, not the caller's flat.
    assert issue["place"] == "翠湖花园" and issue["callers"] == 4
    assert "601" not in issue["label"] and "单元" not in issue["label"]


def test_what_recent_complaints_are_about_is_read_ahead_once(analytics: Analytics) -> None:
    s = Story()
    lifts_today(s, 3)
    load(analytics.env.db, s.events)
    db = analytics.env.db
    assert hot.fill_recent(db, now=NOW, tz=BEIJING, days=45) == 3
    assert hot.fill_recent(db, now=NOW, tz=BEIJING, days=45) == 0
    with db.read() as session:
        rows = session.execute(select(hot.subjects)).all()
    assert {r.place for r in rows} == {"翠湖花园"} and all("电梯" in r.words for r in rows)


def test_a_departments_monthly_report_names_its_three_hot_issues(analytics: Analytics) -> None:
    s = Story()
    lifts_today(s, 5)
    for n in range(5):
        at = bj(3, 31, 22, n)
        s.act(f"L{n:02d}", "dispatched", "dispatch", at, to="dispatched", stage="acceptance",
              department="network", department_name="网络部 Network")  # fmt: skip
    s.received("B1", bj(3, 30, 9), category="billing", phone="+8613600000001",
               description="话费账单重复扣费 30 元")  # fmt: skip
    s.act("B1", "dispatched", "dispatch", bj(3, 30, 10), to="dispatched", stage="acceptance",
          department="billing", department_name="账务部 Billing")  # fmt: skip
    load(analytics.env.db, s.events)
    report = analytics.get("/analytics/departments/network/report", month="2026-03")
    [issue] = report["hot_issues"]
    assert issue["label"].startswith("翠湖花园：") and issue["callers"] == 5
    assert issue["departments"] == [
        {"department_id": "network", "name": "网络部 Network", "complaints": 5}
    ]
    page = analytics.get("/analytics/departments/network/report", month="2026-03",
                         format="html")  # fmt: skip
    assert issue["label"] in page
    csv = analytics.get("/analytics/departments/network/report", month="2026-03", format="csv")
    assert f"hot_issue,{issue['label']},5" in csv
    # Another department's report holds none of them.
    assert (
        analytics.get("/analytics/departments/billing/report", month="2026-03")["hot_issues"] == []
    )


def test_an_answer_is_computed_once_and_served_to_every_process_until_it_is_stale(
    analytics: Analytics,
) -> None:
    s = Story()
    lifts_today(s, 3)
    load(analytics.env.db, s.events)
    day = {"from": "2026-03-31", "to": "2026-03-31"}
    first = analytics.get("/analytics/hot-issues", **day)
    assert first["issues"][0]["callers"] == 3 and first["computed_at"]
    # Another API process (or the worker's answer) finds it in the database: what is
    # stored there is what it serves, not an answer of its own.
    with analytics.env.db.transaction() as session:
        stored = {**first, "stored": True}
        session.execute(hot.answers.update().values(answer=json.dumps(stored)))
    with TestClient(create_app(analytics.env.settings, clock=analytics.clock)) as other:
        again = other.get("/analytics/hot-issues", params=day, headers=analytics.supervisor)
        assert again.json() == stored
    # Two more callers: a busy period is not computed again for every one of them ...
    more = Story()
    for n in range(3, 5):
        more.received(f"M{n}", bj(3, 31, 20, n), category="service", phone=f"+86139{n:08d}",
                      description=LIFTS[n])  # fmt: skip
    load(analytics.env.db, more.events)
    assert analytics.get("/analytics/hot-issues", **day) == first
    # ... but within two minutes they are in.
    analytics.clock.advance(timedelta(minutes=3))
    later = analytics.get("/analytics/hot-issues", **day)
    assert later["issues"][0]["callers"] == 5 and later["computed_at"] > first["computed_at"]
    # Unchanged since: the stored answer is served however old it is.
    analytics.clock.advance(timedelta(hours=5))
    assert analytics.get("/analytics/hot-issues", **day)["computed_at"] == later["computed_at"]


def test_the_worker_computes_the_months_hot_issues_ahead_only_when_they_changed(
    analytics: Analytics,
) -> None:
    s = Story()
    lifts_today(s, 3)
    load(analytics.env.db, s.events)
    db = analytics.env.db
    asks = [
        hot.Ask(date(2026, 3, 1), date(2026, 3, 31)),
        hot.Ask(date(2026, 3, 2), date(2026, 3, 31)),
    ]
    assert hot.warm(db, asks, tz=BEIJING, now=NOW) == 2
    assert hot.warm(db, asks, tz=BEIJING, now=NOW + timedelta(minutes=1)) == 0
    stored = hot.stored_answer(db, hot.ask_key(asks[0]))
    assert stored is not None and stored[2]["issues"][0]["callers"] == 3
