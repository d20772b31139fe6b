"""One centre, two clients: Qingyuan Water and Blue Flame Gas share the hotline's staff.
Their complaints flow into one analytics, each carrying its client; water's viewer reads
only water's figures, issues, reports and dashboard, the centre's supervisor reads both
and each side by side; an event naming the wrong client for a complaint is refused whole;
and a rebuild from the topics keeps the clients apart (real PostgreSQL, and Kafka where
marked)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text

from services.analytics import rebuild
from services.analytics.db import inbox
from services.analytics.db import outbox as analytics_outbox
from services.analytics.facts.service import (
    assist_parts,
    department_names,
    fact_events,
    facts,
)
from services.analytics.handlers import handlers, handlers_for
from services.analytics.reports import hot
from services.analytics.text.issues import Entry
from services.analytics.worker import TOPICS
from shared.auth.store import grant_outside_directory, issue_token
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
from tests.analytics.test_dashboard_chromium import browser as browser
from tests.support.infra import read_topic, wait_until
from tests.support.topics import Topics

pytestmark = pytest.mark.postgres

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
