"""The fixture month (tests/analytics/story.py) read back through the API, every number
worked out by hand from the story. The reports are read at midnight after March."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest

from tests.analytics.conftest import Analytics, load
from tests.analytics.story import BEIJING, fixture_month

pytestmark = pytest.mark.postgres

MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture
def month(analytics: Analytics) -> Analytics:
    story = fixture_month()
    assert load(analytics.env.db, story.events) == len(story.events)
    analytics.story = story  # type: ignore[attr-defined]
    return analytics


def test_redelivered_events_have_no_second_effect(month: Analytics) -> None:
    story = month.story  # type: ignore[attr-defined]
    assert load(month.env.db, story.events) == 0
    assert month.get("/analytics/overview", **MARCH)["volume"] == 5


def test_overview_of_the_month(month: Analytics) -> None:
    o = month.get("/analytics/overview", **MARCH)
    # C1–C5 came in; C4 (with network) and C5 (not acknowledged) are open and overdue.
    assert (o["volume"], o["open"], o["overdue"], o["closed"], o["answered"]) == (5, 2, 2, 3, 3)
    # Final verdicts: C1 and C2 satisfied; C3 never reached (not counted as satisfied).
    # On the first answer C2 was unsatisfied: half the first answers satisfied.
    assert o["satisfaction"] == {
        "satisfied": 2,
        "unsatisfied": 0,
        "unreachable": 1,
        "rate": 1.0,
        "first_satisfied": 1,
        "first_unsatisfied": 1,
        "first_rate": 0.5,
        "ever_unsatisfied": 1,
        "ever_unsatisfied_rate": 0.5,
        "followed_up": 3,
        "rate_of_followed_up": 0.6667,
    }
    # C2 was reopened once, of three answered; returned once; urged and escalated.
    assert (o["reopened"], o["reopen_rate"], o["returned"]) == (1, 0.3333, 1)
    assert (o["breached"], o["escalated"], o["escalations"]) == (1, 1, 1)
    sla = {s["stage"]: s for s in o["sla"]}
    # Acknowledgement: C1 10 min, C2 30 + 20 min (first late), C3 5 min, C4 20 min.
    # Sorted 300, 600, 1200, 3000 s: median 900 s; p90 1200 + 0.7 × 1800 = 2460 s.
    assert sla["acknowledgement"] == {
        "stage": "acknowledgement",
        "label_zh": "值班确认",
        "label_en": "Acknowledgement",
        "met": 3,
        "missed": 1,
        "compliance": 0.75,
        "median_hours": 0.25,
        "p90_hours": 0.68,
    }
    # Handling at the duty desk: 60, 30 + 60, 60, 60 min, all in time.
    assert (sla["handling"]["met"], sla["handling"]["missed"]) == (4, 0)
    assert (sla["handling"]["median_hours"], sla["handling"]["p90_hours"]) == (1.0, 1.35)
    # Acceptance: C1 1 h; C2 2 h (late) + 1 h + 13 h (late); C4 1 h.
    assert (sla["acceptance"]["met"], sla["acceptance"]["missed"]) == (2, 1)
    assert sla["acceptance"]["compliance"] == 0.6667
    assert (sla["acceptance"]["median_hours"], sla["acceptance"]["p90_hours"]) == (1.0, 13.0)
    # Resolution: C1 24 h, C2 4 + 24 + 24 h; C4 still in it.
    assert (sla["resolution"]["met"], sla["resolution"]["missed"]) == (2, 0)
    assert (sla["resolution"]["median_hours"], sla["resolution"]["p90_hours"]) == (38.0, 49.2)
    # Follow-up: C1 4 h, C2 3 + 3 h, C3 46 h 55 min (late).
    assert (sla["follow_up"]["met"], sla["follow_up"]["missed"]) == (2, 1)
    assert (sla["follow_up"]["median_hours"], sla["follow_up"]["p90_hours"]) == (6.0, 38.73)


def test_overview_of_one_department(month: Analytics) -> None:
    o = month.get("/analytics/overview", department="network", **MARCH)
    assert (o["volume"], o["open"], o["overdue"]) == (2, 1, 1)  # C2 and C4


def test_pareto_uses_qas_revision_and_counts_it(month: Analytics) -> None:
    c3 = month.story.complaints["C3"]  # type: ignore[attr-defined]
    answer = month.client.put(
        f"/analytics/complaints/{c3.id}/root-cause",
        json={"root_cause": "management", "note": "排班不足，不是个人态度"},
        headers=month.qa,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["root_cause"] == "management"
    assert answer.json()["root_cause_reported"] == "service"
    p = month.get("/analytics/root-causes", month="2026-03")
    assert (p["total"], p["revised"], p["unclassified"]) == (3, 1, 0)
    assert [(c["root_cause"], c["count"], c["cumulative"], c["vital"]) for c in p["causes"]] == [
        ("system", 2, 0.6667, True),
        ("management", 1, 1.0, True),
    ]
    departments = {d["department"]: d["causes"][0]["root_cause"] for d in p["by_department"]}
    assert departments == {"billing": "system", "network": "system", "duty_desk": "management"}
    # Only QA (or an admin) revises, and only to a known cause.
    refused = month.client.put(
        f"/analytics/complaints/{c3.id}/root-cause",
        json={"root_cause": "process"},
        headers=month.viewer,
    )
    assert refused.status_code == 403
    wrong = month.client.put(
        f"/analytics/complaints/{c3.id}/root-cause",
        json={"root_cause": "weather"},
        headers=month.qa,
    )
    assert wrong.status_code == 422 and "root_cause" in wrong.json()["message"]
    missing = month.client.put(
        "/analytics/complaints/nope/root-cause", json={"root_cause": "process"}, headers=month.qa
    )
    assert missing.status_code == 404


def test_the_pareto_as_csv(month: Analytics) -> None:
    text = month.get("/analytics/root-causes", month="2026-03", format="csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {(r["department"], r["root_cause"], r["count"]) for r in rows} == {
        ("billing", "system", "1"),
        ("network", "system", "1"),
        ("duty_desk", "service", "1"),
    }


def test_trends_by_category(month: Analytics) -> None:
    t = month.get("/analytics/trends", by="category", **MARCH)
    assert len(t["buckets"]) == 31
    totals = {s["key"]: s["total"] for s in t["series"]}
    assert totals == {"billing": 2, "network": 2, "service": 1}
    billing = next(s for s in t["series"] if s["key"] == "billing")["counts"]
    assert (billing[1], billing[30], sum(billing)) == (1, 1, 2)  # 2 and 31 March
    by_channel = month.get("/analytics/trends", by="channel", interval="month", **MARCH)
    assert {s["key"]: s["counts"] for s in by_channel["series"]} == {
        "phone": [3],
        "wechat": [1],
        "web": [1],
    }


def test_repeat_complainants_are_listed_with_masked_phones(month: Analytics) -> None:
    r = month.get("/analytics/repeat-complainants", days=30, min=3, to="2026-03-31")
    assert [(c["customer"], c["complaints"], c["open"]) for c in r["customers"]] == [
        ("+86137****0003", 3, 2)
    ]
    assert len(r["customers"][0]["references"]) == 3
    assert (
        month.get("/analytics/repeat-complainants", days=30, min=4, to="2026-03-31")["customers"]
        == []
    )
    # Not for a client's read-only view.
    denied = month.client.get("/analytics/repeat-complainants", headers=month.viewer)
    assert denied.status_code == 403


def test_a_closure_followed_by_a_new_call_is_suspect(month: Analytics) -> None:
    f = month.get("/analytics/false-closures", days=7, **MARCH)
    assert (f["closed"], f["suspected"]) == (3, 1)
    suspect = f["complaints"][0]
    assert suspect["reference"].endswith("-C3") and suspect["reasons"] == ["called_again"]
    assert suspect["called_again"][0]["reference"].endswith("-C4")
    assert suspect["called_again"][0]["same_category"] is False
    # Two days after the closure: a one-day window does not see it.
    assert month.get("/analytics/false-closures", days=1, **MARCH)["suspected"] == 0


def test_billings_monthly_report_against_february(month: Analytics) -> None:
    r = month.get("/analytics/departments/billing/report", month="2026-03")
    s, before = r["summary"], r["previous"]
    # Dispatched to billing in March: C1 and C2; C2 went back (not ours) and on to network.
    assert (s["received"], s["complaints"], s["accepted"], s["resolved"]) == (2, 1, 1, 1)
    assert (s["acceptance_median_hours"], s["resolution_median_hours"]) == (1.0, 24.0)
    assert (s["returned"], s["reopened"], s["open"], s["overdue"]) == (1, 0, 0, 0)
    assert r["returned"]["by_reason"] == {"not_ours": 1}
    assert r["returned"]["examples"][0]["reference"].endswith("-C2")
    assert [(c["root_cause"], c["count"]) for c in r["root_causes"]["causes"]] == [("system", 1)]
    assert r["root_causes"]["causes"][0]["examples"][0]["description"] == "话费账单重复扣费 30 元"
    assert (before["received"], before["complaints"], before["satisfaction_rate"]) == (1, 1, 1.0)
    received = next(c for c in r["changes"] if c["figure"] == "received")
    assert (received["value"], received["previous"], received["change"]) == (2, 1, 1)


def test_networks_report_lists_the_reopened_and_the_overdue(month: Analytics) -> None:
    r = month.get("/analytics/departments/network/report", month="2026-03")
    s = r["summary"]
    assert (s["received"], s["complaints"], s["open"], s["overdue"]) == (2, 2, 1, 1)
    assert s["acceptance_compliance"] == 0.5  # C2 late, C4 in time
    assert [x["reference"][-2:] for x in r["reopened"]] == ["C2"]
    assert [(x["reference"][-2:], x["stage"]) for x in r["overdue"]] == [("C4", "resolution")]


def test_the_report_as_csv_and_as_a_printable_page(month: Analytics) -> None:
    text = month.get("/analytics/departments/billing/report", month="2026-03", format="csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    summary = {r["item"]: r for r in rows if r["section"] == "summary"}
    assert (summary["received"]["value"], summary["received"]["previous_month"]) == ("2", "1")
    assert any(r["section"] == "returned" and r["item"] == "not_ours" for r in rows)
    page = month.get("/analytics/departments/billing/report", month="2026-03", format="html")
    assert page.startswith("<!doctype html>")
    for expected in (
        "账务部 Billing · 2026-03",
        "Key figures",
        "系统 · System",
        "not_ours",
        "@media print",
    ):
        assert expected in page


def test_a_department_user_sees_only_their_department(month: Analytics) -> None:
    clerk = month.env.token("department", "D-B1", department="billing")
    own = month.client.get("/analytics/departments/billing/report", headers=clerk)
    other = month.client.get("/analytics/departments/network/report", headers=clerk)
    assert (own.status_code, other.status_code) == (200, 403)
    o = month.get("/analytics/overview", headers=clerk, **MARCH)
    assert (o["department"], o["volume"]) == ("billing", 1)
    assert month.client.get("/analytics/overview").status_code == 401


def test_a_report_for_a_department_that_does_not_exist_is_not_found(month: Analytics) -> None:
    missing = month.client.get(
        "/analytics/departments/legal/report", params={"month": "2026-03"}, headers=month.supervisor
    )
    assert missing.status_code == 404
    assert "legal" in missing.json()["message"]
    # A department analytics knows, in a month it had nothing: a report of zeros is true.
    quiet = month.get("/analytics/departments/network/report", month="2026-01")
    assert quiet["summary"]["complaints"] == 0


def test_the_report_names_the_department_and_reads_in_the_centres_time_in_both_languages(
    month: Analytics,
) -> None:
    billing = month.get("/analytics/departments/billing/report", month="2026-03")
    assert billing["department_name"] == "账务部 Billing"
    assert billing["generated_at"] == "2026-04-01T00:00:00+08:00"
    # Billing sent C2 back at 15:00 Beijing time on 5 March.
    assert billing["returned"]["examples"][0]["at"] == "2026-03-05T15:00+08:00"
    assert billing["actions"] == [
        "首要根因：系统，1 件，占已分类投诉的 100%。 "
        "Top root cause: System, 1 complaint, 100% of those classified.",
        "1 件以“非本部门职责”退单：请与值班台核对派单规则。 "
        "1 returned as 'Not our responsibility': check the dispatch rules with the duty desk.",
    ]
    network = month.get("/analytics/departments/network/report", month="2026-03")
    assert network["overdue"][0]["due_at"] == "2026-03-20T11:20+08:00"
    assert network["actions"][1:] == [
        "部门签收按时率 50%。 Department acceptance deadlines met in 50% of cases.",
        "首次答复满意率仅 0%（最终 100%）：第一次答复要答到点上。 "
        "Only 0% satisfied with the first answer (100% in the end): get the first answer right.",
        "1 件因客户不满意重办。 1 complaint reopened after the customer's answer.",
        "1 件现已超时。 1 complaint past the deadline now.",
    ]
    page = month.get("/analytics/departments/network/report", month="2026-03", format="html")
    assert "网络部 Network · 2026-03" in page and "2026-03-20T11:20+08:00" in page


def test_department_names_come_with_the_figures(month: Analytics) -> None:
    sla = month.get("/analytics/sla-by-department", **MARCH)["departments"]
    assert [(d["department"], d["name"]) for d in sla] == [
        ("billing", "账务部 Billing"),
        ("network", "网络部 Network"),
    ]
    pareto = month.get("/analytics/root-causes", month="2026-03")
    assert {d["department"]: d["name"] for d in pareto["by_department"]} == {
        "billing": "账务部 Billing",
        "network": "网络部 Network",
        "duty_desk": "值班台 Duty desk",
    }
    by_department = month.get("/analytics/trends", by="department", **MARCH)
    assert by_department["names"]["network"] == "网络部 Network"
    filters = month.get("/analytics/filters")
    assert filters["department_names"] == {"billing": "账务部 Billing", "network": "网络部 Network"}


def test_arrivals_by_hour_and_weekday_for_the_rota(month: Analytics) -> None:
    a = month.get("/analytics/arrivals", **MARCH)
    assert a["total"] == 5 and a["timezone"] == "Asia/Shanghai"
    # Beijing hours: C2 at 8, C1 and C4 at 9, C3 at 10, C5 at 22.
    assert {h: n for h, n in enumerate(a["by_hour"]) if n} == {8: 1, 9: 2, 10: 1, 22: 1}
    weekdays = {w["label_en"]: w for w in a["weekdays"]}
    assert [w["weekday"] for w in a["weekdays"]] == [1, 2, 3, 4, 5, 6, 7]
    assert weekdays["Mon"]["label_zh"] == "周一"
    # Tuesdays: C3 at 10 and C5 at 22; March 2026 has five Tuesdays.
    tuesday = weekdays["Tue"]
    assert (tuesday["total"], tuesday["days"]) == (2, 5)
    assert (tuesday["counts"][10], tuesday["counts"][22], tuesday["average"][22]) == (1, 1, 0.2)
    assert (weekdays["Thu"]["counts"][8], weekdays["Sat"]["counts"][9]) == (1, 1)
    assert weekdays["Wed"]["total"] == 0 and weekdays["Wed"]["days"] == 4
    text = month.get("/analytics/arrivals", format="csv", **MARCH)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[1]["label_en"] == "Tue" and rows[1]["22"] == "1"
    network = month.get("/analytics/arrivals", department="network", **MARCH)
    assert network["total"] == 2  # C2 and C4


def test_days_still_to_come_are_not_counted_as_quiet_days(month: Analytics) -> None:
    month.clock.set(datetime(2026, 3, 15, 12, 0, tzinfo=BEIJING))
    t = month.get("/analytics/trends", by="category", **MARCH)
    assert t["buckets"][-1] == "2026-03-15" and len(t["buckets"]) == 15
    assert t["to"] == "2026-03-15"


def test_the_dashboard_filters_offer_months_with_data_up_to_this_one(month: Analytics) -> None:
    filters = month.get("/analytics/filters")
    assert (filters["months"], filters["default_month"]) == (["2026-03", "2026-02"], "2026-03")
    clerk = month.env.token("department", "D-N1", department="network")
    own = month.get("/analytics/filters", headers=clerk)
    assert (own["months"], own["departments"]) == (["2026-03"], ["network"])
    # Seen from February, March is still to come.
    month.clock.set(datetime(2026, 2, 25, 12, 0, tzinfo=BEIJING))
    assert month.get("/analytics/filters")["months"] == ["2026-02"]


def test_qa_revises_a_root_cause_by_the_reference_staff_have_in_hand(month: Analytics) -> None:
    c3 = month.story.complaints["C3"]  # type: ignore[attr-defined]
    answer = month.client.put(
        f"/analytics/complaints/{c3.reference}/root-cause",
        json={"root_cause": "management", "note": "排班不足"},
        headers=month.qa,
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["complaint_id"], answer.json()["root_cause"]) == (c3.id, "management")
    read = month.get(f"/analytics/complaints/{c3.reference}/root-cause")
    assert (read["complaint_id"], read["revisions"], read["revised_by"]) == (c3.id, 1, "QA01")
    assert month.get("/analytics/root-causes", month="2026-03")["revised"] == 1
