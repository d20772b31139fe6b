"""Queues put what is overdue first: a duty manager's own complaints, and a department's."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.escalation.complaints import flows
from services.escalation.lifecycle import Actor, Command
from shared.clock import utcnow
from shared.vocabulary import Action
from tests.escalation.conftest import Centre

pytestmark = pytest.mark.postgres


def queue(centre: Centre, path: str, who: str) -> dict[str, Any]:
    answer = centre.client.get(path, headers=centre.as_(who))
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_the_duty_managers_queue_shows_overdue_complaints_first_most_overdue_on_top(
    centre: Centre,
) -> None:
    now = utcnow()
    # Acknowledgement is due 60 min after arrival for normal, 10 min for urgent.
    fresh_urgent = centre.arrive(now, severity="urgent")
    late_normal = centre.arrive(now - timedelta(hours=6), severity="normal")  # 5 h late
    late_urgent = centre.arrive(now - timedelta(hours=2), severity="urgent")  # 1 h 50 late
    fresh_low = centre.arrive(now, severity="low")
    mine = queue(centre, "/queues/mine", "DM01")
    assert [item["id"] for item in mine["items"]] == [
        late_normal,
        late_urgent,
        fresh_urgent,
        fresh_low,
    ]
    assert [item["overdue"] for item in mine["items"]] == [True, True, False, False]
    assert mine["overdue"] == 2
    # Another duty manager holds none of them.
    assert queue(centre, "/queues/mine", "DM02")["items"] == []


def test_a_departments_queue_holds_what_was_dispatched_to_it_overdue_first(
    centre: Centre,
) -> None:
    now = utcnow()
    long_ago = now - timedelta(hours=8)
    stale = centre.arrive(long_ago, severity="normal")
    # Dispatched 8 hours ago: the 4-hour acceptance time ran out long since.
    flows.apply(
        centre.env.db,
        centre.outbox,
        stale,
        Command(
            Action.DISPATCH,
            Actor("DM01", "duty_manager"),
            {"department_id": "billing", "instructions": "核对账单"},
        ),
        now=long_ago,
        config=centre.config,
    )
    new = centre.receive(severity="urgent")
    elsewhere = centre.receive(severity="urgent")
    kept = centre.receive(severity="urgent")
    for cid, department in ((new, "billing"), (elsewhere, "network")):
        answer = centre.act(
            cid, "dispatch", "DM01", department_id=department, instructions="请处理"
        )
        assert answer.status_code == 200, answer.text

    billing = queue(centre, "/departments/billing/queue", "B07")
    assert [item["id"] for item in billing["items"]] == [stale, new]
    assert [item["overdue"] for item in billing["items"]] == [True, False]
    assert billing["items"][0]["stage"] == "acceptance"
    # The clerk's own queue is the department's untaken tickets.
    assert [item["id"] for item in queue(centre, "/queues/mine", "B07")["items"]] == [stale, new]
    # The duty manager still holds only what was not dispatched.
    assert [item["id"] for item in queue(centre, "/queues/mine", "DM01")["items"]] == [kept]
    # A supervisor may look at any department's queue; an unknown department is 404.
    assert [i["id"] for i in queue(centre, "/departments/network/queue", "SV01")["items"]] == [
        elsewhere
    ]
    missing = centre.client.get("/departments/legal/queue", headers=centre.as_("SV01"))
    assert missing.status_code == 404


def test_the_duty_managers_queue_shows_what_waits_for_their_decision_even_at_a_department(
    centre: Centre,
) -> None:
    fresh = centre.receive()
    returned = centre.receive()
    extension = centre.receive()
    for cid in (returned, extension):
        answer = centre.act(cid, "dispatch", "DM01", department_id="billing", instructions="请处理")
        assert answer.status_code == 200, answer.text
    centre.act(returned, "return", "B07", reason_code="not_ours", reason="不是账务问题")
    centre.act(extension, "accept", "B07")
    until = (utcnow() + timedelta(days=3)).isoformat()
    asked = centre.act(extension, "request-extension", "B07", until=until, reason="等银行流水")
    assert asked.status_code == 200, asked.text

    mine = {item["id"]: item for item in queue(centre, "/queues/mine", "DM01")["items"]}
    assert set(mine) == {fresh, returned, extension}
    assert mine[fresh]["awaiting"] == "acknowledge"
    assert mine[returned]["awaiting"] == "returned"
    assert (mine[returned]["awaiting_zh"], mine[returned]["awaiting_en"]) == (
        "被退单：重新派单或直接答复",
        "Returned: dispatch it again or answer it",
    )
    # Billing holds this one, but the request for more time is the duty manager's to decide.
    assert mine[extension]["holder_role"] == "department"
    assert (mine[extension]["awaiting"], mine[extension]["pending_extension"]) == (
        "extension",
        True,
    )
    # Another duty manager decides none of them; the clerk sees their own work.
    assert queue(centre, "/queues/mine", "DM02")["items"] == []
    clerk = {item["id"]: item["awaiting"] for item in queue(centre, "/queues/mine", "B07")["items"]}
    assert clerk == {extension: "answer"}

    # Once decided, it leaves the duty manager's queue: billing holds it, nothing waits.
    assert centre.act(extension, "decide-extension", "DM01", decision="approve").status_code == 200
    assert extension not in {i["id"] for i in queue(centre, "/queues/mine", "DM01")["items"]}


def test_an_answered_claim_waits_in_the_queue_until_it_is_settled(centre: Centre) -> None:
    cid = centre.receive(nature="compensation")
    centre.act(cid, "resolve", "DM01", resolution="已补发商品", root_cause="business")
    [item] = queue(centre, "/queues/mine", "DM01")["items"]
    assert item["awaiting"] == "settle_compensation"
    centre.act(cid, "decline-compensation", "DM01", reason="已补发，无需赔偿")
    [item] = queue(centre, "/queues/mine", "DM01")["items"]
    assert item["awaiting"] == "follow_up"  # now the customer's verdict is awaited


def test_a_departments_queue_shows_the_text_and_the_instructions(centre: Centre) -> None:
    complaint_id = centre.receive(severity="high")
    answer = centre.act(
        complaint_id, "dispatch", "DM01", department_id="billing", instructions="核对 11 月账单"
    )
    assert answer.status_code == 200, answer.text
    items = queue(centre, "/departments/billing/queue", "B07")["items"]
    assert items[0]["instructions"] == "核对 11 月账单"
    assert items[0]["description"]
    # The duty manager's own queue stays lean.
    other = centre.receive()
    mine = queue(centre, "/queues/mine", "DM01")["items"]
    assert [item["id"] for item in mine] == [other]
    assert mine[0]["description"] is None and mine[0]["instructions"] is None
