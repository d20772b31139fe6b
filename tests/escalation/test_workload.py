"""Workload within a department: billing's clerks take complaints from their queue (领取),
the head gives them out, or the department's rota does as they arrive (in turn, or to
whoever has the fewest open); each clerk's load is there to read. Any clerk of the
department may still act on any of its complaints: a colleague covers.

Billing: clerks B07 and B08, its head BH1; some stories hire B09 and B10."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.escalation.complaints import flows
from services.escalation.lifecycle import Actor, Command
from shared.consumer import ownership_problem
from shared.contracts import LifecycleChanged
from shared.events import Actor as EventActor
from shared.events import registry
from shared.topics import COMPLAINTS_LIFECYCLE, INTAKE_EVENTS
from shared.vocabulary import Action, EventName
from tests.escalation.conftest import DEPARTMENTS, PHONES, Centre

pytestmark = pytest.mark.postgres

ORDER = {"department_id": "billing", "instructions": "核对 3 月账单"}
NEWCOMERS = {"B09": ("郑会计", "13900139010"), "B10": ("冯会计", "13900139011")}


def hire(centre: Centre, staff_id: str, *, active: bool = True) -> None:
    """A new clerk at billing (or one who leaves: `active` False)."""
    name, phone = NEWCOMERS.get(staff_id) or ("?", "")
    body = {"name": name, "phone": phone, "role": "department", "department_id": "billing"}
    answer = centre.client.post("/staff", json={"id": staff_id, **body}, headers=centre.admin)
    assert answer.status_code == 201, answer.text
    if active:
        centre.tokens[staff_id] = centre.env.token("department", staff_id, "billing")
    else:
        leave(centre, staff_id)


def leave(centre: Centre, staff_id: str) -> Any:
    """The administrator deactivates a billing clerk."""
    known = centre.client.get(f"/staff/{staff_id}", headers=centre.admin).json()
    body = {k: known[k] for k in ("name", "phone", "role", "department_id")} | {"active": False}
    answer = centre.client.put(f"/staff/{staff_id}", json=body, headers=centre.admin)
    assert answer.status_code == 200, answer.text
    return answer


def billing_hands_out(centre: Centre, mode: str) -> None:
    """The administrator sets how billing hands out its complaints."""
    billing = {k: v for k, v in DEPARTMENTS[0].items() if k != "id"}
    body = billing | {"head_staff_id": "BH1", "assignment": mode}
    answer = centre.client.put("/departments/billing", json=body, headers=centre.admin)
    assert answer.status_code == 200, answer.text
    assert answer.json()["assignment"] == mode


def dispatched(centre: Centre) -> tuple[str, dict[str, Any]]:
    """A new complaint the duty manager dispatches to billing: its id, and the answer."""
    cid = centre.receive()
    answer = centre.act(cid, "dispatch", "DM01", **ORDER)
    assert answer.status_code == 200, answer.text
    return cid, answer.json()


def take(centre: Centre, cid: str, who: str) -> Any:
    return centre.client.post(f"/complaints/{cid}/take", headers=centre.as_(who))


def workload(centre: Centre, who: str = "BH1", **params: Any) -> dict[str, Any]:
    answer = centre.client.get(
        "/departments/billing/workload", params=params, headers=centre.as_(who)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def clerk_events(centre: Centre, cid: str) -> list[Any]:
    kinds = (EventName.CLERK_ASSIGNED, EventName.CLERK_RELEASED)
    return [e for e in centre.events(cid) if e.type in kinds]


# --- taking from the queue ------------------------------------------------------------


def test_a_clerk_takes_a_complaint_from_the_queue_and_it_is_theirs(centre: Centre) -> None:
    cid, _ = dispatched(centre)
    assert centre.get(cid, "B07").json()["holder_staff_id"] is None
    answer = take(centre, cid, "B07")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["action"], body["event_type"]) == ("take", "complaint.clerk_assigned")
    assert (body["from_state"], body["to_state"]) == ("dispatched", "dispatched")
    assert body["complaint"]["holder_staff_id"] == "B07"
    # On the history, and on the lifecycle topic for the others; nobody is texted about
    # what they did themselves.
    entry = centre.history(cid)[-1]
    assert (entry["action"], entry["actor_id"], entry["payload"]["clerk"]) == ("take", "B07", "B07")
    (event,) = clerk_events(centre, cid)
    assert event.payload["holder_staff_id"] == "B07"
    assert event.payload["details"]["clerk"] == "B07"
    assert event.payload["recipients"] == []
    # Their own queue shows it; the colleague's shows it no longer (only what is untaken).
    mine = centre.client.get("/queues/mine", headers=centre.as_("B07")).json()["items"]
    theirs = centre.client.get("/queues/mine", headers=centre.as_("B08")).json()["items"]
    assert cid in [i["id"] for i in mine] and cid not in [i["id"] for i in theirs]
    assert centre.verify(cid)["valid"] is True


def at_once(centre: Centre, cid: str, clerks: tuple[str, ...]) -> dict[str, Any]:
    """Each clerk presses 领取 on the complaint at the same moment, each in a request of
    their own; their answers."""
    start = threading.Barrier(len(clerks))
    answers: dict[str, Any] = {}

    def press(who: str) -> None:
        start.wait()
        answers[who] = take(centre, cid, who)

    racers = [threading.Thread(target=press, args=(who,)) for who in clerks]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(timeout=30)
    return answers


def test_two_clerks_taking_the_same_complaint_at_once_one_wins_the_other_hears_who(
    centre: Centre,
) -> None:
    """B07 and B08 press 领取 on the same complaints at the same moment, five times over:
    each time exactly one gets it; the other hears 409 naming the clerk who holds it."""
    for who in ("B07", "B08"):
        centre.as_(who)  # tokens issued before the race, not during it
    for _ in range(5):
        cid, _ = dispatched(centre)
        answers = at_once(centre, cid, ("B07", "B08"))
        codes = sorted(a.status_code for a in answers.values())
        assert codes == [200, 409], {w: a.text for w, a in answers.items()}
        winner = next(w for w, a in answers.items() if a.status_code == 200)
        loser = next(w for w, a in answers.items() if a.status_code == 409)
        refused = answers[loser].json()
        assert refused["holder_staff_id"] == winner
        assert f"clerk {winner} holds it" in refused["message"]
        assert centre.get(cid).json()["holder_staff_id"] == winner
        # One taking on the history, not two.
        assert [e["actor_id"] for e in centre.history(cid) if e["action"] == "take"] == [winner]


def test_a_clerk_of_another_department_cannot_take(centre: Centre) -> None:
    cid, _ = dispatched(centre)
    answer = take(centre, cid, "N03")
    assert answer.status_code == 404, answer.text  # not even whether it exists
    assert centre.get(cid).json()["holder_staff_id"] is None
    # Nor a complaint still at the desk: there is no department queue to take it from.
    at_desk = centre.receive()
    refused = take(centre, at_desk, "B07")
    assert refused.status_code == 404, refused.text
    assert clerk_events(centre, cid) == []


def test_a_complaint_someone_holds_is_not_taken_again_and_their_own_is_no_news(
    centre: Centre,
) -> None:
    cid, _ = dispatched(centre)
    assert take(centre, cid, "B07").status_code == 200
    again = take(centre, cid, "B07")
    assert again.status_code == 409 and "already hold it" in again.json()["message"]
    stolen = take(centre, cid, "B08")
    assert stolen.status_code == 409 and stolen.json()["holder_staff_id"] == "B07"


# --- the head, the desk, and giving back ------------------------------------------------


def test_the_head_gives_a_complaint_to_a_clerk_who_is_texted_on_their_own_phone(
    centre: Centre,
) -> None:
    cid, _ = dispatched(centre)
    answer = centre.client.post(
        f"/complaints/{cid}/assign-clerk", json={"clerk": "B08"}, headers=centre.as_("BH1")
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["complaint"]["holder_staff_id"] == "B08"
    (event,) = clerk_events(centre, cid)
    assert event.type == "complaint.clerk_assigned"
    assert event.payload["details"]["clerk"] == "B08"
    assert [(r["staff_id"], r["phone"], r["audience"]) for r in event.payload["recipients"]] == [
        ("B08", PHONES["B08"], "department")
    ]
    # The head may move it on; the duty manager answering for it and a supervisor too.
    moved = centre.act(cid, "assign-clerk", "DM01", clerk="B07", reason="B08 休假")
    assert moved.status_code == 200, moved.text
    assert centre.history(cid)[-1]["payload"]["previous_clerk"] == "B08"
    assert centre.act(cid, "assign-clerk", "SV01", clerk="B08").status_code == 200


def test_who_may_not_give_a_complaint_to_a_clerk_and_to_whom_it_cannot_go(
    centre: Centre,
) -> None:
    cid, _ = dispatched(centre)
    # A clerk who is not the head: 403, as is a duty manager who does not answer for it.
    for who in ("B07", "DM02"):
        answer = centre.act(cid, "assign-clerk", who, clerk="B08")
        assert answer.status_code == 403, answer.text
    assert "only its head" in centre.act(cid, "assign-clerk", "B07", clerk="B08").json()["message"]
    # Not to someone outside billing, nor to a clerk who has left.
    hire(centre, "B10", active=False)
    for clerk in ("N03", "DM01", "B10", "nobody"):
        answer = centre.act(cid, "assign-clerk", "BH1", clerk=clerk)
        assert answer.status_code == 422, answer.text
        assert answer.json()["fields"][0]["field"] == "clerk"
    assert centre.get(cid).json()["holder_staff_id"] is None
    assert clerk_events(centre, cid) == []


def test_a_clerk_gives_one_back_to_the_queue_and_a_colleague_takes_it(centre: Centre) -> None:
    cid, _ = dispatched(centre)
    assert take(centre, cid, "B07").status_code == 200
    assert centre.act(cid, "accept", "B07").status_code == 200
    # A colleague cannot give back what B07 owns.
    refused = centre.client.post(f"/complaints/{cid}/release", headers=centre.as_("B08"))
    assert refused.status_code == 403 and refused.json()["holder_staff_id"] == "B07"
    answer = centre.client.post(
        f"/complaints/{cid}/release", json={"reason": "明天起休假"}, headers=centre.as_("B07")
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["event_type"] == "complaint.clerk_released"
    assert answer.json()["complaint"]["holder_staff_id"] is None
    assert answer.json()["complaint"]["state"] == "in_progress"  # still being handled there
    released = clerk_events(centre, cid)[-1]
    assert released.payload["details"]["clerk"] == "B07" and released.payload["recipients"] == []
    assert take(centre, cid, "B08").status_code == 200
    nothing = centre.client.post(f"/complaints/{cid}/release", headers=centre.as_("DM01"))
    assert nothing.status_code == 200  # the desk may give it back too
    again = centre.client.post(f"/complaints/{cid}/release", headers=centre.as_("DM01"))
    assert again.status_code == 409 and "waits in the department's queue" in again.json()["message"]


def test_any_clerk_of_the_department_may_act_on_a_colleagues_complaint_which_stays_theirs(
    centre: Centre,
) -> None:
    """B07 took it; B08 covers while B07 is away: accepts and asks for more time. It
    stays B07's; accepting an unowned one makes it the acceptor's."""
    cid, _ = dispatched(centre)
    assert take(centre, cid, "B07").status_code == 200
    accepted = centre.act(cid, "accept", "B08")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["complaint"]["holder_staff_id"] == "B07"
    until = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    asked = centre.act(cid, "request-extension", "B08", until=until, reason="需财务复核")
    assert asked.status_code == 200, asked.text
    unowned, _ = dispatched(centre)
    assert centre.act(unowned, "accept", "B08").json()["complaint"]["holder_staff_id"] == "B08"


# --- when it leaves the department -------------------------------------------------------


def test_ownership_ends_when_the_department_returns_the_complaint(centre: Centre) -> None:
    cid, _ = dispatched(centre)
    assert take(centre, cid, "B07").status_code == 200
    assert workload(centre)["clerks"][0]["open"] == 1  # B07, first by id
    returned = centre.act(cid, "return", "B07", reason_code="not_ours", reason="应由网络部处理")
    assert returned.status_code == 200, returned.text
    after = returned.json()["complaint"]
    assert (after["holder_role"], after["holder_staff_id"]) == ("duty_manager", "DM01")
    assert [c["open"] for c in workload(centre)["clerks"] if c["staff_id"] == "B07"] == [0]
    # Dispatched back to billing, it waits in the queue: nobody's until someone takes it.
    again = centre.act(cid, "dispatch", "DM01", **ORDER)
    assert again.json()["complaint"]["holder_staff_id"] is None
    # Answered, it is back with the desk: the clerk owns it no longer either.
    assert take(centre, cid, "B08").status_code == 200
    assert centre.act(cid, "accept", "B08").status_code == 200
    reply = centre.act(cid, "reply", "B08", resolution="已退还多扣的 30 元", root_cause="system")
    assert reply.json()["complaint"]["holder_role"] == "duty_manager"
    assert all(c["open"] == 0 for c in workload(centre)["clerks"])


# --- the rota ---------------------------------------------------------------------------


def test_round_robin_gives_six_complaints_two_to_each_active_clerk_skipping_one_who_left(
    centre: Centre,
) -> None:
    """Billing hands out by turns. B08 has left; B09 and B10 joined. Six complaints go to
    B07, B09, B10, B07, B09, B10 — never to B08, nor to the head BH1 — each texted."""
    hire(centre, "B09")
    hire(centre, "B10")
    leave(centre, "B08")
    billing_hands_out(centre, "round_robin")
    given = []
    for _ in range(6):
        cid, answer = dispatched(centre)
        holder = answer["complaint"]["holder_staff_id"]
        (event,) = clerk_events(centre, cid)
        assert event.payload["details"]["clerk"] == holder
        assert event.payload["details"]["via"] == "round_robin"
        assert [r["staff_id"] for r in event.payload["recipients"]] == [holder]
        # Dispatched and given in one transaction: two entries, chained.
        assert [e["action"] for e in centre.history(cid)][-2:] == ["dispatch", "assign-clerk"]
        assert centre.verify(cid)["valid"] is True
        given.append(holder)
    assert given == ["B07", "B09", "B10", "B07", "B09", "B10"]
    assert Counter(given) == {"B07": 2, "B09": 2, "B10": 2}


def test_least_loaded_gives_the_next_complaint_to_the_clerk_with_the_fewest_open(
    centre: Centre,
) -> None:
    """B09 took one first, then B07 two; B08 holds none: the next goes to B08. Then B08
    and B09 hold one each: it goes to B09, who has waited longer for a new one (though
    B08 comes first by id). Then B08 again, the only one with a single complaint."""
    hire(centre, "B09")
    for who in ("B09", "B07", "B07"):
        cid, _ = dispatched(centre)
        assert take(centre, cid, who).status_code == 200
    billing_hands_out(centre, "least_loaded")
    given = [dispatched(centre)[1]["complaint"]["holder_staff_id"] for _ in range(3)]
    assert given == ["B08", "B09", "B08"]
    assert {c["staff_id"]: c["open"] for c in workload(centre)["clerks"]} == {
        "B07": 2,
        "B08": 2,
        "B09": 2,
        "BH1": 0,
    }


def test_a_clerk_who_leaves_gives_their_complaints_back_to_the_queue(centre: Centre) -> None:
    mine = [dispatched(centre)[0] for _ in range(2)]
    for cid in mine:
        assert take(centre, cid, "B07").status_code == 200
    colleagues, _ = dispatched(centre)
    assert take(centre, colleagues, "B08").status_code == 200
    leave(centre, "B07")
    for cid in mine:
        now = centre.get(cid).json()
        assert (now["holder_role"], now["holder_staff_id"]) == ("department", None)
        released = clerk_events(centre, cid)[-1]
        assert released.type == "complaint.clerk_released"
        assert released.payload["details"]["clerk"] == "B07"
        assert "no longer an active clerk" in released.payload["reason"]
    assert centre.get(colleagues).json()["holder_staff_id"] == "B08"
    assert [c["staff_id"] for c in workload(centre)["clerks"]] == ["B08", "BH1"]
    assert workload(centre)["unowned"] == 2


def test_under_a_rota_a_leaving_clerks_complaints_go_on_to_the_next_clerks(
    centre: Centre,
) -> None:
    billing_hands_out(centre, "round_robin")
    given = {cid: answer["complaint"]["holder_staff_id"] for cid, answer in (
        dispatched(centre) for _ in range(2))}  # fmt: skip
    assert sorted(given.values()) == ["B07", "B08"]
    leaving = next(cid for cid, who in given.items() if who == "B07")
    leave(centre, "B07")
    # The only clerk left to take turns (the head does not) gets it.
    assert centre.get(leaving).json()["holder_staff_id"] == "B08"
    entry = centre.history(leaving)[-1]
    assert (entry["action"], entry["payload"]["previous_clerk"]) == ("assign-clerk", "B07")


# --- the figures --------------------------------------------------------------------------


def test_the_workload_shows_what_each_clerk_was_given_counted_by_the_test_itself(
    centre: Centre,
) -> None:
    """The test keeps its own tally of what it gives to whom and which complaint is late,
    then reads billing's workload: the same figures."""
    owner: dict[str, str | None] = {}
    taken_today: Counter[str] = Counter()
    # One dispatched five hours ago: its four-hour acceptance deadline has passed.
    late = centre.receive()
    dm01 = Actor("DM01", "duty_manager")
    with centre.env.db.transaction() as session:
        flows.apply_in(
            session,
            centre.outbox,
            late,
            Command(Action.DISPATCH, dm01, ORDER),
            now=datetime.now(UTC) - timedelta(hours=5),
            config=centre.config,
        )
    owner[late] = None
    for _ in range(5):
        cid, _ = dispatched(centre)
        owner[cid] = None
    ids = [cid for cid in owner if cid != late]
    plan = [("take", ids[0], "B07"), ("take", ids[1], "B07"), ("take", ids[2], "B08")]
    plan += [("assign", ids[3], "B07"), ("take", late, "B08"), ("release", ids[1], "B07")]
    for what, cid, who in plan:
        if what == "take":
            taken = take(centre, cid, who)
            assert taken.status_code == 200, taken.text
            owner[cid] = who
            taken_today[who] += 1
        elif what == "assign":
            assert centre.act(cid, "assign-clerk", "BH1", clerk=who).status_code == 200
            owner[cid] = who
            taken_today[who] += 1
        else:
            gone = centre.client.post(f"/complaints/{cid}/release", headers=centre.as_(who))
            assert gone.status_code == 200, gone.text
            owner[cid] = None
    # Accepted (now on the three-day resolution clock) rather than due within hours.
    assert centre.act(ids[0], "accept", "B07").status_code == 200

    figures = workload(centre, due_within_minutes=300)
    by_clerk = {c["staff_id"]: c for c in figures["clerks"]}
    assert set(by_clerk) == {"B07", "B08", "BH1"}
    for clerk in ("B07", "B08", "BH1"):
        theirs = [cid for cid, who in owner.items() if who == clerk]
        seen = by_clerk[clerk]
        assert seen["open"] == len(theirs), clerk
        assert seen["overdue"] == (1 if late in theirs else 0), clerk
        # Dispatched, not accepted: due within the four hours of acceptance.
        soon = [cid for cid in theirs if cid not in (late, ids[0])]
        assert seen["due_soon"] == len(soon), clerk
        assert seen["taken_today"] == taken_today[clerk], clerk
        assert (seen["last_assigned_at"] is None) == (taken_today[clerk] == 0), clerk
    assert by_clerk["BH1"]["head"] is True and by_clerk["B07"]["head"] is False
    assert figures["unowned"] == sum(1 for who in owner.values() if who is None)
    assert figures["unowned_overdue"] == 0
    assert figures["assignment"] == "queue"


def test_who_reads_a_departments_workload(centre: Centre) -> None:
    for who in ("BH1", "B07", "DM01", "SV01"):
        assert workload(centre, who)["department_id"] == "billing"
    answer = centre.client.get("/departments/billing/workload", headers=centre.as_("N03"))
    assert answer.status_code == 403 and "own department" in answer.json()["message"]
    for who in ("A001", "Q01"):
        answer = centre.client.get("/departments/billing/workload", headers=centre.as_(who))
        assert answer.status_code == 403, answer.text
    missing = centre.client.get("/departments/nowhere/workload", headers=centre.as_("SV01"))
    assert missing.status_code == 404


def test_a_department_saved_without_the_setting_keeps_how_it_hands_out(centre: Centre) -> None:
    billing_hands_out(centre, "least_loaded")
    body = {k: v for k, v in DEPARTMENTS[0].items() if k != "id"} | {"head_staff_id": "BH1"}
    answer = centre.client.put("/departments/billing", json=body, headers=centre.admin)
    assert answer.json()["assignment"] == "least_loaded"
    wrong = centre.client.put(
        "/departments/billing", json=body | {"assignment": "lottery"}, headers=centre.admin
    )
    assert wrong.status_code == 422
    created = centre.client.get("/departments/network", headers=centre.admin).json()
    assert created["assignment"] == "queue"


# --- who may publish it ----------------------------------------------------------------


def test_only_escalation_may_say_a_clerk_was_given_a_complaint() -> None:
    """A consumer believes `complaint.clerk_assigned` only from escalation on the
    lifecycle's topic: from intake, or on intake's topic, it is a forgery."""
    payload = LifecycleChanged.model_validate(
        {
            "complaint_id": "c1",
            "reference": "TS20261205-000001",
            "action": "assign-clerk",
            "from_state": "dispatched",
            "to_state": "dispatched",
            "history_seq": 3,
            "holder_staff_id": "B08",
            "holder_role": "department",
        }
    )
    envelope = registry.new(
        EventName.CLERK_ASSIGNED,
        payload,
        source="escalation",
        tenant="default",
        actor=EventActor(id="BH1", role="department"),
        complaint_id="c1",
    )
    assert registry.get(envelope.type).topic == COMPLAINTS_LIFECYCLE
    assert ownership_problem(envelope, COMPLAINTS_LIFECYCLE) is None
    forged = envelope.model_copy(update={"source": "intake"})
    assert "only escalation writes" in (ownership_problem(forged, COMPLAINTS_LIFECYCLE) or "")
    assert "belongs on complaints.lifecycle" in (ownership_problem(envelope, INTAKE_EVENTS) or "")
