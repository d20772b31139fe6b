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


def test_the_dashboard_script_writes_data_as_text_only() -> None:
    """The dashboard puts API data on the page through textContent, Option and Chart.js
    (a canvas): no sink that would parse it as markup. A new one needs escaping, and a
    test like the gateway's above."""
    from services.analytics.dashboard.views import STATIC

    script = (STATIC / "dashboard.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script, sink
