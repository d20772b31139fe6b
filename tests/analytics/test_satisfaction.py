"""Satisfaction figures that do not flatter: two customers answered "2" to the first
answer, were answered again and could not be reached after it; the dashboard said 100 %
satisfied, because only the latest answer counted and "not reached" was no answer.
Now each customer's verdicts are kept (first and final), and never reaching someone
counts as no verdict, never as satisfied."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command

from services.analytics.facts.service import facts
from shared.db import create_database
from shared.migrations import alembic_config, upgrade
from tests.analytics.conftest import Analytics, load
from tests.analytics.story import Story, bj

APRIL = {"from": "2026-04-01", "to": "2026-04-30"}


def answered_by_billing(story: Story, name: str, day: int, phone: str) -> None:
    story.received(name, bj(4, day, 9), category="billing", phone=phone)
    story.act(name, "acknowledged", "acknowledge", bj(4, day, 9, 5), stage="handling")
    story.act(
        name,
        "dispatched",
        "dispatch",
        bj(4, day, 9, 30),
        to="dispatched",
        stage="acceptance",
        department="billing",
        department_name="账务部 Billing",
    )
    story.act(name, "accepted", "accept", bj(4, day, 10), to="in_progress", stage="resolution")
    story.act(
        name,
        "replied",
        "reply",
        bj(4, day, 16),
        to="replied",
        stage="follow_up",
        root_cause="system",
        resolution="已退还多扣费用",
    )


def verdict(story: Story, name: str, result: str, day: int, hour: int) -> None:
    if result == "satisfied":
        story.act(
            name,
            "closed",
            "feedback",
            bj(4, day, hour),
            to="closed",
            closure_reason="satisfied",
            details={"result": result},
        )
    elif result == "unsatisfied":
        reopens = story.complaints[name].counters["reopen_count"] + 1
        story.act(
            name,
            "reopened",
            "feedback",
            bj(4, day, hour),
            to="dispatched",
            stage="acceptance",
            reopen_count=reopens,
            details={"result": result},
        )
    else:
        story.act(
            name, "follow_up_failed", "feedback", bj(4, day, hour), details={"result": result}
        )


def the_april_that_said_100_percent() -> Story:
    story = Story()
    # A: satisfied with the first answer.
    answered_by_billing(story, "A", 2, "+8613800000011")
    verdict(story, "A", "satisfied", 3, 10)
    # B and C: "2" to the first answer; answered again; then nobody picks up, three
    # times, and they close as unreached.
    for name, day, phone in (("B", 6, "+8613800000012"), ("C", 9, "+8613800000013")):
        answered_by_billing(story, name, day, phone)
        verdict(story, name, "unsatisfied", day + 1, 10)
        story.act(name, "accepted", "accept", bj(4, day + 1, 11), to="in_progress")
        story.act(name, "replied", "reply", bj(4, day + 2, 9), to="replied", stage="follow_up")
        for hour in (10, 13):
            verdict(story, name, "unreachable", day + 3, hour)
        story.act(
            name,
            "closed",
            "feedback",
            bj(4, day + 3, 16),
            to="closed",
            closure_reason="unreached",
            details={"result": "unreachable"},
        )
    # D: answered, never reached at all.
    answered_by_billing(story, "D", 20, "+8613800000014")
    verdict(story, "D", "unreachable", 21, 10)
    return story


@pytest.mark.postgres
def test_two_customers_who_answered_2_are_not_hidden_behind_100_percent(
    analytics: Analytics,
) -> None:
    story = the_april_that_said_100_percent()
    assert load(analytics.env.db, story.events) == len(story.events)
    analytics.clock.set(bj(5, 1, 0))
    s = analytics.get("/analytics/overview", **APRIL)["satisfaction"]
    # The final word of each customer who gave one: A satisfied; B and C unsatisfied
    # (not reached after saying "2" is no change of mind). D never gave one.
    assert (s["satisfied"], s["unsatisfied"], s["unreachable"]) == (1, 2, 1)
    assert s["rate"] == 0.3333
    # On the first answer the same: one in three.
    assert (s["first_satisfied"], s["first_unsatisfied"], s["first_rate"]) == (1, 2, 0.3333)
    assert (s["ever_unsatisfied"], s["ever_unsatisfied_rate"]) == (2, 0.6667)
    # Of the four followed up, one is known to be satisfied.
    assert (s["followed_up"], s["rate_of_followed_up"]) == (4, 0.25)

    report = analytics.get("/analytics/departments/billing/report", month="2026-04")
    summary = report["summary"]
    assert (summary["satisfied"], summary["unsatisfied"], summary["unreachable"]) == (1, 2, 1)
    assert summary["satisfaction_rate"] == 0.3333
    assert summary["first_satisfaction_rate"] == 0.3333
    assert summary["ever_unsatisfied"] == 2


def test_facts_built_before_the_verdicts_were_kept_get_them_from_the_event_log(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'analytics.db'}"
    upgrade("analytics", url=url, schema="analytics")
    db = create_database(url, schema="analytics")
    try:
        load(db, the_april_that_said_100_percent().events)
        with db.read() as session:
            query = facts.select().with_only_columns(
                facts.c.reference, facts.c.first_verdict, facts.c.final_verdict
            )
            built = sorted(session.execute(query).all())
        assert [tuple(row)[1:] for row in built] == [
            ("satisfied", "satisfied"),
            ("unsatisfied", "unsatisfied"),
            ("unsatisfied", "unsatisfied"),
            (None, None),
        ]
        # Back to the schema before the verdicts had columns, and up again: the upgrade
        # reads them back from the feedback events.
        config = alembic_config("analytics", url=url, schema="analytics")
        command.downgrade(config, "analytics_0002")
        command.upgrade(config, "head")
        with db.read() as session:
            assert sorted(session.execute(query).all()) == built
    finally:
        db.dispose()
