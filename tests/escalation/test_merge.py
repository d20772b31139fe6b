"""Duplicates (重复件) on PostgreSQL: the duty desk merges each into its master; the
duplicate closes pointing to it, and every caller hears the master's outcome once."""

from __future__ import annotations

from typing import Any

import pytest

from tests.escalation.conftest import Centre

pytestmark = pytest.mark.postgres

PIPE = "幸福小区3栋楼道水管爆裂，水流到电梯井，物业一直没人来修"
NEIGHBOURS = {"first": "+8613800138001", "second": "+8613800138002", "third": "+8613800138003"}
ANSWER = {"resolution": "水务公司已于当日关阀抢修，管道已更换", "root_cause": "external"}


def recipients(event: Any) -> set[tuple[str, str, str | None]]:
    return {(r["audience"], r["phone"], r.get("reference")) for r in event.payload["recipients"]}


def field_named(answer: Any) -> str:
    assert answer.status_code == 422, answer.text
    return answer.json()["fields"][0]["field"]  # type: ignore[no-any-return]


def test_a_broken_pipe_rung_in_four_times_is_one_complaint_and_three_callers_are_told(
    centre: Centre,
) -> None:
    # The first neighbour rings, then again; two more neighbours ring about the same pipe.
    master = centre.receive(customer_phone=NEIGHBOURS["first"], description=PIPE)
    again = centre.receive(customer_phone=NEIGHBOURS["first"], description="还是那根水管：" + PIPE)
    second = centre.receive(customer_phone=NEIGHBOURS["second"], description=PIPE)
    third = centre.receive(customer_phone=NEIGHBOURS["third"], description="楼道水管爆了")
    master_ref = centre.row(master).reference

    for duplicate in (again, second, third):
        answer = centre.act(duplicate, "merge", "DM01", master=master_ref, reason="同一水管")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert (body["event_type"], body["to_state"]) == ("complaint.merged", "closed")
        assert body["complaint"]["closure_reason"] == "merged"
        assert body["complaint"]["merged_into"] == master
        assert body["complaint"]["merged_into_reference"] == master_ref
        # Its caller is told it is handled with the master; nothing else to do for it.
        event = centre.last_event(duplicate)
        assert event.payload["details"]["master_reference"] == master_ref
        assert ("customer", centre.row(duplicate).customer_phone, None) in recipients(event)
        assert centre.verify(duplicate)["valid"]

    # The master points to its duplicates; the desk works the master alone.
    seen = centre.get(master).json()
    assert seen["merged_duplicates"] == [centre.row(c).reference for c in (again, second, third)]
    queue = centre.client.get("/queues/mine", headers=centre.as_("DM01")).json()
    held = {item["id"] for item in queue["items"]}
    assert master in held and not held & {again, second, third}

    assert centre.act(master, "acknowledge", "DM01").is_success
    answered = centre.act(master, "resolve", "DM01", **ANSWER)
    assert answered.status_code == 200, answered.text
    told = recipients(centre.last_event(master))
    callers = {
        (audience, phone)
        for audience, phone, _ in told
        if "caller" in audience or audience == "customer"
    }
    # Three people rang: each hears the outcome once; the first neighbour's second call
    # does not earn a second SMS.
    assert callers == {
        ("customer", NEIGHBOURS["first"]),
        ("duplicate_caller", NEIGHBOURS["second"]),
        ("duplicate_caller", NEIGHBOURS["third"]),
    }
    # Each duplicate caller under their own reference, to recognise it.
    by_phone = {
        phone: reference for audience, phone, reference in told if audience == "duplicate_caller"
    }
    assert by_phone[NEIGHBOURS["second"]] == centre.row(second).reference
    assert by_phone[NEIGHBOURS["third"]] == centre.row(third).reference


def test_merging_into_an_answered_master_tells_the_caller_its_answer_at_once(
    centre: Centre,
) -> None:
    master = centre.receive(description=PIPE)
    assert centre.act(master, "acknowledge", "DM01").is_success
    assert centre.act(master, "resolve", "DM01", **ANSWER).is_success
    late = centre.receive(customer_phone=NEIGHBOURS["second"], description=PIPE)
    assert centre.act(late, "merge", "DM01", master=master).status_code == 200
    details = centre.last_event(late).payload["details"]
    assert details["master_resolution"] == ANSWER["resolution"]
    assert details["master_state"] == "replied"


def test_a_merge_names_what_is_wrong_with_the_master(centre: Centre) -> None:
    first = centre.receive(description=PIPE)
    second = centre.receive(description=PIPE)
    third = centre.receive(description=PIPE)
    assert field_named(centre.act(second, "merge", "DM01", master=second)) == "master"
    unknown = centre.act(second, "merge", "DM01", master="TS20990101-999999")
    assert field_named(unknown) == "master"
    assert centre.act(second, "merge", "DM01", master=first).status_code == 200
    # A duplicate is no master: the desk is told which one is.
    chained = centre.act(third, "merge", "DM01", master=second)
    assert field_named(chained) == "master"
    assert centre.row(first).reference in chained.json()["message"]
    # Nothing was written for the refused merges.
    assert centre.row(third).state == "with_duty_manager"
    assert [e["action"] for e in centre.history(third)] == ["assign"]


def test_only_the_desk_merges_and_a_closed_complaint_answers_409_naming_what_is_allowed(
    centre: Centre,
) -> None:
    master = centre.receive(description=PIPE)
    duplicate = centre.receive(description=PIPE)
    assert centre.act(duplicate, "acknowledge", "DM01").is_success
    order = {"department_id": "billing", "instructions": "核对"}
    assert centre.act(duplicate, "dispatch", "DM01", **order).is_success
    assert centre.act(duplicate, "merge", "B07", master=master).status_code == 403
    assert centre.act(duplicate, "merge", "SV01", master=master).status_code == 200
    again = centre.act(duplicate, "merge", "SV01", master=master)
    assert again.status_code == 409
    assert again.json()["allowed_actions"] == ["reopen"]
    reopened = centre.act(duplicate, "reopen", "SV01", reason="客户又来电")
    assert reopened.status_code == 409
    assert "reopen that one" in reopened.json()["message"]
