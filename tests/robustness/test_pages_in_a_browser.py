"""Markup in an SMS is shown as text on the development gateway's page, in Debian's
headless Chromium: the page builds its cards with innerHTML, so every value it puts
there must be escaped."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import httpx
import pytest

from services.notify.gateway import create_app as create_gateway
from tests.analytics.test_dashboard_chromium import DevTools, browser  # noqa: F401 - fixture
from tests.notify.conftest import free_port, notify_config, serving

pytestmark = pytest.mark.postgres

MARKUP = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> & "1"'


def evaluate(devtools: DevTools, session: str, expression: str) -> Any:
    result = devtools.send("Runtime.evaluate", session, expression=expression, returnByValue=True)
    return result["result"].get("value")


def test_the_gateway_page_shows_markup_in_an_sms_as_text(browser: DevTools) -> None:  # noqa: F811
    config = notify_config(gateway_notify_url=f"http://127.0.0.1:{free_port()}")
    with serving(create_gateway(config), free_port()) as url:
        sent = httpx.post(
            f"{url}/2010-04-01/Accounts/{config.twilio_account_sid}/Messages.json",
            data={"To": "+8613800138000", "From": "+8610690000", "Body": MARKUP},
            auth=(config.twilio_account_sid, config.twilio_auth_token),
            timeout=10,
        )
        assert sent.status_code == 201, sent.text
        target = browser.send("Target.createTarget", url="about:blank")["targetId"]
        session = browser.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        browser.send("Runtime.enable", session)
        browser.send("Log.enable", session)
        browser.send("Page.enable", session)
        browser.send("Page.navigate", session, url=f"{url}/")
        deadline = time.monotonic() + 20
        while not evaluate(browser, session, "document.querySelectorAll('.sms').length"):
            assert time.monotonic() < deadline, "the page showed no SMS"
            time.sleep(0.2)
        shown = json.loads(
            evaluate(
                browser,
                session,
                "JSON.stringify({pwned: window.__pwned === undefined ? null : window.__pwned,"
                " text: document.querySelector('.sms').firstChild.textContent,"
                " elements: document.querySelectorAll('.sms img, .sms script').length})",
            )
        )
        shot = browser.send("Page.captureScreenshot", session, format="png")
        assert base64.b64decode(shot["data"])
    assert shown == {"pwned": None, "text": MARKUP, "elements": 0}
    # The page's script and style are files: its policy refuses nothing it needs.
    assert policy_violations(browser) == []


def policy_violations(devtools: DevTools) -> list[str]:
    """What the browser refused under a page's Content-Security-Policy, as it logged it."""
    texts = [
        str(event["params"]["entry"].get("text", ""))
        for event in devtools.events
        if event.get("method") == "Log.entryAdded"
    ]
    return [t for t in texts if "Content Security Policy" in t]


def open_page(devtools: DevTools, url: str) -> str:
    target = devtools.send("Target.createTarget", url="about:blank")["targetId"]
    session = devtools.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    devtools.send("Runtime.enable", session)
    devtools.send("Log.enable", session)
    devtools.send("Page.enable", session)
    devtools.send("Page.navigate", session, url=url)
    deadline = time.monotonic() + 10
    while evaluate(devtools, session, "document.readyState") != "complete":
        assert time.monotonic() < deadline, f"{url} did not load"
        time.sleep(0.1)
    time.sleep(0.5)  # the page's scripts run, and are refused or not
    return session


def test_the_browser_refuses_an_inline_script_the_policy_does_not_name(
    browser: DevTools,  # noqa: F811
) -> None:
    """What the other pages are checked with: a page with an undeclared inline script
    under the policy every page gets is refused, and the refusal is seen."""
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    from shared.headers import SecurityHeadersMiddleware

    app = FastAPI()
    app.add_middleware(SecurityHeadersMiddleware)

    @app.get("/")
    def page() -> HTMLResponse:
        return HTMLResponse("<!doctype html><p>hi</p><script>window.__ran = 1</script>")

    with serving(app, free_port()) as url:
        session = open_page(browser, f"{url}/")
        assert evaluate(browser, session, "window.__ran === undefined")
    assert any("inline script" in v for v in policy_violations(browser))


def test_the_api_docs_inline_script_is_allowed_by_its_hash(browser: DevTools) -> None:  # noqa: F811
    """Swagger UI itself comes from its CDN (unreachable here); the page's own inline
    script that starts it must not be refused."""
    from services.notify.gateway import create_app as create_gateway

    config = notify_config(gateway_notify_url=f"http://127.0.0.1:{free_port()}")
    with serving(create_gateway(config), free_port()) as url:
        open_page(browser, f"{url}/docs")
    assert policy_violations(browser) == []


def test_the_dashboard_script_writes_data_as_text_only() -> None:
    """The dashboard puts API data on the page through textContent, Option and Chart.js
    (a canvas): no sink that would parse it as markup. A new one needs escaping, and a
    test like the gateway's above."""
    from services.analytics.dashboard.views import STATIC

    script = (STATIC / "dashboard.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
