"""The staffing plan on the dashboard, in headless Chromium, over the two clients' March
(test_tenancy.py): the centre's supervisor sees the calls forecast and the agents to
schedule per half-hour as a chart and a table, tries a what-if, narrows to one client;
a client's viewer never sees the plan."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.analytics.conftest import Analytics
from tests.analytics.test_dashboard_chromium import DevTools
from tests.analytics.test_dashboard_chromium import browser as browser
from tests.analytics.test_tenancy import SCREENSHOT, Page, token
from tests.analytics.test_tenancy import chrome as chrome
from tests.analytics.test_tenancy import clients_server as clients_server
from tests.analytics.test_tenancy import two_clients as two_clients
from tests.support.infra import wait_until

pytestmark = pytest.mark.postgres

PLAN_SCREENSHOT = SCREENSHOT.with_name("dashboard-staffing.png")


def plan_of(page: Page) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(page.evaluate("JSON.stringify(window.dashboardState.plan)"))
    return found


def test_the_centres_supervisor_plans_the_phones_and_tries_a_what_if(
    clients_server: str, analytics: Analytics, chrome: DevTools
) -> None:
    supervisor = analytics.supervisor["Authorization"].split()[1]
    page = Page(chrome, f"{clients_server}/dashboard#token={supervisor}")
    state = page.drawn()
    assert not page.hidden("plan")
    plan = plan_of(page)
    # The whole centre, two weeks from the clock's 1 April, every half-hour drawn.
    assert (plan["tenant"], plan["from"], plan["to"]) == (None, "2026-04-01", "2026-04-14")
    assert state["points"]["plan-chart"] == 14 * 48
    drawn = page.evaluate(
        "window.dashboardState.charts['plan-chart'].data.datasets.map(d => d.data.length)"
    )
    assert drawn == [14 * 48] * 3
    # Agents on an axis of their own, at the right, up to the most scheduled.
    axis = page.evaluate(
        "(c => ({max: c.scales.y1.max, left: c.scales.y1.left, width: c.width}))"
        "(window.dashboardState.charts['plan-chart'])"
    )
    assert axis["max"] >= max(i["scheduled"] for i in plan["intervals"])
    assert axis["left"] > axis["width"] / 2
    summary = page.text("plan-summary")
    assert "WAPE" in summary and plan["holdout"]["from"] in summary, summary
    header = page.evaluate(
        "[...document.querySelectorAll('#plan-table tr')[0].cells].map(c => c.textContent)"
    )
    assert header[0] == "时段 Time" and header[1] == "04-01 三 Wed" and len(header) == 15
    rows = page.evaluate("document.querySelectorAll('#plan-table tr').length")
    needed = {i["time"] for i in plan["intervals"] if i["scheduled"]}
    assert rows == 1 + len(needed) + 2  # the half-hours anyone is needed, calls, hours

    # What if the calls took ten minutes and half the paid time were away from the phones?
    page.evaluate(
        "document.getElementById('plan-handling').value = '600';"
        "document.getElementById('plan-shrinkage').value = '50';"
        "document.getElementById('plan-form').requestSubmit();"
    )
    wait_until(
        lambda: page.evaluate(
            "(s => s.ready && s.plan.targets.shrinkage === 0.5)(window.dashboardState)"
        ),
        timeout=30,
        what="the what-if plan",
    )
    what_if = plan_of(page)
    assert (what_if["handling"]["source"], what_if["handling"]["seconds"]) == ("given", 600.0)
    busiest = max(plan["intervals"], key=lambda i: i["arrivals"])
    again = next(i for i in what_if["intervals"] if i["start"] == busiest["start"])
    assert again["agents"] >= busiest["agents"] and again["scheduled"] == 2 * again["agents"]
    shot = chrome.send("Page.captureScreenshot", page.session, format="png")
    PLAN_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    PLAN_SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))

    # Gas alone: the plan follows the client chosen.
    page.evaluate(
        "document.getElementById('tenant').value = 'gas';"
        "document.getElementById('tenant').dispatchEvent(new Event('change', {bubbles: true}));"
    )
    wait_until(
        lambda: page.evaluate("(s => s.ready && s.planTenant === 'gas')(window.dashboardState)"),
        timeout=30,
        what="gas's plan",
    )
    assert plan_of(page)["tenant"] == "gas"
    assert page.errors() == []


def test_a_clients_viewer_is_not_shown_the_staffing_plan(
    clients_server: str, analytics: Analytics, chrome: DevTools
) -> None:
    water = token(analytics, "viewer", "V-WATER", "water")["Authorization"].split()[1]
    page = Page(chrome, f"{clients_server}/dashboard#token={water}")
    state = page.drawn()
    assert page.hidden("plan") and "plan-chart" not in state["points"]
    assert page.evaluate("window.dashboardState.plan") is None
    assert page.errors() == []
