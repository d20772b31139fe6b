"""Planning the agents at the phones, through the API, on six weeks of two clients'
calls (real PostgreSQL): water's agent takes three calls a working half-hour, four
minutes apart, gas's agent three, six minutes apart, from nine to five, with a quiet
weekend; Friday 3 April is a holiday in the centre's calendar. The centre's planner
sees both clients' calls forecast together, a client's planner only its own; the
handling time is measured from who registered what, unless a what-if replaces it."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.analytics.config import get_config
from services.analytics.facts import projection
from services.analytics.facts.service import save_facts
from services.analytics.staffing import erlang
from services.analytics.staffing.views import CSV_COLUMNS
from shared.contracts import ComplaintReceived
from shared.db import Database
from shared.events import Actor
from shared.vocabulary import Channel, Role
from tests.analytics.conftest import Analytics
from tests.analytics.story import BEIJING

pytestmark = pytest.mark.postgres

CLIENTS = {
    "tenants": [
        {"id": "water", "zh": "清源水务", "en": "Qingyuan Water", "numbers": ["96390"]},
        {"id": "gas", "zh": "蓝焰燃气", "en": "Blue Flame Gas", "numbers": ["96777"]},
        {"id": "power", "zh": "明光电力", "en": "Bright Power", "numbers": ["96598"]},
    ]
}
FIRST_DAY = date(2026, 2, 18)  # six weeks before the clock's 1 April
HOLIDAY = date(2026, 4, 3)
# Who takes each client's calls, at which minutes of a working half-hour.
TAKES = {"water": ("A1", (0, 4, 8)), "gas": ("A2", (2, 8, 14))}


@pytest.fixture(autouse=True)
def centre(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    clients = tmp_path / "tenants.json"
    clients.write_text(json.dumps(CLIENTS, ensure_ascii=False), encoding="utf-8")
    holidays = tmp_path / "calendar.json"
    holidays.write_text(json.dumps({"holidays": [HOLIDAY.isoformat()]}), encoding="utf-8")
    monkeypatch.setenv("TENANTS_FILE", str(clients))
    # Escalation's setting: analytics reads the centre's one calendar from it too.
    monkeypatch.setenv("ESCALATION_CALENDAR_FILE", str(holidays))
    get_config.cache_clear()
    yield
    get_config.cache_clear()


def _call(n: int, at: datetime, client: str, agent: str, channel: str = Channel.PHONE) -> Any:
    received = ComplaintReceived(
        complaint_id=f"C{n}",
        reference=f"TS{at:%Y%m%d}-{n:06d}",
        customer_phone=f"+86138{n:08d}",
        channel=channel,
        category="other",
        severity="normal",
        nature="genuine",
        description="来电反映问题",
        registered_at=at,
        registered_by=agent,
    )
    return projection.received(
        None, received, at, BEIJING, tenant=client, by=Actor(id=agent, role=Role.AGENT)
    )


def six_weeks(db: Database) -> dict[str, int]:
    """The calls, straight into the read model; returns how many each client had."""
    rows: dict[str, Any] = {}
    made = {"water": 0, "gas": 0, "power": 0}
    day = FIRST_DAY
    while day < date(2026, 4, 1):
        working = day.weekday() < 5
        for hour in range(9, 17):
            for half in (0, 30):
                for client, (agent, minutes) in TAKES.items():
                    many = 3 if working else (1 if client == "water" else 0)
                    for minute in minutes[:many]:
                        at = datetime(day.year, day.month, day.day, hour, half + minute,
                                      tzinfo=BEIJING)  # fmt: skip
                        rows[f"C{len(rows)}"] = _call(len(rows), at, client, agent)
                        made[client] += 1
        day += timedelta(days=1)
    # A web form is not a call at the phones; power came to the centre last week.
    at = datetime(2026, 3, 10, 10, 0, tzinfo=BEIJING)
    rows[f"C{len(rows)}"] = _call(len(rows), at, "water", "A1", Channel.WEB)
    for n in range(5):
        at = datetime(2026, 3, 25 + n, 20, 0, tzinfo=BEIJING)
        rows[f"C{len(rows)}"] = _call(len(rows), at, "power", "A3")
        made["power"] += 1
    with db.transaction() as session:
        save_facts(session, before={}, after=rows)
    return made


@pytest.fixture
def calls(analytics: Analytics) -> dict[str, int]:
    return six_weeks(analytics.env.db)


def at(body: dict[str, Any], day: str, time: str) -> dict[str, Any]:
    [found] = [i for i in body["intervals"] if i["day"] == day and i["time"] == time]
    return found


def test_the_centre_plans_each_half_hour_of_the_next_two_weeks_for_both_clients_calls(
    analytics: Analytics, calls: dict[str, int]
) -> None:
    body = analytics.get("/analytics/staffing")
    assert (body["tenant"], body["from"], body["to"]) == (None, "2026-04-01", "2026-04-14")
    assert len(body["intervals"]) == 14 * 48 and len(body["days"]) == 14
    assert body["history"] == {
        "from": "2026-02-18",
        "to": "2026-03-31",
        "days": 42,
        "arrivals": sum(calls.values()),
        "holidays": True,
    }
    # Intervals between one agent's registrations: four minutes for water's, six for
    # gas's; over the centre, the median of them all.
    handling = body["handling"]
    assert (handling["source"], handling["seconds"]) == ("measured", 360.0)
    assert {(a["agent"], a["median_seconds"]) for a in handling["agents"]} >= {
        ("A1", 240),
        ("A2", 360),
    }

    # Wednesday 1 April at ten: three calls each, as every working half-hour before.
    ten = at(body, "2026-04-01", "10:00")
    assert ten["arrivals"] == pytest.approx(6, abs=0.15)
    assert ten["traffic"] == pytest.approx(ten["arrivals"] * 360 / 1800, abs=1e-3)
    needed = erlang.agents_needed(
        ten["traffic"], handling_seconds=360, answer_seconds=20, service_level=0.8,
        max_occupancy=0.85,
    )  # fmt: skip
    assert (ten["agents"], ten["scheduled"]) == (needed.agents, math.ceil(needed.agents / 0.7))
    assert ten["service_level"] >= 0.8 and ten["occupancy"] <= 0.85
    # Nobody calls at three in the morning: nobody is planned.
    night = at(body, "2026-04-01", "03:00")
    assert (night["arrivals"], night["agents"]) == (0, 0)
    # The holiday is planned as a quiet day (the centre's weekends), not as a Friday.
    friday, saturday = body["days"][2], body["days"][3]
    assert (friday["day"], friday["day_type"]) == ("2026-04-03", "holiday")
    assert friday["arrivals"] == pytest.approx(saturday["arrivals"], rel=0.05)
    assert body["days"][1]["arrivals"] == pytest.approx(96, rel=0.03)  # Thursday

    check = body["holdout"]
    assert (check["weeks"], check["from"], check["to"]) == (4, "2026-03-04", "2026-03-31")
    assert check["model"]["wape"] < 0.05 and check["baseline"]["wape"] is not None
    assert len(check["days"]) == 28 and check["arrivals"] == sum(
        d["arrivals"] for d in check["days"]
    )


def test_a_client_alone_and_what_ifs_of_handling_time_shrinkage_target_and_patience(
    analytics: Analytics, calls: dict[str, int]
) -> None:
    water = analytics.get("/analytics/staffing", tenant="water")
    assert water["tenant"] == "water" and water["handling"]["seconds"] == 240.0
    assert at(water, "2026-04-01", "10:00")["arrivals"] == pytest.approx(3, abs=0.1)

    def ten(**what_if: Any) -> dict[str, Any]:
        return at(analytics.get("/analytics/staffing", tenant="water", **what_if),
                  "2026-04-01", "10:00")  # fmt: skip

    base = ten()
    longer = analytics.get("/analytics/staffing", tenant="water", handling_seconds=900)
    assert (longer["handling"]["source"], longer["handling"]["measured_seconds"]) == (
        "given",
        240.0,
    )
    assert at(longer, "2026-04-01", "10:00")["agents"] > base["agents"]
    halved = ten(shrinkage=0.5)
    assert halved["scheduled"] == math.ceil(base["agents"] / 0.5)
    strict = ten(service_level=0.95, answer_seconds=10)
    assert strict["agents"] >= base["agents"] and strict["service_level"] >= 0.95
    patient = analytics.get("/analytics/staffing", tenant="water", patience_seconds=60)
    assert patient["targets"]["queue_model"] == "erlang_a"
    hanging_up = at(patient, "2026-04-01", "10:00")
    assert hanging_up["abandon_probability"] is not None and hanging_up["agents"] <= base["agents"]

    # The same plan as a table, one row a half-hour.
    response = analytics.client.get(
        "/analytics/staffing", params={"tenant": "water", "format": "csv"},
        headers=analytics.supervisor,
    )  # fmt: skip
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "staffing-water-2026-04-01-2026-04-14.csv" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == CSV_COLUMNS and len(rows) == 14 * 48
    assert float(rows[20]["arrivals"]) == at(water, "2026-04-01", "10:00")["arrivals"]


def test_staffing_is_for_the_centres_planners_and_a_clients_planner_sees_its_own(
    analytics: Analytics, calls: dict[str, int]
) -> None:
    for role, staff, department, client in (
        ("viewer", "V-WATER", None, "water"),
        ("department", "D01", "pipes", "water"),
        ("agent", "A9", None, None),
        ("duty_manager", "M1", None, None),
    ):
        headers = analytics.env.token(role, staff, department, tenant=client)
        refused = analytics.client.get("/analytics/staffing", headers=headers)
        assert refused.status_code == 403, (role, refused.text)
        if role != "agent":  # who reads the dashboard is not shown its staffing part
            assert analytics.get("/analytics/filters", headers=headers)["staffing_views"] is False
    assert analytics.get("/analytics/filters")["staffing_views"] is True

    gas = analytics.env.token("supervisor", "S-GAS", tenant="gas")
    mine = analytics.get("/analytics/staffing", headers=gas)
    assert mine["tenant"] == "gas" and mine["history"]["arrivals"] == calls["gas"]
    assert mine["handling"]["agents"] == []  # who took which calls is the centre's
    assert mine["handling"]["seconds"] == 360.0
    other = analytics.client.get("/analytics/staffing", params={"tenant": "water"}, headers=gas)
    assert other.status_code == 403 and "gas" in other.json()["message"]
    unknown = analytics.client.get(
        "/analytics/staffing", params={"tenant": "coal"}, headers=analytics.supervisor
    )
    assert unknown.status_code == 422 and unknown.json()["fields"][0]["field"] == "tenant"
    bad = analytics.client.get(
        "/analytics/staffing", params={"shrinkage": 0.95}, headers=analytics.supervisor
    )
    assert bad.status_code == 422


def test_a_client_with_days_of_calls_gets_no_forecast_and_is_told_why(
    analytics: Analytics, calls: dict[str, int]
) -> None:
    body = analytics.get("/analytics/staffing", tenant="power")
    # From its first call (25 March) to the last day over (31 March).
    assert body["intervals"] == [] and body["holdout"] is None
    assert body["note"] == "a forecast needs at least 14 days of calls; there are 7"
    # Too few registrations to measure: the configured handling time.
    assert (body["handling"]["source"], body["handling"]["seconds"]) == ("configured", 300.0)
