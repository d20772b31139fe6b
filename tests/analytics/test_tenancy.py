"""One centre, two clients: Qingyuan Water and Blue Flame Gas share the hotline's staff.
Their complaints flow into one analytics, each carrying its client; water's viewer reads
only water's figures, issues, reports and dashboard, the centre's supervisor reads both
and each side by side; an event naming the wrong client for a complaint is refused whole;
and a rebuild from the topics keeps the clients apart (real PostgreSQL, and Kafka where
marked)."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import create_engine, select, text

from services.analytics import rebuild
from services.analytics.db import inbox
from services.analytics.db import outbox as analytics_outbox
from services.analytics.facts.service import (
    assist_parts,
    department_names,
    fact_events,
    facts,
    revisions,
)
from services.analytics.handlers import handlers, handlers_for
from services.analytics.main import create_app
from services.analytics.reports import hot
from services.analytics.text.issues import Entry
from services.analytics.worker import TOPICS
from shared.auth.store import grant_outside_directory, issue_token
from shared.clock import ManualClock
from shared.consumer import EventConsumer, Refused
from shared.db import create_database
from shared.events import Actor, Envelope, encode, registry
from shared.inbox import claim
from shared.kafka import create_producer
from shared.outbox import Outbox
from shared.topics import COMPLAINTS_LIFECYCLE, dlq
from shared.vocabulary import EventName, Role
from tests.analytics.conftest import Analytics, load
from tests.analytics.story import BEIJING, NOW, Complaint, Story, bj
from tests.analytics.test_dashboard_chromium import SCREENSHOT as VIEWERS_SCREENSHOT
from tests.analytics.test_dashboard_chromium import DevTools, free_port
from tests.analytics.test_dashboard_chromium import browser as browser
from tests.support.infra import read_topic, wait_until
from tests.support.topics import Topics

pytestmark = pytest.mark.postgres

# The centre's dashboard, beside the viewer's of test_dashboard_chromium.py.
SCREENSHOT = VIEWERS_SCREENSHOT.with_name("dashboard-centre.png")

CLIENTS = {
    "tenants": [
        {"id": "water", "zh": "清源水务", "en": "Qingyuan Water", "numbers": ["96390"]},
        {"id": "gas", "zh": "蓝焰燃气", "en": "Blue Flame Gas", "numbers": ["96777"]},
    ]
}
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
# One caller who is a customer of both: about her water bill, then about her gas.
BOTH = "+8613800000777"
# The same trouble at the same estate, told by three callers to each client.
ESTATE = "翠湖花园小区地下管道破裂，整栋楼停用三天，物业一直不处理"


class ClientsStory(Story):
    """The story's events, each in the name of its complaint's client, each complaint
    registered by the agent who took the call."""

    def __init__(self) -> None:
        super().__init__()
        self.client_of: dict[str, str] = {}
        self.agent_of: dict[str, str] = {}

    def call(self, name: str, at: datetime, *, client: str, agent: str, **kw: Any) -> Complaint:
        self.client_of[name] = client
        self.agent_of[name] = agent
        return self.received(name, at, **kw)

    def _add(self, name: str, payload: Any, c: Complaint, at: datetime, *, source: str) -> None:
        super()._add(name, payload, c, at, source=source)
        key = c.reference.rsplit("-", 1)[1]
        update: dict[str, Any] = {"tenant": self.client_of[key]}
        if name == EventName.COMPLAINT_RECEIVED:
            update["actor"] = Actor(id=self.agent_of[key], role=Role.AGENT)
        self.events[-1] = self.events[-1].model_copy(update=update)


def two_clients_month() -> ClientsStory:
    """March at the centre.

    Water: W1 (the caller of both) answered by its pipes department (its meters
    department helping) and closed satisfied; W2 waiting at the duty desk; W3–W5 three
    callers about the estate's burst pipe.
    Gas: G1 (the same caller, the day after W1 closed) dispatched to its safety
    department, urged and escalated to level 2; G2–G4 three other callers about the
    same estate in the same words. A001 takes water's calls, A003 gas's, and A002 both.
    """
    s = ClientsStory()
    s.call("W1", bj(3, 2, 9), client="water", agent="A001", category="water_bill", phone=BOTH,
           description="水费账单重复扣费 30 元")  # fmt: skip
    s.act("W1", "acknowledged", "acknowledge", bj(3, 2, 9, 10), stage="handling")
    s.act("W1", "dispatched", "dispatch", bj(3, 2, 10), to="dispatched", stage="acceptance",
          department="pipes", department_name="管网部 Pipes",
          details={"assisting": ["meters"]})  # fmt: skip
    s.act("W1", "accepted", "accept", bj(3, 2, 11), to="in_progress", stage="resolution")
    s.act("W1", "replied", "reply", bj(3, 3, 11), to="replied", stage="follow_up",
          root_cause="system", resolution="计费系统重复出账，已退款")  # fmt: skip
    s.act("W1", "closed", "feedback", bj(3, 3, 15), to="closed", closure_reason="satisfied",
          root_cause="system", details={"result": "satisfied"})  # fmt: skip
    s.call("W2", bj(3, 5, 10), client="water", agent="A001", category="water_quality",
           phone="+8613800000002", description="自来水发黄有异味")  # fmt: skip
    s.call("G1", bj(3, 4, 9), client="gas", agent="A002", category="gas_safety", phone=BOTH,
           description="燃气表附近有煤气味")  # fmt: skip
    s.act("G1", "acknowledged", "acknowledge", bj(3, 4, 9, 5), stage="handling")
    s.act("G1", "dispatched", "dispatch", bj(3, 4, 9, 30), to="dispatched", stage="acceptance",
          department="safety", department_name="安检部 Safety")  # fmt: skip
    s.act("G1", "urged", "urge", bj(3, 4, 12), urge_count=1, escalation_level=1)
    s.act("G1", "escalated", "escalate", bj(3, 4, 18), escalation_level=2)
    for n in range(3):
        s.call(f"W{3 + n}", bj(3, 30, 9 + n), client="water", agent="A002",
               category="water_supply", phone=f"+86139000001{n:02d}",
               description=ESTATE)  # fmt: skip
        s.call(f"G{2 + n}", bj(3, 30, 13 + n), client="gas", agent="A003",
               category="gas_supply", phone=f"+86139000002{n:02d}", description=ESTATE)  # fmt: skip
    return s


@pytest.fixture(autouse=True)
def two_clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps(CLIENTS, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("TENANTS_FILE", str(path))
    yield path


def token(analytics: Analytics, role: str, staff: str, client: str | None) -> dict[str, str]:
    """A token of someone the directory binds to `client` (None: the centre's own)."""
    with analytics.env.auth_db.transaction() as session:
        grant_outside_directory(session, staff, role, tenant=client)
        plain, _ = issue_token(session, staff_id=staff, role=role)
    return {"Authorization": f"Bearer {plain}"}


@pytest.fixture
def month(analytics: Analytics) -> tuple[Analytics, ClientsStory]:
    story = two_clients_month()
    assert load(analytics.env.db, story.events) == len(story.events)
    return analytics, story


def get(analytics: Analytics, path: str, who: dict[str, str], **params: Any) -> Any:
    return analytics.get(path, headers=who, **params)


def rows_of(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


# --- what each reads ---------------------------------------------------------------------


def test_waters_viewer_sees_only_waters_figures_and_may_not_ask_for_gas(
    month: tuple[Analytics, ClientsStory],
) -> None:
    analytics, _ = month
    water = token(analytics, "viewer", "V-WATER", "water")
    mine = get(analytics, "/analytics/overview", water, **MARCH)
    # W1–W5: the caller of both counts once here, as water's caller.
    assert (mine["tenant"], mine["volume"], mine["callers"], mine["open"]) == ("water", 5, 5, 4)
    assert mine["escalated"] == 0 and mine["satisfaction"]["rate"] == 1.0
    # Asking for water by name is the same; asking for gas is refused, not narrowed.
    assert get(analytics, "/analytics/overview", water, tenant="water", **MARCH) == mine
    for path, params in (
        ("/analytics/overview", MARCH),
        ("/analytics/hot-issues", MARCH),
        ("/analytics/root-causes", {"month": "2026-03"}),
        ("/analytics/trends", MARCH),
        ("/analytics/arrivals", MARCH),
        ("/analytics/filters", {}),
        ("/analytics/departments/pipes/report", {"month": "2026-03"}),
    ):
        refused = analytics.client.get(path, params={**params, "tenant": "gas"}, headers=water)
        assert refused.status_code == 403, (path, refused.text)
        assert "water" in refused.json()["message"]
    # A client the centre does not serve is a wrong field, for anyone.
    unknown = analytics.client.get(
        "/analytics/overview", params={"tenant": "power"}, headers=analytics.supervisor
    )
    assert unknown.status_code == 422 and unknown.json()["fields"][0]["field"] == "tenant"

    trends = get(analytics, "/analytics/trends", water, **MARCH)
    assert {s["key"] for s in trends["series"]} == {"water_bill", "water_quality", "water_supply"}
    pareto = get(analytics, "/analytics/root-causes", water, month="2026-03")
    assert [(c["root_cause"], c["count"]) for c in pareto["causes"]] == [("system", 1)]
    arrivals = get(analytics, "/analytics/arrivals", water, **MARCH)
    assert arrivals["total"] == 5
    assists = get(analytics, "/analytics/assists", water, month="2026-03")
    assert [d["department"] for d in assists["departments"]] == ["meters", "pipes"]
    gas_assists = get(analytics, "/analytics/assists", analytics.supervisor, month="2026-03",
                      tenant="gas")  # fmt: skip
    assert gas_assists["departments"] == []
    filters = get(analytics, "/analytics/filters", water)
    assert filters["departments"] == ["pipes"] and filters["own_tenant"] == "water"
    assert filters["tenants"] == [{"id": "water", "zh": "清源水务", "en": "Qingyuan Water"}]
    assert filters["centre_views"] is False


def test_two_clients_callers_about_one_estate_are_two_issues(
    month: tuple[Analytics, ClientsStory],
) -> None:
    analytics, story = month
    water = token(analytics, "viewer", "V-WATER", "water")
    day = {"from": "2026-03-30", "to": "2026-03-30"}
    [issue] = get(analytics, "/analytics/hot-issues", water, **day)["issues"]
    assert (issue["tenant"], issue["callers"], issue["place"]) == ("water", 3, "翠湖花园")
    assert set(issue["references"]) == {story.complaints[f"W{n}"].reference for n in (3, 4, 5)}
    body = get(analytics, "/analytics/hot-issues", water, format="csv", **day)
    assert not any(story.complaints[f"G{n}"].reference in body for n in (2, 3, 4))
    # The centre sees both: the same place and words, but each client's callers apart.
    both = get(analytics, "/analytics/hot-issues", analytics.supervisor, **day)["issues"]
    assert sorted((i["tenant"], i["callers"]) for i in both) == [("gas", 3), ("water", 3)]
    assert len({i["key"] for i in both}) == 2
    # Its CSV names each issue's client; gas's alone is gas's only.
    table = rows_of(get(analytics, "/analytics/hot-issues", analytics.supervisor, format="csv",
                        **day))  # fmt: skip
    assert sorted(r["tenant"] for r in table) == ["gas", "water"]
    [gas] = get(analytics, "/analytics/hot-issues", analytics.supervisor, tenant="gas",
                **day)["issues"]  # fmt: skip
    assert gas["tenant"] == "gas" and gas["callers"] == 3
    # The answers are kept per client: water's stored answer is not the centre's.
    with analytics.env.db.read() as session:
        kept = session.execute(select(hot.answers.c.tenant)).scalars().all()
    assert sorted(kept, key=str) == sorted([None, "water", "gas"], key=str)


def test_the_same_caller_of_two_clients_is_no_repeat_caller_nor_a_false_closure(
    month: tuple[Analytics, ClientsStory],
) -> None:
    """She called water, then the next day gas: water's closure was no failure, and she
    is once each client's customer."""
    analytics, _ = month
    repeat = get(analytics, "/analytics/repeat-complainants", analytics.supervisor,
                 min=2, end="2026-03-31")  # fmt: skip
    assert repeat["customers"] == []
    closures = get(analytics, "/analytics/false-closures", analytics.supervisor, days=7, **MARCH)
    assert (closures["closed"], closures["suspected"]) == (1, 0)
    everyone = get(analytics, "/analytics/overview", analytics.supervisor, **MARCH)
    assert (everyone["tenant"], everyone["volume"], everyone["callers"]) == (None, 9, 9)


def test_waters_viewer_reads_waters_department_report_and_not_gas(
    month: tuple[Analytics, ClientsStory],
) -> None:
    analytics, _ = month
    water = token(analytics, "viewer", "V-WATER", "water")
    report = get(analytics, "/analytics/departments/pipes/report", water, month="2026-03")
    assert (report["tenant"], report["summary"]["complaints"]) == ("water", 1)
    page = get(analytics, "/analytics/departments/pipes/report", water, month="2026-03",
               format="html")  # fmt: skip
    assert "清源水务" in page and "蓝焰燃气" not in page
    table = get(analytics, "/analytics/departments/pipes/report", water, month="2026-03",
                format="csv")  # fmt: skip
    assert "summary,complaints,1" in table
    # Gas's department does not exist for water's viewer; the centre reads it.
    other = analytics.client.get("/analytics/departments/safety/report",
                                 params={"month": "2026-03"}, headers=water)  # fmt: skip
    assert other.status_code == 404, other.text
    gas = get(analytics, "/analytics/departments/safety/report", analytics.supervisor,
              month="2026-03")  # fmt: skip
    assert gas["tenant"] == "gas" and gas["summary"]["complaints"] == 1


def test_another_clients_complaint_does_not_exist_for_a_clients_staff(
    month: tuple[Analytics, ClientsStory],
) -> None:
    analytics, story = month
    water_qa = token(analytics, "qa", "Q-WATER", "water")
    g1, w1 = story.complaints["G1"], story.complaints["W1"]
    for complaint in (g1.id, g1.reference):
        path = f"/analytics/complaints/{complaint}/root-cause"
        assert analytics.client.get(path, headers=water_qa).status_code == 404
        revised = analytics.client.put(path, json={"root_cause": "process"}, headers=water_qa)
        assert revised.status_code == 404, revised.text
        suggestion = analytics.client.get(f"{path}/suggestion", headers=water_qa)
        assert suggestion.status_code == 404
    # Its own it revises; the revision goes out in water's name.
    answer = analytics.client.put(f"/analytics/complaints/{w1.reference}/root-cause",
                                  json={"root_cause": "process"}, headers=water_qa)  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["tenant"] == "water"
    with analytics.env.db.read() as session:
        [value] = session.execute(select(analytics_outbox.c.value)).scalars().all()
    event = registry.decode(value.encode())
    assert (event.type, event.envelope.tenant) == (EventName.ROOT_CAUSE_REVISED, "water")
    with analytics.env.db.read() as session:
        assert session.execute(select(revisions.c.tenant)).scalars().all() == ["water"]
    # The centre's QA reaches gas's complaint as before.
    seen = analytics.client.get(f"/analytics/complaints/{g1.id}/root-cause", headers=analytics.qa)
    assert seen.status_code == 200 and seen.json()["tenant"] == "gas"


def test_suggestions_are_learned_from_each_clients_own_tagged_complaints(
    analytics: Analytics,
) -> None:
    """Twenty-five of water's complaints are tagged, none of gas's: water's complaint
    gets a suggester's answer, gas's hears that its own client has too few."""
    s = ClientsStory()
    for n in range(25):
        s.call(f"T{n:02d}", bj(3, 1 + n % 28, 9), client="water", agent="A001",
               category="water_bill", phone=f"+8613700001{n:03d}",
               description="水费多扣")  # fmt: skip
        s.act(f"T{n:02d}", "replied", "resolve", bj(3, 1 + n % 28, 10), to="replied",
              root_cause="system", resolution="计费系统错误，已退款")  # fmt: skip
    s.call("GX", bj(3, 20, 9), client="gas", agent="A003", category="gas_bill",
           phone="+8613700009999", description="燃气费多扣")  # fmt: skip
    load(analytics.env.db, s.events)
    gas = analytics.client.get(
        f"/analytics/complaints/{s.complaints['GX'].id}/root-cause/suggestion",
        headers=analytics.supervisor,
    )
    assert gas.status_code == 409 and gas.json()["tagged"] == 0, gas.text
    water = analytics.client.get(
        f"/analytics/complaints/{s.complaints['T00'].id}/root-cause/suggestion",
        headers=analytics.supervisor,
    )
    assert water.status_code == 200, water.text
    assert (water.json()["tenant"], water.json()["learned_from"]) == ("water", 25)


# --- the centre across its clients ----------------------------------------------------------


def test_the_centres_supervisor_sees_each_client_side_by_side(
    month: tuple[Analytics, ClientsStory],
) -> None:
    analytics, _ = month
    table = get(analytics, "/analytics/tenants", analytics.supervisor, month="2026-03")
    by = {row["tenant"]: row for row in table["tenants"]}
    assert list(by) == ["default", "water", "gas"]
    figures = ("complaints", "callers", "open", "closed", "escalated", "reopened")
    assert [by["water"][f] for f in figures] == [5, 5, 4, 1, 0, 0]
    assert [by["gas"][f] for f in figures] == [4, 4, 4, 0, 1, 0]
    assert [by["default"][f] for f in figures] == [0, 0, 0, 0, 0, 0]
    assert (by["water"]["first_satisfaction_rate"], by["water"]["satisfaction_rate"]) == (1, 1)
    assert by["gas"]["satisfaction_rate"] is None
    # W1 answered 26 hours after it was registered; nothing of gas's is answered yet.
    assert (by["water"]["mean_resolution_hours"], by["gas"]["mean_resolution_hours"]) == (26, None)
    # W1 was acknowledged, accepted and answered in time; G1 waited past acceptance.
    assert by["water"]["sla_met"]["acceptance"] == 1.0
    assert by["gas"]["sla_met"]["acceptance"] is None  # still waiting to be accepted
    assert by["water"]["name_zh"] == "清源水务" and by["gas"]["name_en"] == "Blue Flame Gas"

    sheet = rows_of(get(analytics, "/analytics/tenants", analytics.supervisor, month="2026-03",
                        format="csv"))  # fmt: skip
    assert [(r["tenant"], r["complaints"], r["escalated"]) for r in sheet] == [
        ("default", "0", "0"), ("water", "5", "0"), ("gas", "4", "1"),
    ]  # fmt: skip


def test_the_centre_sees_who_served_which_client(month: tuple[Analytics, ClientsStory]) -> None:
    analytics, _ = month
    staffing = get(analytics, "/analytics/tenants/staffing", analytics.qa, month="2026-03")
    served = {t["tenant"]: t for t in staffing["tenants"]}
    assert served["water"]["registrations"] == 5
    assert [(a["agent"], a["registrations"], a["share"]) for a in served["water"]["agents"]] == [
        ("A002", 3, 0.6), ("A001", 2, 0.4),
    ]  # fmt: skip
    assert [(a["agent"], a["registrations"]) for a in served["gas"]["agents"]] == [
        ("A003", 3), ("A002", 1),
    ]  # fmt: skip
    agents = {a["agent"]: a for a in staffing["agents"]}
    assert [(t["tenant"], t["registrations"], t["share"]) for t in agents["A002"]["tenants"]] == [
        ("water", 3, 0.75), ("gas", 1, 0.25),
    ]  # fmt: skip
    sheet = rows_of(get(analytics, "/analytics/tenants/staffing", analytics.qa, month="2026-03",
                        format="csv"))  # fmt: skip
    assert {(r["agent"], r["tenant"], r["registrations"]) for r in sheet} == {
        ("A001", "water", "2"), ("A002", "water", "3"), ("A002", "gas", "1"),
        ("A003", "gas", "3"),
    }  # fmt: skip


def test_a_clients_token_may_not_read_the_centres_views(
    month: tuple[Analytics, ClientsStory],
) -> None:
    """Not even a client's own supervisor: the figures across clients are the outsourcer's."""
    analytics, _ = month
    for who in (
        token(analytics, "supervisor", "S-WATER", "water"),
        token(analytics, "qa", "Q-GAS", "gas"),
        token(analytics, "viewer", "V-WATER", "water"),
    ):
        for path in ("/analytics/tenants", "/analytics/tenants/staffing"):
            refused = analytics.client.get(path, params={"month": "2026-03"}, headers=who)
            assert refused.status_code == 403, (path, refused.text)
    assert get(analytics, "/analytics/filters", analytics.supervisor)["centre_views"] is True


# --- an event of the wrong client -------------------------------------------------------------


def forged(story: ClientsStory, name: str, client: str) -> Envelope:
    """The next lifecycle event of `name`, but in another client's name."""
    story.act(name, "urged", "urge", bj(3, 31, 20), urge_count=9, escalation_level=3)
    envelope = story.events.pop()
    return envelope.model_copy(update={"tenant": client})


def test_an_event_naming_the_wrong_client_for_a_complaint_changes_nothing(
    month: tuple[Analytics, ClientsStory],
) -> None:
    analytics, story = month
    db = analytics.env.db
    wrong = forged(story, "W1", "gas")
    with db.read() as session:
        before = session.execute(select(facts).order_by(facts.c.complaint_id)).all()
        logged = session.execute(select(fact_events)).all()
    event = registry.decode(encode(wrong))
    with pytest.raises(Refused) as refused, db.transaction() as session:
        assert claim(session, inbox, consumer="analytics", envelope=event.envelope)
        handlers_for(BEIJING)[event.type](session, event)
    assert refused.value.error_class == "tenant"
    assert "'gas'" in str(refused.value) and "'water'" in str(refused.value)
    with db.read() as session:
        assert session.execute(select(facts).order_by(facts.c.complaint_id)).all() == before
        assert session.execute(select(fact_events)).all() == logged
    # Nor does water's complaint, received again in gas's name, become gas's.
    w2 = story.complaints["W2"].id
    [first] = [
        e for e in story.events if e.type == EventName.COMPLAINT_RECEIVED and e.complaint_id == w2
    ]
    again = first.model_copy(
        update={"tenant": "gas", "payload": {**first.payload, "category": "gas_bill"}}
    )
    received = registry.decode(encode(again))
    with pytest.raises(Refused), db.transaction() as session:
        handlers_for(BEIJING)[received.type](session, received)
    with db.read() as session:
        row = session.execute(
            select(facts.c.tenant, facts.c.category).where(facts.c.complaint_id == w2)
        ).one()
    assert tuple(row) == ("water", "water_quality")


def test_every_row_kept_for_a_complaint_names_its_client(
    month: tuple[Analytics, ClientsStory],
) -> None:
    analytics, story = month
    hot.fill_recent(analytics.env.db, now=NOW, tz=BEIJING, days=45)
    with analytics.env.db.read() as session:
        for table in (facts, fact_events, hot.subjects):
            found = dict(session.execute(select(table.c.complaint_id, table.c.tenant)).all())
            for name, complaint in story.complaints.items():
                if complaint.id in found:
                    assert found[complaint.id] == story.client_of[name], (table.name, name)
        names = dict(session.execute(select(department_names.c.department_id,
                                            department_names.c.tenant)).all())  # fmt: skip
        parts = session.execute(select(assist_parts.c.department_id, assist_parts.c.tenant)).all()
    assert names == {"pipes": "water", "safety": "gas"}
    assert [tuple(p) for p in parts] == [("meters", "water")]


# --- through Kafka, and rebuilt -----------------------------------------------------------------


@pytest.mark.kafka
def test_through_kafka_the_wrong_clients_event_is_dead_lettered_and_a_rebuild_keeps_clients_apart(
    analytics: Analytics,
    platform_topics: Callable[..., Topics],
    pg_url: str,
    kafka_bootstrap: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = analytics.env
    story = two_clients_month()
    wrong = forged(story, "G1", "water")
    topics = platform_topics()
    producer = create_producer(env.settings, "tenancy-stand-in")
    consumer = EventConsumer(
        name="analytics",
        topics=topics.of(*TOPICS),
        stand_for=topics.stand_for,
        db=env.db,
        inbox=inbox,
        handlers=handlers(env.db, env.settings),
        settings=env.settings,
        producer=producer,
    )
    target = f"{env.settings.schema_prefix}analytics_rebuild"
    try:
        topics.publish(producer, [*story.events, wrong])
        stop = threading.Event()
        thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
        thread.start()
        try:
            wait_until(
                lambda: (
                    consumer.stats.handled >= len(story.events)
                    and consumer.stats.dead_lettered >= 1
                ),
                timeout=60,
                what="the month and the forged event",
            )
        finally:
            stop.set()
            thread.join(timeout=30)
        assert (consumer.stats.handled, consumer.stats.dead_lettered) == (len(story.events), 1)
        (dead,) = read_topic(kafka_bootstrap, dlq(topics[COMPLAINTS_LIFECYCLE]), expect=1)
        assert dict(dead.headers)["dlq.error_class"] == b"tenant"
        assert registry.decode(dead.value).envelope.event_id == wrong.event_id
        g1 = story.complaints["G1"]
        with env.db.read() as session:
            row = session.execute(select(facts).where(facts.c.complaint_id == g1.id)).one()
        assert (row.tenant, row.urges, row.escalation_level) == ("gas", 1, 2)
        water = token(analytics, "viewer", "V-WATER", "water")
        assert get(analytics, "/analytics/overview", water, **MARCH)["volume"] == 5

        monkeypatch.setenv("DATABASE_URL", pg_url)
        monkeypatch.setenv("SCHEMA_PREFIX", env.settings.schema_prefix)
        monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
        replayed = [f"--topic={topics[t]}={t}" for t in TOPICS]
        status = rebuild.main([*replayed, "--compare", "--quiet"])
        printed = capsys.readouterr().out
        assert status == 0, printed
        assert "1 refused (another client's)" in printed
        assert "the rebuilt read models equal the live ones" in printed
        rebuilt = create_database(pg_url, schema=target)
        try:
            with rebuilt.read() as session:
                clients = dict(session.execute(select(facts.c.reference, facts.c.tenant)).all())
                row = session.execute(select(facts).where(facts.c.complaint_id == g1.id)).one()
        finally:
            rebuilt.dispose()
        assert clients == {c.reference: story.client_of[n] for n, c in story.complaints.items()}
        assert (row.urges, row.escalation_level) == (1, 2)
    finally:
        producer.close()
        engine = create_engine(pg_url)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{target}" CASCADE'))
        engine.dispose()


def test_an_installation_of_one_organisation_keeps_its_answers_and_alerts_keys() -> None:
    """An ask of every client, and the default client's issues, are keyed as before
    there were several clients; a client's ask and a client's issue have keys of their
    own."""
    ask = hot.Ask(date(2026, 3, 1), date(2026, 3, 31))
    before = json.dumps(["2026-03-01", "2026-03-31", None, vars(ask.weights), 3, 10])
    assert hot.ask_key(ask) == hashlib.sha256(before.encode()).hexdigest()[:32]
    assert hot.ask_key(ask) != hot.ask_key(replace(ask, tenant="default"))
    assert hot.ask_key(replace(ask, tenant="water")) != hot.ask_key(replace(ask, tenant="gas"))
    at = NOW - timedelta(hours=1)
    entry = Entry("c1", "TS1", None, at, "zh", "翠湖花园", "翠湖花园", None, ("停水",))
    assert entry.block == "zh|p|翠湖花园"
    assert entry._replace(tenant="water").block == "water|zh|p|翠湖花园"


def test_each_clients_desk_is_told_of_its_own_hot_issue(analytics: Analytics) -> None:
    """Five of water's callers and five of gas's about the estate within the day: two
    alerts, each in its own client's name and with its own client's callers only."""
    s = ClientsStory()
    for n in range(5):
        s.call(f"W{n}", bj(3, 31, 9 + n), client="water", agent="A001",
               category="water_supply", phone=f"+86139000001{n:02d}",
               description=ESTATE)  # fmt: skip
        s.call(f"G{n}", bj(3, 31, 15 + n), client="gas", agent="A003",
               category="gas_supply", phone=f"+86139000002{n:02d}",
               description=ESTATE)  # fmt: skip
    load(analytics.env.db, s.events)
    sender = Outbox(analytics_outbox, lanes=1)
    told = hot.publish_alerts(analytics.env.db, sender, now=NOW, tz=BEIJING, threshold=5,
                              quiet_days=7)  # fmt: skip
    assert len(told) == 2
    with analytics.env.db.read() as session:
        values = session.execute(select(analytics_outbox.c.value)).scalars().all()
        alerted = dict(session.execute(select(hot.alerts.c.key, hot.alerts.c.tenant)).all())
    events = [registry.decode(value.encode()) for value in values]
    by_client = {e.envelope.tenant: e.payload for e in events}
    assert set(by_client) == {"water", "gas"}
    assert by_client["water"].callers == by_client["gas"].callers == 5
    assert {r for r in by_client["water"].references} <= {
        s.complaints[f"W{n}"].reference for n in range(5)
    }
    assert sorted(alerted.values()) == ["gas", "water"]
    assert set(alerted) == {by_client["water"].key, by_client["gas"].key}


# --- the dashboard in a real browser -------------------------------------------------------------


@pytest.fixture
def clients_server(analytics: Analytics) -> Iterator[str]:
    """The analytics API on a port of its own, over the two clients' month."""
    assert load(analytics.env.db, two_clients_month().events)
    port = free_port()
    config = uvicorn.Config(
        create_app(analytics.env.settings, clock=ManualClock(NOW)),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )
    app_server = uvicorn.Server(config)
    thread = threading.Thread(target=app_server.run, daemon=True)
    thread.start()
    wait_until(lambda: app_server.started, timeout=20, what="the analytics API")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        app_server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def chrome(browser: DevTools) -> DevTools:
    """Headless Chromium (the dashboard test's), for the pages below."""
    return browser


class Page:
    """One tab of the browser on the dashboard, opened with a token."""

    def __init__(self, tools: DevTools, url: str) -> None:
        self.browser = tools
        target = tools.send("Target.createTarget", url="about:blank")["targetId"]
        attached = tools.send("Target.attachToTarget", targetId=target, flatten=True)
        self.session = attached["sessionId"]
        for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
            tools.send(domain, self.session)
        size = {"width": 1400, "height": 2400, "deviceScaleFactor": 1, "mobile": False}
        tools.send("Emulation.setDeviceMetricsOverride", self.session, **size)
        tools.send("Page.navigate", self.session, url=url)

    def evaluate(self, expression: str) -> Any:
        result = self.browser.send(
            "Runtime.evaluate", self.session, expression=expression, returnByValue=True
        )
        return result["result"].get("value")

    def drawn(self) -> dict[str, Any]:
        """The page's state once it has drawn (or failed)."""

        def state() -> dict[str, Any]:
            value = self.evaluate(
                "(s => s && JSON.stringify({ready: s.ready, points: s.points, "
                "errors: s.errors, centre: s.centre}))(window.dashboardState)"
            )
            found: dict[str, Any] = json.loads(value or "null") or {}
            return found if found.get("ready") or found.get("errors") else {}

        found: dict[str, Any] = wait_until(state, timeout=30, what="the dashboard to draw")
        assert found["ready"], found
        return found

    def text(self, element: str) -> str:
        return str(self.evaluate(f"document.getElementById('{element}').textContent"))

    def hidden(self, element: str) -> bool:
        return bool(self.evaluate(f"document.getElementById('{element}').hidden"))

    def options(self, select: str) -> list[str]:
        found: list[str] = self.evaluate(
            f"[...document.getElementById('{select}').options].map(o => o.text)"
        )
        return found

    def errors(self) -> list[dict[str, Any]]:
        return [
            e
            for e in self.browser.events
            if e.get("method") == "Runtime.exceptionThrown"
            or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
            or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
        ]


def test_a_clients_viewer_sees_only_its_client_on_the_dashboard(
    clients_server: str, analytics: Analytics, chrome: DevTools
) -> None:
    water = token(analytics, "viewer", "V-WATER", "water")["Authorization"].split()[1]
    page = Page(chrome, f"{clients_server}/dashboard#token={water}")
    state = page.drawn()
    # The page names the client, offers no other, and has no centre section.
    assert not page.hidden("client") and "清源水务" in page.text("client")
    assert page.hidden("tenant-choice") and page.hidden("centre")
    assert state["centre"] is None
    # Water's five complaints, its one department, its one hot issue.
    assert (state["points"]["volume"], state["points"]["arrivals"]) == (5, 5)
    assert state["points"]["hotissues"] == 1
    assert page.options("department") == ["全部 All", "管网部 Pipes"]
    listed = page.text("hot-issue-list")
    assert "3 位来电人" in listed and "-W3" in listed and "-G" not in listed, listed
    assert "蓝焰燃气" not in str(page.evaluate("document.body.innerText"))
    assert page.errors() == []


def test_the_centres_supervisor_chooses_a_client_and_sees_them_side_by_side(
    clients_server: str, analytics: Analytics, chrome: DevTools
) -> None:
    supervisor = analytics.supervisor["Authorization"].split()[1]
    page = Page(chrome, f"{clients_server}/dashboard#token={supervisor}")
    state = page.drawn()
    assert page.hidden("client") and not page.hidden("tenant-choice")
    assert page.options("tenant") == [
        "全部客户 All clients",
        "默认 Default",
        "清源水务 Qingyuan Water",
        "蓝焰燃气 Blue Flame Gas",
    ]
    assert state["points"]["volume"] == 9 and state["points"]["hotissues"] == 2
    listed = page.text("hot-issue-list")
    assert "[清源水务 Qingyuan Water]" in listed and "[蓝焰燃气 Blue Flame Gas]" in listed
    # Each client side by side, and who registered whose complaints.
    assert not page.hidden("centre")
    rows = page.evaluate(
        "[...document.querySelectorAll('#centre-clients tr')].map(r => "
        "[...r.cells].slice(0, 2).map(c => c.textContent))"
    )
    assert rows[1:] == [["默认 Default", "0"], ["清源水务 Qingyuan Water", "5"],
                        ["蓝焰燃气 Blue Flame Gas", "4"]]  # fmt: skip
    staff = page.evaluate(
        "[...document.querySelectorAll('#centre-staffing tr')].map(r => r.cells[0].textContent)"
    )
    assert staff[1:] == ["A002", "A003", "A001", "客户合计 Each client"]
    shot = chrome.send("Page.captureScreenshot", page.session, format="png")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))
    # Gas chosen: gas's four complaints and gas's own department.
    page.evaluate(
        "document.getElementById('tenant').value = 'gas';"
        "document.getElementById('tenant').dispatchEvent(new Event('change', {bubbles: true}));"
    )
    wait_until(
        lambda: (
            page.evaluate("window.dashboardState.ready && window.dashboardState.points.volume") == 4
        ),
        timeout=30,
        what="gas's figures",
    )
    assert page.options("department") == ["全部 All", "安检部 Safety"]
    assert "-W" not in page.text("hot-issue-list")
    assert page.errors() == []
