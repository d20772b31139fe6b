"""One centre, two clients: 清源水务 (water, with a duty roster and an acknowledgement
time of its own) and 蓝焰燃气 (gas, served by the centre's shared roster and policy).
Each client's complaints go only to its own departments and people, its clerks and its
outsourcing client's viewers never see the other's, and no event of one client is ever
applied to the other's complaint."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.escalation import sla
from services.escalation.complaints import service
from services.escalation.db import inbox
from services.escalation.handlers import handlers
from services.escalation.main import create_app
from shared.auth.store import Grant, StaffGrant, put_grant
from shared.consumer import EventConsumer
from shared.contracts import (
    ATTACHMENT_ADDED,
    FEEDBACK_RECEIVED,
    URGE_REQUESTED,
    AttachmentAdded,
    FeedbackReceived,
    UrgeRequested,
)
from shared.events import Actor as EventActor
from shared.events import Envelope, registry
from shared.kafka import create_producer
from shared.topics import INTAKE_EVENTS, dlq
from tests.escalation.conftest import Centre, received_event
from tests.support.infra import consume_until, read_topic
from tests.support.topics import Topics

pytestmark = pytest.mark.postgres

TWO_CLIENTS = {
    "tenants": [
        {
            "id": "water",
            "zh": "清源水务",
            "en": "Qingyuan Water",
            "numbers": ["96390"],
            # Its duty manager has 10 minutes to acknowledge a normal complaint; every
            # other stage and severity keeps the centre's time.
            "sla_minutes": {"acknowledgement": {"normal": 10}},
            "own_roster": True,
        },
        {"id": "gas", "zh": "蓝焰燃气", "en": "Blue Flame Gas", "numbers": ["96777"]},
    ]
}
WATER_REPAIRS = {
    "id": "water-repair",
    "name": "抢修部 Water repairs",
    "contact_phones": ["13700137101"],
    "tenant": "water",
}
GAS_SAFETY = {
    "id": "gas-safety",
    "name": "安检部 Gas safety",
    "contact_phones": ["13700137201"],
    "tenant": "gas",
}
# Each client's people: (id, name, phone, role, department, client). A clerk's client is
# their department's without being named.
CLIENTS_PEOPLE = [
    ("W07", "林师傅", "13900139107", "department", "water-repair", None),
    ("G07", "郑师傅", "13900139207", "department", "gas-safety", None),
    ("WV1", "水务甲方", "13900139108", "viewer", None, "water"),
    ("GV1", "燃气甲方", "13900139208", "viewer", None, "gas"),
    ("WDM1", "水务值班", "13900139109", "duty_manager", None, "water"),
    ("GS1", "燃气主管", "13900139209", "supervisor", None, "gas"),
    ("WA1", "水务管理员", "13900139110", "admin", None, "water"),
]
DISPATCH = {"instructions": "上门检查"}


@pytest.fixture
def clients_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps(TWO_CLIENTS, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("TENANTS_FILE", str(path))
    return path


@pytest.fixture
def centre(clients_file: Path, make_centre: Callable[..., Centre]) -> Centre:
    """The centre's own directory (default client), and each client's department, clerk,
    viewer and more, added by the centre's administrator."""
    centre = make_centre(allow_transfer=True)
    for department in (WATER_REPAIRS, GAS_SAFETY):
        answer = centre.client.post("/departments", json=department, headers=centre.admin)
        assert answer.status_code == 201, answer.text
    for staff_id, name, phone, role, department, client in CLIENTS_PEOPLE:
        body = {"id": staff_id, "name": name, "phone": phone, "role": role}
        body |= {"department_id": department} if department else {}
        body |= {"tenant": client} if client else {}
        answer = centre.client.post("/staff", json=body, headers=centre.admin)
        assert answer.status_code == 201, answer.text
        centre.tokens[staff_id] = centre.env.token(role, staff_id, department)
    return centre


def field_named(answer: Any) -> str:
    assert answer.status_code == 422, answer.text
    return answer.json()["fields"][0]["field"]  # type: ignore[no-any-return]


def get(centre: Centre, path: str, who: str, **params: Any) -> Any:
    return centre.client.get(path, params=params, headers=centre.as_(who))


def ids(answer: Any) -> set[str]:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return {item["id"] for item in (body["items"] if isinstance(body, dict) else body)}


def test_a_water_complaint_goes_to_a_water_department_never_to_a_gas_one(
    centre: Centre,
) -> None:
    cid = centre.receive(tenant="water")
    assert centre.get(cid).json()["tenant"] == "water"

    to_gas = centre.act(cid, "dispatch", "DM01", department_id="gas-safety", **DISPATCH)
    assert field_named(to_gas) == "department_id"
    assert "belongs to another client" in to_gas.json()["message"]
    helped_by_gas = centre.act(
        cid, "dispatch", "DM01", department_id="water-repair", assisting=["gas-safety"], **DISPATCH
    )
    assert field_named(helped_by_gas) == "assisting"
    assert "belongs to another client" in helped_by_gas.json()["message"]
    untouched = centre.row(cid)
    assert (untouched.state, untouched.history_seq) == ("with_duty_manager", 1)

    dispatched = centre.act(cid, "dispatch", "DM01", department_id="water-repair", **DISPATCH)
    assert dispatched.status_code == 200, dispatched.text
    assert dispatched.json()["complaint"]["tenant"] == "water"
    told = {r["phone"] for r in centre.last_event(cid).payload["recipients"]}
    assert told == {"+8613700137101"}

    # Nor may the water department pass it on to the gas company's.
    assert centre.act(cid, "accept", "W07").status_code == 200
    transfer = centre.act(cid, "transfer", "W07", department_id="gas-safety", reason="燃气问题")
    assert field_named(transfer) == "department_id"
    assert centre.row(cid).department_id == "water-repair"
    # Every event the complaint caused names its client.
    assert {event.tenant for event in centre.events(cid)} == {"water"}


def test_a_gas_clerk_viewer_or_supervisor_sees_nothing_of_a_water_complaint(
    centre: Centre,
) -> None:
    water = centre.receive(tenant="water")
    gas = centre.receive(tenant="gas")
    for cid, department in ((water, "water-repair"), (gas, "gas-safety")):
        answer = centre.act(cid, "dispatch", "DM01", department_id=department, **DISPATCH)
        assert answer.status_code == 200, answer.text
        escalated = centre.act(cid, "escalate", "SV01", reason="媒体关注")
        assert escalated.status_code == 200, escalated.text

    # Water's escalation is told to the supervisors who serve water: the centre's, never
    # gas's; gas's to gas's own supervisor too.
    told = {r["phone"] for r in centre.last_event(water).payload["recipients"]}
    assert "+8613900139209" not in told
    assert "+8613900139209" in {r["phone"] for r in centre.last_event(gas).payload["recipients"]}

    for who in ("G07", "GV1", "GS1"):
        assert centre.get(water, who).status_code == 404
        assert get(centre, f"/complaints/{water}/history", who).status_code == 404
        assert get(centre, f"/complaints/{water}/history/verify", who).status_code == 404
        assert centre.get(gas, who).status_code == 200
    # Acting on it is as if it were not there, by id or by reference.
    assert centre.act(water, "accept", "G07").status_code == 404
    reference = centre.row(water).reference
    assert centre.act(reference, "urge", "GS1", reason="快点").status_code == 404
    # Water's own clerk and viewer do see it.
    assert centre.get(water, "W07").status_code == 200
    assert get(centre, f"/complaints/{water}/history", "WV1").status_code == 200

    # No queue of gas's shows it.
    assert ids(get(centre, "/queues/mine", "G07")) == {gas}
    assert ids(get(centre, "/queues/escalated", "GS1")) == {gas}
    assert get(centre, "/departments/water-repair/queue", "GS1").status_code == 404
    assert get(centre, "/departments/water-repair/workload", "GS1").status_code == 404
    asked_for_water = get(centre, "/queues/escalated", "GS1", tenant="water")
    assert asked_for_water.status_code == 403
    # The centre's supervisor sees both clients', and narrows to one when they ask.
    assert ids(get(centre, "/queues/escalated", "SV01")) == {water, gas}
    assert ids(get(centre, "/queues/escalated", "SV01", tenant="gas")) == {gas}
    assert field_named(get(centre, "/queues/escalated", "SV01", tenant="power")) == "tenant"
    queue = get(centre, "/departments/water-repair/queue", "DM01").json()
    assert [(item["id"], item["tenant"]) for item in queue["items"]] == [(water, "water")]

    # Nor does its directory: its departments and people only.
    assert ids(get(centre, "/departments", "GS1")) == {"gas-safety"}
    assert get(centre, "/departments/water-repair", "G07").status_code == 404
    assert ids(get(centre, "/staff", "GS1")) == {"G07", "GV1", "GS1"}
    assert get(centre, "/staff/W07", "GS1").status_code == 404
    assert get(centre, "/staff/DM01", "GS1").status_code == 404
    loads = get(centre, "/queues/departments", "DM01", tenant="water").json()
    assert [(d["department_id"], d["tenant"], d["open"]) for d in loads] == [
        ("water-repair", "water", 1)
    ]
    everyone = ids(get(centre, "/departments", "DM01"))
    assert {"billing", "network", "water-repair", "gas-safety"} <= everyone


# A day well after the week the centre fixture puts DM01 on the shared roster.
DAY = (datetime.now(UTC) + timedelta(days=40)).replace(hour=0, minute=0, second=0, microsecond=0)
MORNING, NOON, EVENING, NIGHT = (DAY + timedelta(hours=h) for h in (8, 12, 16, 24))


def shift(centre: Centre, staff: str, starts: datetime, ends: datetime, **more: Any) -> Any:
    body = {"staff_id": staff, "starts_at": starts.isoformat(), "ends_at": ends.isoformat()}
    return centre.client.post("/roster/shifts", json=body | more, headers=centre.admin)


def assignment(centre: Centre, cid: str) -> dict[str, Any]:
    with centre.env.db.read() as session:
        (entry, *_) = service.history_of(session, cid)
    assert entry.action == "assign"
    return dict(entry.payload)


def hand_overs(centre: Centre, since: int) -> list[Envelope]:
    return [e for e in centre.events()[since:] if e.type == "duty.handed_over"]


def test_a_client_with_its_own_roster_gets_its_own_duty_manager_and_the_other_the_shared_one(
    centre: Centre,
) -> None:
    # The shared roster: 李经理 (DM02) in the day, 王经理 (DM01) in the evening.
    assert shift(centre, "DM02", MORNING, EVENING).status_code == 201
    assert shift(centre, "DM01", EVENING, NIGHT).status_code == 201
    # Water's own manager, in the morning only; their shift overlaps the shared roster's.
    assert field_named(shift(centre, "WDM1", MORNING, NOON)) == "staff_id"
    assert field_named(shift(centre, "DM01", MORNING, NOON, tenant="gas")) == "tenant"
    planned_by_gas = centre.client.post(
        "/roster/shifts",
        json={"staff_id": "WDM1", "starts_at": MORNING.isoformat(), "ends_at": NOON.isoformat()}
        | {"tenant": "water"},
        headers=centre.as_("GS1"),
    )
    assert planned_by_gas.status_code == 403
    own = shift(centre, "WDM1", MORNING, NOON, tenant="water")
    assert own.status_code == 201, own.text
    assert own.json()["tenant"] == "water"

    sla.tick(centre.env.db, centre.outbox, now=MORNING, config=centre.config)
    water = centre.arrive(MORNING + timedelta(hours=1), tenant="water")
    gas = centre.arrive(MORNING + timedelta(hours=1), tenant="gas")
    assert centre.row(water).holder_staff_id == "WDM1"
    assert assignment(centre, water).items() >= {"assigned_via": "shift", "roster": "water"}.items()
    assert centre.row(gas).holder_staff_id == "DM02"
    assert "roster" not in assignment(centre, gas)

    def on_duty(client: str, at: datetime) -> tuple[str, str | None]:
        answer = get(centre, "/roster/on-duty", "A001", tenant=client, at=at.isoformat())
        assert answer.status_code == 200, answer.text
        return answer.json()["staff_id"], answer.json()["roster_tenant"]

    assert on_duty("water", MORNING) == ("WDM1", "water")
    assert on_duty("gas", MORNING) == ("DM02", None)
    # With nobody on water's own roster, the shared roster's manager takes its complaints
    # and the history says why.
    assert on_duty("water", NOON) == ("DM02", None)
    events = len(centre.events())
    sla.tick(centre.env.db, centre.outbox, now=NOON, config=centre.config)
    (to_shared,) = hand_overs(centre, events)
    assert (to_shared.tenant, to_shared.payload["roster_tenant"]) == ("water", "water")
    assert [c["complaint_id"] for c in to_shared.payload["complaints"]] == [water]
    later = centre.arrive(NOON + timedelta(hours=1), tenant="water")
    assert centre.row(later).holder_staff_id == "DM02"
    assert "own roster of water" in assignment(centre, later)["roster_fallback"]

    # At the shared roster's shift change each roster hands over its own complaints.
    events = len(centre.events())
    sla.tick(centre.env.db, centre.outbox, now=EVENING, config=centre.config)
    handed = {e.payload["roster_tenant"]: e for e in hand_overs(centre, events)}
    assert set(handed) == {None, "water"}
    assert handed[None].tenant == "default"
    assert [c["complaint_id"] for c in handed[None].payload["complaints"]] == [gas]
    assert handed["water"].tenant == "water"
    assert {c["complaint_id"] for c in handed["water"].payload["complaints"]} == {water, later}
    assert {centre.row(c).holder_staff_id for c in (water, gas, later)} == {"DM01"}
    # Gas's supervisor sees the rosters that serve gas: the shared one.
    gas_rosters = get(centre, "/roster/shifts", "GS1", **{"from": DAY.isoformat()}).json()
    assert {(s["staff_id"], s["tenant"]) for s in gas_rosters} == {("DM02", None), ("DM01", None)}


def test_each_client_is_held_to_its_own_time_to_acknowledge(centre: Centre) -> None:
    now = datetime.now(UTC)
    water = centre.arrive(now, tenant="water")
    urgent_water = centre.arrive(now, tenant="water", severity="urgent")
    gas = centre.arrive(now, tenant="gas")

    def minutes_allowed(cid: str) -> float:
        row = centre.row(cid)
        assert row.stage == "acknowledgement"
        return float((row.due_at - now).total_seconds() / 60)

    assert minutes_allowed(water) == 10  # water's own
    assert minutes_allowed(gas) == 30  # the centre's
    assert minutes_allowed(urgent_water) == 5  # water named no time for urgent ones
    # Its escalations follow its own time too: half of it between steps.
    assert centre.row(water).breach_interval_seconds == 5 * 60
    assert centre.row(gas).breach_interval_seconds == 15 * 60


def intake_event(name: str, payload: Any, cid: str, tenant: str) -> Envelope:
    return registry.new(
        name,
        payload,
        source="intake",
        tenant=tenant,
        actor=EventActor(id="A001", role="agent"),
        complaint_id=cid,
    )


def caller_urges(cid: str, reference: str, tenant: str) -> Envelope:
    urge = UrgeRequested(
        complaint_id=cid, reference=reference, text="还没人来", requested_by="A001"
    )
    return intake_event(URGE_REQUESTED.name, urge, cid, tenant)


@pytest.mark.kafka
def test_an_intake_event_naming_another_client_is_dead_lettered_and_changes_nothing(
    centre: Centre, kafka_bootstrap: str, platform_topics: Callable[..., Topics]
) -> None:
    cid = centre.receive(tenant="water")
    reference = centre.row(cid).reference
    photo = AttachmentAdded(
        complaint_id=cid,
        reference=reference,
        attachment_id=str(uuid.uuid4()),
        name="meter.jpg",
        content_type="image/jpeg",
        size=2048,
        sha256="0" * 64,
        source="agent",
        added_by="A001",
    )
    verdict = FeedbackReceived(
        complaint_id=cid, reference=reference, result="satisfied", recorded_by="A001"
    )
    forged = [
        caller_urges(cid, reference, "gas"),
        intake_event(ATTACHMENT_ADDED.name, photo, cid, "gas"),
        intake_event(FEEDBACK_RECEIVED.name, verdict, cid, "gas"),
        received_event(complaint_id=cid, reference=reference, tenant="gas"),
    ]
    topics = platform_topics()
    producer = create_producer(centre.env.settings, "intake-stand-in")
    try:
        topics.publish(producer, [*forged, caller_urges(cid, reference, "water")])
        consumer = EventConsumer(
            name=f"escalation-{uuid.uuid4().hex[:6]}",
            topics=[topics[INTAKE_EVENTS]],
            stand_for=topics.stand_for,
            db=centre.env.db,
            inbox=inbox,
            handlers=handlers(centre.env.db, centre.env.settings),
            settings=centre.env.settings,
            producer=producer,
        )
        consume_until(consumer, handled=1, timeout=60, what="water's own urge handled")
    finally:
        producer.close(timeout=10)
    assert (consumer.stats.refused, consumer.stats.dead_lettered) == (4, 4)
    dead = read_topic(kafka_bootstrap, dlq(topics[INTAKE_EVENTS]), expect=4)
    assert {dict(record.headers)["dlq.error_class"] for record in dead} == {b"tenant"}
    assert all(b"names client 'gas'" in dict(r.headers)["dlq.reason"] for r in dead)

    # Only water's own caller's urge took effect: no gas event reached the complaint.
    row = centre.row(cid)
    assert (row.tenant, row.urge_count, row.history_seq) == ("water", 1, 2)
    assert [e["action"] for e in centre.history(cid)] == ["assign", "urge"]
    with centre.env.db.read() as session:
        handled = {r.event_id for r in session.execute(select(inbox.c.event_id))}
    assert not {str(e.event_id) for e in forged} & {str(h) for h in handled}


def answers_within(centre: Centre, token: dict[str, str], status: int) -> None:
    """A change of grants reaches the token cache by PostgreSQL NOTIFY, a moment after
    its commit."""
    started = time.monotonic()
    while (answer := centre.client.get("/queues/mine", headers=token)).status_code != status:
        assert time.monotonic() - started < 3, f"still {answer.status_code}"
        time.sleep(0.01)


def grants(centre: Centre) -> dict[str, tuple[str, str | None]]:
    with centre.env.auth_db.read() as session:
        return {
            g.staff_id: (g.role, g.tenant) for g in session.execute(select(StaffGrant)).scalars()
        }


def test_the_token_grants_carry_each_persons_client(centre: Centre) -> None:
    held = grants(centre)
    assert held["W07"] == ("department", "water")  # their department's client
    assert held["G07"] == ("department", "gas")
    assert held["B07"] == ("department", "default")
    assert held["WV1"] == ("viewer", "water")
    assert held["WDM1"] == ("duty_manager", "water")
    assert held["DM01"] == ("duty_manager", None)  # the centre's own: every client

    hire = {"name": "新人", "phone": "13900139300"}
    # A viewer belongs to one client: the default one when none is named.
    viewer = centre.client.post(
        "/staff", json=hire | {"id": "V9", "role": "viewer"}, headers=centre.admin
    )
    assert viewer.status_code == 201 and viewer.json()["tenant"] == "default"
    # A clerk's client is always their department's.
    clerk = hire | {"id": "W09", "role": "department", "department_id": "water-repair"}
    refused = centre.client.post("/staff", json=clerk | {"tenant": "gas"}, headers=centre.admin)
    assert field_named(refused) == "tenant"
    unknown = centre.client.post(
        "/departments", json=GAS_SAFETY | {"id": "power", "tenant": "power"}, headers=centre.admin
    )
    assert field_named(unknown) == "tenant"
    assert "'power' is not a client" in unknown.json()["message"]
    assert "W09" not in grants(centre)
    # A department with people keeps its client: they and its complaints are that client's.
    moved_department = {k: v for k, v in WATER_REPAIRS.items() if k != "id"} | {"tenant": "gas"}
    refused = centre.client.put(
        "/departments/water-repair", json=moved_department, headers=centre.admin
    )
    assert field_named(refused) == "tenant"

    # Water's duty manager moves to gas: their grant says so, and their tokens end.
    token = centre.env.token("duty_manager", "WDM1")
    assert centre.client.get("/queues/mine", headers=token).status_code == 200
    person = {"name": "水务值班", "phone": "13900139109", "role": "duty_manager", "tenant": "gas"}
    moved = centre.client.put("/staff/WDM1", json=person, headers=centre.admin)
    assert moved.status_code == 200 and moved.json()["tenant"] == "gas"
    assert grants(centre)["WDM1"] == ("duty_manager", "gas")
    answers_within(centre, token, 401)

    # At each start the directory puts right a grant that names another client.
    with centre.env.auth_db.transaction() as session:
        put_grant(session, Grant("W07", "department", "water-repair", True, "gas"))
    with TestClient(create_app(centre.env.settings, config=centre.config)):
        pass
    assert grants(centre)["W07"] == ("department", "water")


def test_a_duplicate_merges_only_into_a_complaint_of_its_own_client(centre: Centre) -> None:
    gas_master = centre.receive(tenant="gas")
    water_master = centre.receive(tenant="water")
    duplicate = centre.receive(tenant="water")

    across = centre.act(duplicate, "merge", "DM01", master=centre.row(gas_master).reference)
    assert field_named(across) == "master"
    assert "belongs to another client" in across.json()["message"]
    assert centre.row(duplicate).state == "with_duty_manager"
    within = centre.act(duplicate, "merge", "DM01", master=centre.row(water_master).reference)
    assert within.status_code == 200, within.text
    # Nor may a centre supervisor give it to a duty manager who works for another client.
    reassigned = centre.act(gas_master, "reassign", "SV01", staff_id="WDM1")
    assert field_named(reassigned) == "staff_id"


def test_a_clients_own_administrator_keeps_that_clients_directory_and_roster_only(
    centre: Centre,
) -> None:
    admin = centre.as_("WA1")
    # What they add is their client's without saying so; another client's they may not add.
    meters = {"id": "water-meters", "name": "计量部 Meters", "contact_phones": ["13700137102"]}
    added = centre.client.post("/departments", json=meters, headers=admin)
    assert added.status_code == 201 and added.json()["tenant"] == "water"
    for_gas = meters | {"id": "gas-meters", "tenant": "gas"}
    assert centre.client.post("/departments", json=for_gas, headers=admin).status_code == 403
    manager = {"id": "WDM2", "name": "水务二值", "phone": "13900139111", "role": "duty_manager"}
    hired = centre.client.post("/staff", json=manager, headers=admin)
    assert hired.status_code == 201 and hired.json()["tenant"] == "water"
    assert grants(centre)["WDM2"] == ("duty_manager", "water")
    # The centre's people and other clients' are not theirs to see or change.
    assert ids(get(centre, "/staff", "WA1")) == {"W07", "WV1", "WDM1", "WA1", "WDM2"}
    person = {"name": "王经理", "phone": "13900139001", "role": "duty_manager", "active": False}
    assert centre.client.put("/staff/DM01", json=person, headers=admin).status_code == 404
    gas_desk = {k: v for k, v in GAS_SAFETY.items() if k not in ("id", "tenant")}
    refused = centre.client.put("/departments/gas-safety", json=gas_desk, headers=admin)
    assert refused.status_code == 404
    # They plan water's own roster, not the shared one.
    planned = centre.client.post(
        "/roster/shifts",
        json={"staff_id": "WDM2", "starts_at": MORNING.isoformat(), "ends_at": NOON.isoformat()},
        headers=admin,
    )
    assert planned.status_code == 201 and planned.json()["tenant"] == "water"
    shared = shift(centre, "DM02", MORNING, NOON)
    assert shared.status_code == 201
    removed = centre.client.delete(f"/roster/shifts/{shared.json()['id']}", headers=admin)
    assert removed.status_code == 404
    mine = centre.client.delete(f"/roster/shifts/{planned.json()['id']}", headers=admin)
    assert mine.status_code == 204
