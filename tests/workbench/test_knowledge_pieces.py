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
