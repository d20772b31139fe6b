"""The dashboard in a real browser: Debian's headless Chromium opens it with a viewer's
token (the outsourcing client) on the latest month with data (the clock is already in
the next), every chart draws with data, a month and department without any says "no
data" on every chart, nothing is written to the console as an error, and a screenshot
is kept in .run/test/artifacts/dashboard.png."""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from services.analytics.main import create_app
from shared.clock import ManualClock
from tests.analytics.conftest import load
from tests.analytics.story import NOW, fixture_month
from tests.conftest import ROOT, ServiceEnv

pytestmark = pytest.mark.postgres

SCREENSHOT = Path(ROOT) / ".run" / "test" / "artifacts" / "dashboard.png"
CHARTS = ("volume", "pareto", "sla", "satisfaction", "arrivals", "hotissues")


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(
            "chromium is not installed: scripts/install.sh installs Debian's `chromium` package "
            "(or run `apt-get install chromium`)"
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(service_env: Any) -> Iterator[tuple[str, ServiceEnv]]:
    env: ServiceEnv = service_env("analytics")
    story = fixture_month()
    # A hot issue: four callers about the same trouble at one estate.
    for n in range(4):
        story.received(
            f"H{n}",
            NOW.replace(day=25 + n % 3, month=3, hour=10 + n),
            category="network",
            phone=f"+861360000000{n}",
            description="翠湖花园小区基站故障，手机信号中断，无法拨打电话",
        )
    load(env.db, story.events)
    port = free_port()
    config = uvicorn.Config(
        create_app(env.settings, clock=ManualClock(NOW)),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )
    app_server = uvicorn.Server(config)
    thread = threading.Thread(target=app_server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not app_server.started:
        assert time.monotonic() < deadline, "the analytics API did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", env
    finally:
        app_server.should_exit = True
        thread.join(timeout=10)


class DevTools:
    """Just enough of the Chrome DevTools Protocol: commands, and the events seen."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv(timeout=30))
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    process = subprocess.Popen(
        [
            chromium(),
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--remote-debugging-port=0",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1400,1800",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        deadline = time.monotonic() + 30
        assert process.stderr is not None
        while url is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line and process.poll() is not None:
                break
            match = re.search(r"DevTools listening on (ws://\S+)", line)
            url = match.group(1) if match else None
        assert url, "chromium did not open its DevTools port"
        from websockets.sync.client import connect

        with connect(url, max_size=64 * 1024 * 1024, open_timeout=10) as ws:
            yield DevTools(ws)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def test_the_dashboard_draws_every_chart_for_a_viewer_without_console_errors(
    server: tuple[str, ServiceEnv], browser: DevTools
) -> None:
    base, env = server
    token = env.token("viewer", "CLIENT1")["Authorization"].removeprefix("Bearer ")
    target = browser.send("Target.createTarget", url="about:blank")["targetId"]
    session = browser.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
        browser.send(domain, session)
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        session,
        width=1400,
        height=1700,
        deviceScaleFactor=1,
        mobile=False,
    )
    # No month asked for, and the clock is at the start of April: it opens on March.
    browser.send("Page.navigate", session, url=f"{base}/dashboard#token={token}")

    def evaluate(expression: str) -> Any:
        result = browser.send(
            "Runtime.evaluate", session, expression=expression, returnByValue=True
        )
        return result["result"].get("value")

    def page_state() -> dict[str, Any]:
        value = evaluate(
            "(s => s && JSON.stringify({ready: s.ready, points: s.points, empty: s.empty, "
            "errors: s.errors}))(window.dashboardState)"
        )
        return json.loads(value or "null") or {}

    def drawn_state() -> dict[str, Any]:
        deadline = time.monotonic() + 30
        state = page_state()
        while not state.get("ready") and not state.get("errors") and time.monotonic() < deadline:
            time.sleep(0.2)
            state = page_state()
        assert state.get("ready"), f"the dashboard did not finish drawing: {state}"
        return state

    state = drawn_state()
    assert evaluate("document.getElementById('month').value") == "2026-03"
    assert evaluate("[...document.getElementById('month').options].map(o => o.value)") == [
        "2026-03",
        "2026-02",
    ]

    shot = browser.send("Page.captureScreenshot", session, format="png")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.write_bytes(base64.b64decode(shot["data"]))

    # Every chart has data: March's 9 complaints, its 3 root causes (C3's not yet
    # revised: service), billing and network, 3 customers followed up, the 9 arrivals,
    # a hot issue.
    assert set(state["points"]) == set(CHARTS)
    assert state["points"] == {
        "volume": 9,
        "pareto": 2,
        "sla": 2,
        "satisfaction": 3,
        "arrivals": 9,
        "hotissues": 1,
    }
    assert not any(state["empty"].values())
    listed = evaluate("document.getElementById('hot-issue-list').textContent")
    assert "翠湖花园：" in listed and "4 位来电人" in listed, listed
    drawn = browser.send(
        "Runtime.evaluate",
        session,
        expression=(
            "Object.keys(window.dashboardState.charts).filter(k => "
            "window.dashboardState.charts[k].getDatasetMeta(0).data.length > 0).length"
        ),
        returnByValue=True,
    )
    assert drawn["result"]["value"] == len(CHARTS)
    # The names the directory gave, not ids, in the department filter.
    options = evaluate("[...document.getElementById('department').options].map(o => o.text)")
    assert options == ["全部 All", "账务部 Billing", "网络部 Network"]

    # February at network: nothing happened there. Every chart says so.
    evaluate(
        "document.getElementById('month').value = '2026-02';"
        "document.getElementById('department').value = 'network';"
        "document.getElementById('filters').dispatchEvent(new Event('change'));"
    )
    state = drawn_state()
    assert state["points"] == dict.fromkeys(CHARTS, 0)
    assert all(state["empty"][chart] for chart in CHARTS)
    notes = evaluate(
        "[...document.querySelectorAll('figure .empty')].filter(p => !p.hidden).length"
    )
    assert notes == len(CHARTS)
    errors = [
        e
        for e in browser.events
        if e.get("method") == "Runtime.exceptionThrown"
        or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
        or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
    ]
    assert errors == []
    assert SCREENSHOT.stat().st_size > 20_000
