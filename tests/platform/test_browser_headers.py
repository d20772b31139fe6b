"""What every answer tells a browser: HTML pages load only this site's files, run no
inline script they did not declare and are framed by nobody; nothing is sniffed into
another type; and a method a path does not take is answered 405 with every method it
does take."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from services.analytics.main import create_app as analytics_app
from services.escalation.main import create_app as escalation_app
from services.notify.gateway import create_app as gateway_app
from services.workbench.main import create_app as workbench_app
from shared.api import create_service_app
from shared.headers import DEFAULT_POLICY
from shared.settings import Settings
from tests.conftest import ServiceEnv
from tests.notify.conftest import notify_config


def directives(answer: Any) -> dict[str, list[str]]:
    policy = answer.headers["content-security-policy"]
    found: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        found[name] = sources
    return found


def assert_guarded_page(answer: Any) -> dict[str, list[str]]:
    """An HTML page under a policy: nothing inline without a hash, no frames."""
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["x-frame-options"] == "DENY"
    found = directives(answer)
    assert found["frame-ancestors"] == ["'none'"]
    assert found["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in found["script-src"]
    assert "'unsafe-eval'" not in found["script-src"]
    # Every inline script on the page is allowed by its hash, and only those.
    inline = re.findall(r"<script>(.*?)</script>", answer.text, re.DOTALL)
    hashes = {
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in inline
    }
    assert {s for s in found["script-src"] if s.startswith("'sha256-")} == hashes
    return found


@pytest.fixture
def analytics(service_env: Callable[[str], ServiceEnv]) -> Iterator[tuple[TestClient, ServiceEnv]]:
    env = service_env("analytics")
    with TestClient(analytics_app(env.settings)) as client:
        yield client, env


@pytest.mark.postgres
def test_the_dashboard_runs_under_the_strict_policy(
    analytics: tuple[TestClient, ServiceEnv],
) -> None:
    client, _ = analytics
    page = client.get("/dashboard")
    assert_guarded_page(page)
    assert page.headers["content-security-policy"] == DEFAULT_POLICY
    assert "<script>" not in page.text and "<style>" not in page.text
    script = client.get("/dashboard/assets/dashboard.js")
    assert script.headers["x-content-type-options"] == "nosniff"


@pytest.mark.postgres
def test_the_monthly_report_page_allows_its_own_style_and_nothing_else_inline(
    service_env: Callable[[str], ServiceEnv],
) -> None:
    """The report is a page that prints and saves on its own, style included."""
    from shared.clock import ManualClock
    from tests.analytics.conftest import load
    from tests.analytics.story import NOW, fixture_month

    env = service_env("analytics")
    story = fixture_month()
    assert load(env.db, story.events) == len(story.events)
    with TestClient(analytics_app(env.settings, clock=ManualClock(NOW))) as client:
        page = client.get(
            "/analytics/departments/billing/report",
            params={"month": "2026-03", "format": "html"},
            headers=env.token("qa", "Q01"),
        )
    found = assert_guarded_page(page)
    style = re.search(r"<style>(.*?)</style>", page.text, re.DOTALL)
    assert style is not None
    digest = base64.b64encode(hashlib.sha256(style.group(1).encode()).digest()).decode()
    assert found["style-src"] == ["'self'", f"'sha256-{digest}'"]


@pytest.mark.postgres
def test_the_api_docs_pages_name_their_cdn_and_nothing_more(
    analytics: tuple[TestClient, ServiceEnv],
) -> None:
    client, _ = analytics
    docs = client.get("/docs")
    found = assert_guarded_page(docs)
    assert "https://cdn.jsdelivr.net" in found["script-src"]
    assert len([s for s in found["script-src"] if s.startswith("'sha256-")]) == 1
    assert "/openapi.json" in docs.text
    assert_guarded_page(client.get("/docs/oauth2-redirect"))
    redoc = client.get("/redoc")
    assert_guarded_page(redoc)
    assert directives(redoc)["worker-src"] == ["'self'", "blob:"]
    assert client.get("/openapi.json").status_code == 200


@pytest.mark.postgres
def test_a_json_answer_is_not_sniffed_into_anything_else(
    analytics: tuple[TestClient, ServiceEnv],
) -> None:
    client, env = analytics
    for answer in (
        client.get("/healthz"),
        client.get("/analytics/filters", headers=env.token("viewer", "V01")),
        client.get("/analytics/filters"),  # a refusal too
    ):
        assert answer.headers["content-type"].startswith("application/json")
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_the_development_sms_gateway_page_has_no_inline_script_or_style() -> None:
    with TestClient(gateway_app(notify_config())) as client:
        page = client.get("/")
        assert_guarded_page(page)
        assert page.headers["content-security-policy"] == DEFAULT_POLICY
        assert "<script>" not in page.text and "<style>" not in page.text
        for asset in ("assets/gateway.js", "assets/gateway.css"):
            answer = client.get(f"/{asset}")
            assert answer.status_code == 200, asset
            assert asset in page.text
        assert_guarded_page(client.get("/docs"))


@pytest.mark.postgres
def test_the_workbench_pages_carry_the_policy(
    service_env: Callable[[str], ServiceEnv],
) -> None:
    env = service_env("workbench")
    with TestClient(workbench_app(env.settings), follow_redirects=False) as client:
        sign_in = client.get("/sign-in")
        assert_guarded_page(sign_in)
        assert sign_in.headers["content-security-policy"] == DEFAULT_POLICY
        assert "style=" not in sign_in.text
        missing = client.get("/no-such-page")
        assert missing.headers["x-content-type-options"] == "nosniff"
        assert directives(missing)["frame-ancestors"] == ["'none'"]
        assert client.get("/healthz").headers["x-content-type-options"] == "nosniff"


def test_no_workbench_template_styles_an_element_inline() -> None:
    """The workbench's policy allows no inline style: a style="…" in a template would be
    ignored by the browser (a bar chart without bars)."""
    from services.workbench.pages import TEMPLATES

    for template in TEMPLATES.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert "style=" not in text and "<style" not in text, template.name
        assert not re.search(r"<script>", text), template.name


# -- 405 -------------------------------------------------------------------------------


def things(settings: Settings) -> TestClient:
    router = APIRouter()

    @router.get("/things")
    def list_things() -> list[str]:
        return []

    @router.post("/things")
    def add_thing() -> dict[str, str]:
        return {}

    @router.put("/things/{thing_id}")
    def replace_thing(thing_id: str) -> dict[str, str]:
        return {}

    app = create_service_app(
        service="analytics",
        title="Things",
        description="A path with a route per method.",
        settings=settings,
        routers=[router],
    )
    return TestClient(app)


def test_a_405_names_every_method_the_path_takes() -> None:
    client = things(Settings())  # no lifespan: routing and errors only
    answer = client.delete("/things")
    assert answer.status_code == 405
    # FastAPI's routes answer HEAD only where one says so: the header says what works.
    assert answer.headers["allow"] == "GET, POST"
    assert answer.json() == {
        "error": "method_not_allowed",
        "message": "DELETE is not allowed on /things: use GET, POST",
    }
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert client.get("/things/t-1").headers["allow"] == "PUT"


@pytest.mark.postgres
def test_the_directory_says_which_methods_it_takes(
    service_env: Callable[[str], ServiceEnv],
) -> None:
    env = service_env("escalation")
    with TestClient(escalation_app(env.settings)) as client:
        admin = env.token("admin", "AD01")
        answer = client.patch("/staff", json={}, headers=admin)
        assert answer.status_code == 405
        assert answer.headers["allow"] == "GET, POST"
        assert client.delete("/staff/DM01", headers=admin).headers["allow"] == "GET, PUT"


@pytest.mark.postgres
def test_a_workbench_405_names_every_method_too(
    service_env: Callable[[str], ServiceEnv],
) -> None:
    env = service_env("workbench")
    with TestClient(workbench_app(env.settings), follow_redirects=False) as client:
        answer = client.put("/sign-in")
        assert answer.status_code == 405
        assert answer.headers["allow"] == "GET, POST"
