"""SLA timers with a controllable clock: every stage of every severity breaches on time,
the holder is urged, then each level up is told once; an extension moves the deadline;
a scheduler that was down catches up without repeating; two schedulers act once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.escalation import sla
from services.escalation.complaints import flows, service
from services.escalation.config import DEFAULT_SLA_MINUTES
from services.escalation.lifecycle import Actor, Command
from shared.vocabulary import Action
from tests.escalation.conftest import PHONES, Centre

pytestmark = pytest.mark.postgres

# A morning a month ahead, clear of the week the centre fixture puts DM01 on duty.
T0 = (datetime.now(UTC) + timedelta(days=30)).replace(hour=9, minute=0, second=0, microsecond=0)
SEVERITIES = ("urgent", "high", "normal", "low")
DM = Actor("DM01", "duty_manager")
CLERK = Actor("B07", "department", "billing")


@pytest.fixture
def make_t0(make_centre: Any) -> Callable[..., Centre]:
    """A centre (configured by keywords) with DM01 on duty around T0, DM02 as backup."""

    def make(**config: Any) -> Centre:
        centre: Centre = make_centre(**config)
        shift = {
            "staff_id": "DM01",
            "backup_staff_id": "DM02",
            "starts_at": (T0 - timedelta(days=1)).isoformat(),
            "ends_at": (T0 + timedelta(days=6)).isoformat(),
        }
        answer = centre.client.post("/roster/shifts", json=shift, headers=centre.admin)
        assert answer.status_code == 201, answer.text
        return centre

    return make


@pytest.fixture
def centre(make_t0: Callable[..., Centre]) -> Centre:
    return make_t0()


def do(centre: Centre, cid: str, action: Action, actor: Actor, at: datetime, **data: Any) -> None:
    flows.apply(
        centre.env.db,
        centre.outbox,
        cid,
        Command(action, actor, data),
        now=at,
        config=centre.config,
    )


def tick(centre: Centre, at: datetime) -> sla.SweepResult:
    return sla.tick(centre.env.db, centre.outbox, now=at, config=centre.config)


def timer_entries(centre: Centre, cid: str) -> list[tuple[str, int]]:
    """The urges and escalations the timer wrote: (action, level)."""
    with centre.env.db.read() as session:
        entries = service.history_of(session, cid)
    return [
        (e.action, e.payload["escalation_level"])
        for e in entries
        if e.actor_id == "system" and e.action in ("urge", "escalate")
    ]


def phones_told(centre: Centre, cid: str, event_type: str) -> list[set[str]]:
    return [
        {r["phone"] for r in e.payload["recipients"]}
        for e in centre.events(cid)
        if e.type == event_type
    ]


def into_stage(centre: Centre, stage: str, severity: str) -> str:
    """A complaint whose `stage` clock starts at T0."""
    if stage == "acknowledgement":
        return centre.arrive(T0, severity=severity)
    cid = centre.arrive(T0 - timedelta(minutes=1), severity=severity)
    do(centre, cid, Action.DISPATCH, DM, T0, department_id="billing", instructions="核对账单")
    if stage in ("resolution", "follow_up"):
        do(centre, cid, Action.ACCEPT, CLERK, T0 - timedelta(seconds=0))
    if stage == "follow_up":
        do(centre, cid, Action.REPLY, CLERK, T0, resolution="已退款", root_cause="system")
    return cid


@pytest.mark.parametrize("severity", SEVERITIES)
@pytest.mark.parametrize("stage", ["acknowledgement", "acceptance", "resolution", "follow_up"])
def test_each_stage_of_each_severity_breaches_on_time_and_escalates_once_per_level(
    make_t0: Callable[..., Centre], stage: str, severity: str
) -> None:
    centre = make_t0(escalation_step_percent=50)
    cid = into_stage(centre, stage, severity)
    sla_time = timedelta(minutes=DEFAULT_SLA_MINUTES[stage][severity])
    step = sla_time / 2
    due = T0 + sla_time
    row = centre.row(cid)
    assert (row.stage, row.due_at) == (stage, due)

    assert tick(centre, due - timedelta(seconds=1)).complaints == 0
    assert timer_entries(centre, cid) == []

    first = tick(centre, due)
    assert (first.urged, first.escalated) == (1, 0)
    assert tick(centre, due + step / 2).complaints == 0  # nothing twice
    assert timer_entries(centre, cid) == [("urge", 1)]

    assert tick(centre, due + step).escalated == 1
    assert tick(centre, due + 2 * step).escalated == 1
    assert tick(centre, due + 50 * step).complaints == 0  # the top level was reached
    assert timer_entries(centre, cid) == [("urge", 1), ("escalate", 2), ("escalate", 3)]
    assert centre.row(cid).escalation_level == 3
    assert centre.get(cid).json()["escalation_level"] == 3

    # Who heard of it: the holder at level 1, the level above at 2, the supervisors at 3
    # (no centre managers are configured).
    at_department = stage in ("acceptance", "resolution")
    holder = {PHONES["B07"]} if stage == "resolution" else None
    urged = phones_told(centre, cid, "complaint.urged")[-1]
    if stage == "acceptance":
        assert urged == {"+8613700137001"}  # billing's contact phone: nobody took it yet
    elif holder:
        assert urged == holder
    else:
        assert urged == {PHONES["DM01"]}
    level_2, level_3 = phones_told(centre, cid, "complaint.escalated")
    assert level_2 == ({PHONES["BH1"]} if at_department else {PHONES["SV01"]})
    assert level_3 == {PHONES["SV01"]}
    assert centre.verify(cid)["valid"] is True


def test_the_top_level_reaches_the_configured_centre_managers(
    make_t0: Callable[..., Centre],
) -> None:
    centre = make_t0(centre_managers=["Q01"])
    cid = centre.arrive(T0, severity="urgent")
    tick(centre, T0 + timedelta(hours=10))
    assert timer_entries(centre, cid) == [("urge", 1), ("escalate", 2), ("escalate", 3)]
    assert phones_told(centre, cid, "complaint.escalated")[-1] == {PHONES["Q01"]}


def test_a_new_stage_starts_its_own_ladder_at_level_zero(centre: Centre) -> None:
    cid = centre.arrive(T0, severity="normal")  # acknowledgement due 09:30
    tick(centre, T0 + timedelta(minutes=46))  # urged at 09:30, level 2 at 09:45
    assert centre.row(cid).escalation_level == 2
    at = T0 + timedelta(minutes=50)
    do(centre, cid, Action.DISPATCH, DM, at, department_id="billing", instructions="核对")
    row = centre.row(cid)
    assert (row.stage, row.escalation_level, row.breach_step) == ("acceptance", 0, 0)
    assert row.next_breach_at == at + timedelta(hours=4)
    tick(centre, at + timedelta(hours=4))
    assert timer_entries(centre, cid)[-1] == ("urge", 1)


def test_an_approved_extension_moves_the_deadline(centre: Centre) -> None:
    cid = into_stage(centre, "resolution", "high")  # resolution due T0 + 24 h
    due = T0 + timedelta(hours=24)
    later = due + timedelta(days=2)
    asked = T0 + timedelta(hours=5)
    do(
        centre,
        cid,
        Action.REQUEST_EXTENSION,
        CLERK,
        asked,
        until=later.isoformat(),
        reason="需供应商配合",
    )
    # Asked but not yet decided: the old deadline still holds.
    assert centre.row(cid).due_at == due
    do(centre, cid, Action.DECIDE_EXTENSION, DM, asked + timedelta(hours=1), decision="approve")
    row = centre.row(cid)
    assert (row.due_at, row.next_breach_at) == (later, later)
    assert tick(centre, due + timedelta(hours=1)).complaints == 0
    assert tick(centre, later).urged == 1
    assert timer_entries(centre, cid) == [("urge", 1)]


def test_a_scheduler_down_between_the_deadline_and_the_scan_catches_up_once(
    centre: Centre,
) -> None:
    cid = centre.arrive(T0, severity="urgent")  # due 09:05, level 2 at 09:07:30, 3 at 09:10
    # The worker was restarted at 08:59 and only scans again at 11:00: nothing is lost.
    result = tick(centre, T0 + timedelta(hours=2))
    assert (result.urged, result.escalated) == (1, 2)
    # Restarted once more: nothing is repeated.
    assert tick(centre, T0 + timedelta(hours=3)).complaints == 0
    assert timer_entries(centre, cid) == [("urge", 1), ("escalate", 2), ("escalate", 3)]
    assert centre.verify(cid)["valid"] is True


def test_two_schedulers_racing_produce_one_escalation_per_level(
    make_t0: Callable[..., Centre],
) -> None:
    centre = make_t0(sweep_batch=7)
    ids = [centre.arrive(T0, severity="high") for _ in range(30)]  # due 09:15
    at = T0 + timedelta(minutes=23)  # past the deadline (09:15) and level 2 (09:22:30)
    results: list[sla.SweepResult] = []
    start = threading.Barrier(2)

    def scheduler() -> None:
        start.wait()
        results.append(tick(centre, at))

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2, results
    assert sum(r.urged for r in results) == 30, results
    assert sum(r.escalated for r in results) == 30
    for cid in ids:
        assert timer_entries(centre, cid) == [("urge", 1), ("escalate", 2)]
        assert centre.verify(cid)["valid"] is True
