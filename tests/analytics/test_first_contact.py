"""First-contact resolution (当场解答) in the figures: a complaint the agent answered on
the line, closed with the caller's word before anyone dispatched it, counts as resolved
at first contact — until the caller comes back and it is reopened."""

from __future__ import annotations

import pytest

from tests.analytics.conftest import Analytics, load
from tests.analytics.story import P1, P2, P3, Story, bj
from tests.analytics.test_projection import facts_of_story

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
ANSWER = "A市不在国家集中供暖范围内，目前没有统一供暖的规划。"
FIRST_CONTACT = "resolve-at-first-contact"


def three_callers() -> Story:
    """F1 answered from article 7 on the line; F2 dispatched and answered by a
    department; F3 answered on the line too, but the caller rang again and it was
    reopened."""
    s = Story()
    s.received("F1", bj(3, 4, 9), category="urban_construction", phone=P1, answered_from_article=7)
    s.act(
        "F1",
        "closed",
        FIRST_CONTACT,
        bj(3, 4, 9, 3),
        to="closed",
        resolution=ANSWER,
        closure_reason="first_contact",
        details={"customer_confirmed": True, "answered_from_article": 7},
    )
    s.received("F2", bj(3, 5, 10), category="urban_construction", phone=P2)
    s.act("F2", "dispatched", "dispatch", bj(3, 5, 11), to="dispatched", department="housing")
    s.received("F3", bj(3, 6, 10), category="urban_construction", phone=P3, answered_from_article=7)
    s.act(
        "F3",
        "closed",
        FIRST_CONTACT,
        bj(3, 6, 10, 5),
        to="closed",
        resolution=ANSWER,
        closure_reason="first_contact",
    )
    s.act(
        "F3",
        "reopened",
        "reopen",
        bj(3, 7, 9),
        to="with_duty_manager",
        reopen_count=1,
        reason="客户再次来电：其小区已有供暖管道",
    )
    return s


def test_a_complaint_answered_on_the_line_is_resolved_at_first_contact_until_reopened() -> None:
    facts = facts_of_story(three_callers())
    f1 = facts["F1"]
    assert f1["first_contact_resolved"] is True and f1["answered_from_article"] == 7
    assert (f1["state"], f1["closure_reason"]) == ("closed", "first_contact")
    assert f1["replied_at"] == bj(3, 4, 9, 3) and f1["resolution"] == ANSWER
    assert f1["closed_at"] == bj(3, 4, 9, 3)
    assert facts["F2"]["first_contact_resolved"] is False
    assert facts["F2"]["answered_from_article"] is None
    f3 = facts["F3"]
    assert f3["first_contact_resolved"] is False and f3["state"] == "with_duty_manager"
    assert f3["answered_from_article"] == 7  # the article was read out all the same


@pytest.mark.postgres
def test_the_overview_counts_first_contact_resolutions_and_their_rate(
    analytics: Analytics,
) -> None:
    load(analytics.env.db, three_callers().events)
    o = analytics.get("/analytics/overview", **MARCH)
    assert o["volume"] == 3
    assert o["first_contact_resolved"] == 1
    assert o["first_contact_rate"] == pytest.approx(1 / 3, abs=0.001)
    assert o["answered_from_knowledge"] == 2
    # A department's month has none of the desk's first-contact answers.
    housing = analytics.get("/analytics/overview", department="housing", **MARCH)
    assert housing["first_contact_resolved"] == 0
