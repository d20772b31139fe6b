"""The knowledge base on the registration page, without a browser or a database: what
the agent is typing is sent to intake's suggestions, each article comes up with its
answer to read out and why, and the one the agent answered from goes with the
registration."""

from __future__ import annotations

import re
from typing import Any

import httpx
from starlette.datastructures import FormData
from starlette.requests import Request

from services.workbench.access.flows import User
from services.workbench.apis import Apis
from services.workbench.complaints.flows import matching_articles, registration_body
from services.workbench.config import WorkbenchConfig
from services.workbench.pages import render
from shared.vocabulary import Role

CONFIG = WorkbenchConfig()
AGENT = User("s", "A001", "小刘", Role.AGENT, None, "token", "csrf")
HEATING = {
    "article": {
        "id": 7,
        "question": "A市冬天有没有集中供暖？",
        "answer": "A市不在国家集中供暖范围内，目前没有统一供暖的规划。",
    },
    "score": 0.44,
    "shared_words": ["供暖", "冬天"],
    "same_category": True,
}


def _page(template: str, **context: Any) -> str:
    request = Request({"type": "http", "method": "GET", "path": "/register", "headers": []})
    return bytes(render(request, template, CONFIG, user=AGENT, **context).body).decode()


def test_what_the_agent_types_is_matched_against_the_clients_approved_articles() -> None:
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={"items": [HEATING], "tenant": "water"})

    apis = Apis(CONFIG, transport=httpx.MockTransport(answer))
    try:
        found = matching_articles(
            apis, AGENT, " 冬天太冷了，能不能统一供暖 ", "urban_construction", "water"
        )
        assert matching_articles(apis, AGENT, " 冷", "", "water") == []  # too little to match
    finally:
        apis.close()
    [request] = sent
    assert request.url.path == "/knowledge/suggest"
    assert dict(request.url.params) == {
        "description": "冬天太冷了，能不能统一供暖",
        "category": "urban_construction",
        "tenant": "water",
    }
    assert found == [HEATING]


def test_each_article_comes_up_with_its_answer_and_a_choice_that_goes_with_the_registration() -> (
    None
):
    html = _page("_articles.html", articles=[HEATING], answered_from_article="")
    assert 'data-test="articles"' in html and "A市冬天有没有集中供暖？" in html
    assert "A市不在国家集中供暖范围内" in html  # the answer to read out
    assert "供暖 冬天" in html and "(44%" in html and "同一类别" in html
    choice = re.search(r'<input[^>]*data-test="answered-from-7"[^>]*>', html)
    assert choice is not None
    assert 'form="register-form"' in choice.group(0) and 'value="7"' in choice.group(0)
    assert "checked" not in choice.group(0)
    chosen = _page("_articles.html", articles=[HEATING], answered_from_article="7")
    again = re.search(r'<input[^>]*data-test="answered-from-7"[^>]*>', chosen)
    assert again is not None and "checked" in again.group(0)
    assert _page("_articles.html", articles=[], answered_from_article="").strip() == ""
    # The registration page asks for them as the text or the category changes.
    form = _page("register.html", values={}, fields={}, request_id="r1", articles=[])
    panel = re.search(r'<div id="articles"[^>]*>', form)
    assert panel is not None and 'hx-get="/register/articles"' in panel.group(0)
    assert 'id="register-form"' in form


def test_the_article_answered_from_goes_to_intake_as_its_number() -> None:
    form = FormData(
        [
            ("category", "urban_construction"),
            ("description", "供暖"),
            ("answered_from_article", "7"),
        ]
    )
    assert registration_body(form)["answered_from_article"] == 7
    none = FormData([("category", "urban_construction"), ("answered_from_article", "")])
    assert "answered_from_article" not in registration_body(none)


def _agents_page(state: dict[str, Any], article: dict[str, Any] | None) -> tuple[list[str], str]:
    """The agent's page of a complaint they just registered, escalation offering them the
    first-contact closure: what intake was asked, and the page."""
    from services.workbench.complaints.flows import complaint_page
    from shared.settings import SERVICE_PORTS

    service_at = {port: name for name, port in SERVICE_PORTS.items()}
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        service, path = service_at.get(request.url.port or 0), request.url.path
        if service == "intake":
            asked.append(path)
        if service == "escalation" and path == "/complaints/C1":
            return httpx.Response(200, json=state)
        if service == "intake" and path.startswith("/knowledge/articles/"):
            return httpx.Response(200, json=article) if article else httpx.Response(404, json={})
        return httpx.Response(
            200, json=[] if path.endswith(("history", "notes", "feedback")) else {}
        )

    apis = Apis(CONFIG, transport=httpx.MockTransport(answer))
    try:
        page = complaint_page(apis, AGENT, "C1")
    finally:
        apis.close()
    request = Request({"type": "http", "method": "GET", "path": "/complaints/C1", "headers": []})
    html = bytes(
        render(request, "complaint.html", CONFIG, user=AGENT, page=page, c=page.state).body
    ).decode()
    return asked, html


def test_the_agent_closes_at_first_contact_with_the_articles_answer_already_written() -> None:
    state = {
        "id": "C1",
        "reference": "TS20261205-000001",
        "state": "with_duty_manager",
        "description": "能不能统一供暖？",
        "answered_from_article": 7,
        "allowed_actions": ["resolve-at-first-contact"],
    }
    asked, html = _agents_page(state, HEATING["article"])
    assert "/knowledge/articles/7" in asked
    form = html[html.index('data-action="resolve-at-first-contact"') :]
    form = form[: form.index("</details>")]
    assert "<summary>当场解答办结</summary>" in form and "open" in form.split(">")[0]
    assert 'action="/complaints/C1/actions/resolve-at-first-contact"' in form
    assert "A市不在国家集中供暖范围内，目前没有统一供暖的规划。</textarea>" in form
    confirmed = re.search(r'<input[^>]*name="customer_confirmed"[^>]*>', form)
    assert confirmed is not None and "required" in confirmed.group(0)
    # From no article: the form is there, the answer is the agent's to write.
    state.pop("answered_from_article")
    asked, html = _agents_page(state, None)
    assert not any(p.startswith("/knowledge") for p in asked)
    assert 'data-action="resolve-at-first-contact"' in html
    assert 'name="resolution" required></textarea>' in html


def test_the_callers_confirmation_goes_to_escalation_as_true() -> None:
    from services.workbench.complaints.flows import action_body
    from shared.vocabulary import Action

    form = FormData([("resolution", " 已告知不在集中供暖范围 "), ("customer_confirmed", "on")])
    assert action_body(Action.RESOLVE_AT_FIRST_CONTACT, form, CONFIG) == {
        "resolution": "已告知不在集中供暖范围",
        "customer_confirmed": True,
    }
    unticked = FormData([("resolution", "已告知")])
    assert "customer_confirmed" not in action_body(
        Action.RESOLVE_AT_FIRST_CONTACT, unticked, CONFIG
    )


def test_qa_marks_a_reply_as_a_model_answer_and_reads_the_articles_to_write() -> None:
    """QA's two pieces of the knowledge base in the workbench: the form that turns a
    department's reply into a draft article, on a replied complaint only, and the month's
    hot issues no article answers on the reports page."""
    from services.workbench.access.flows import User
    from services.workbench.complaints.flows import ComplaintPage
    from shared.vocabulary import Role
    from tests.workbench.test_pieces import _page

    qa = User("s", "Q01", "吴质检", Role.QA, None, "t", "c")
    state = {"id": "C1", "reference": "TS20261205-000001", "state": "replied",
             "category": "service", "allowed_actions": [], "description": "停水"}  # fmt: skip
    page = ComplaintPage(state=state, registered=state, history=[], notes=[], feedback=[])
    html = _page("/complaints/C1", "complaint.html", qa, page=page, c=state)
    assert 'action="/complaints/C1/model-answer"' in html
    received = {**state, "state": "received"}
    early = _page("/complaints/C1", "complaint.html", qa, page=page, c=received)
    assert "/model-answer" not in early
    agent = User("s", "A001", "小刘", Role.AGENT, None, "t", "c")
    assert "/model-answer" not in _page(
        "/complaints/C1", "complaint.html", agent, page=page, c=state
    )

    to_write = [{"label": "翠湖花园：电梯故障", "callers": 20, "complaints": 20}]
    answered = [{"label": "A市：停水", "articles": [{"question": "停水多久恢复？"}]}]
    gaps = {"to_write": to_write, "answered": answered}
    overview = {"volume": 1, "open": 0, "overdue": 0, "closed": 1, "satisfaction": {"rate": None},
                "reopen_rate": None, "escalations": 0, "sla": []}  # fmt: skip
    reports = _page("/qa", "qa.html", qa, month="2026-12", months=["2026-12"], overview=overview,
                    causes={"causes": []}, sla=[], departments=[], gaps=gaps)  # fmt: skip
    card = reports[reports.index('data-test="knowledge-gaps"') :]
    assert "翠湖花园：电梯故障" in card and "停水多久恢复？" in card
