"""The workbench's own pieces, without a browser or a database: forms turned into the
APIs' bodies, labels in both languages, the password rules, where a sign-in may send
the browser, pages that name nothing outside the workbench, and analytics' root-cause
suggestion preselected only when there is one."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.datastructures import FormData
from starlette.requests import Request

from services.workbench.access.flows import PasswordRefused, User, check_password
from services.workbench.access.views import safe_next
from services.workbench.apis import Apis
from services.workbench.complaints.flows import (
    OFFERED,
    ComplaintPage,
    Search,
    action_body,
    complaint_page,
    marked,
    possible_duplicates,
    registration_body,
    search,
    suggest_from_draft,
)
from services.workbench.config import WorkbenchConfig
from services.workbench.pages import STATIC, TEMPLATES, Labels, env, render
from services.workbench.roster.views import week_of
from shared.settings import SERVICE_PORTS
from shared.vocabulary import Action, Role, RootCause

CONFIG = WorkbenchConfig()


def test_an_action_form_becomes_the_actions_body_with_times_in_the_centres_zone() -> None:
    form = FormData(
        [
            ("csrf_token", "x"),
            ("until", "2026-12-08T18:00"),
            ("reason", "  需调取录音 "),
            ("department_id", ""),
            ("with_compensation", "on"),
        ]
    )
    body = action_body(Action.REQUEST_EXTENSION, form, CONFIG)
    assert body == {
        "until": "2026-12-08T18:00:00+08:00",
        "reason": "需调取录音",
        "with_compensation": True,
    }
    # A time the service cannot read is passed on, for the service to name the fault.
    assert action_body(Action.REQUEST_EXTENSION, FormData([("until", "soon")]), CONFIG) == {
        "until": "soon"
    }


def test_the_lifecycles_own_actions_are_never_offered_as_forms() -> None:
    assert Action.ASSIGN not in OFFERED and Action.HAND_OVER not in OFFERED
    assert Action.FEEDBACK not in OFFERED  # the agent records it through intake
    assert Action.REASSIGN in OFFERED and Action.DISPATCH in OFFERED


def test_a_registration_form_becomes_intakes_body() -> None:
    form = FormData(
        [
            ("customer_phone", " 138 0013 8000 "),
            ("customer_name", ""),
            ("channel", "phone"),
            ("category", "billing"),
            ("description", "账单多扣"),
            ("location", " 人民路 88 号营业厅 "),
            ("strong_emotion", "on"),
        ]
    )
    assert registration_body(form) == {
        "customer_phone": "138 0013 8000",
        "channel": "phone",
        "category": "billing",
        "description": "账单多扣",
        "location": "人民路 88 号营业厅",
        "strong_emotion": True,
    }
    # Where it happened is asked, not required: left empty, intake is not sent one.
    assert "location" not in registration_body(FormData([("location", "  ")]))


def _intake_answers(body: Any) -> tuple[Apis, list[httpx.Request]]:
    """Apis whose intake answers `body` to everything, and the requests it was sent."""
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json=body)

    return Apis(CONFIG, transport=httpx.MockTransport(answer)), sent


LIKELY = {
    "complaint": {
        "id": "C1",
        "reference": "TS20261205-000001",
        "status": "dispatched",
        "description": "楼下水管破裂，一直在漏水。",
        "registered_at": "2026-12-05T01:00:00+00:00",
    },
    "score": 0.87,
    "reasons": ["same_caller", "same_place", "similar_text"],
    "shared_words": ["水管", "破裂"],
}


def test_the_duplicate_warning_asks_intake_with_the_phone_place_and_text_and_says_why() -> None:
    apis, sent = _intake_answers({"items": [LIKELY], "since": "2026-11-28T00:00:00+00:00"})
    try:
        found = possible_duplicates(apis, AGENT, "138 0013 8000", " 水管破了 ", "幸福里小区")
        assert possible_duplicates(apis, AGENT, "13", " ", "") == []  # nothing to compare
    finally:
        apis.close()
    [request] = sent
    assert request.url.path == "/complaints/similar"
    assert dict(request.url.params) == {
        "phone": "+8613800138000",
        "description": "水管破了",
        "location": "幸福里小区",
    }
    html = _page("/register/duplicates", "_duplicates.html", AGENT, found=found)
    assert 'data-test="duplicate-warning"' in html and "TS20261205-000001" in html
    assert "同一来电人、同一地点、内容相似" in html and "(87%)" in html
    assert "水管 破裂" in html
    assert _page("/register/duplicates", "_duplicates.html", AGENT, found=[]).strip() == ""


def test_a_search_sends_the_filters_with_days_in_the_centres_zone() -> None:
    apis, sent = _intake_answers({"items": [], "next_cursor": None})
    asked = Search(
        q=" 水管 ",
        status="replied",
        department="billing",
        category="billing",
        since="2026-12-01",
        until="2026-12-05",
    )
    try:
        search(apis, AGENT, asked, CONFIG)
        search(apis, AGENT, Search(q="138 0013 8000", until="not a day"), CONFIG)
        assert search(apis, AGENT, Search(q="  "), CONFIG)["items"] == []
    finally:
        apis.close()
    words, phone = (dict(r.url.params) for r in sent)
    assert words == {
        "q": "水管",
        "limit": "50",
        "status": "replied",
        "department": "billing",
        "category": "billing",
        "from": "2026-12-01T00:00:00+08:00",
        "to": "2026-12-06T00:00:00+08:00",
    }
    assert phone == {"phone": "+8613800138000", "limit": "50"}


def test_a_snippet_shows_the_words_found_marked_and_the_rest_escaped() -> None:
    snippet = {"field": "note", "text": "…客户补充：<b>水管</b>破裂", "marks": [[9, 11], [15, 17]]}
    assert marked(snippet) == [
        ("…客户补充：<b>", False),
        ("水管", True),
        ("</b>", False),
        ("破裂", True),
    ]
    result = {
        "id": "C1",
        "reference": "TS20261205-000001",
        "status": "replied",
        "category": "billing",
        "description": "—",
        "registered_at": "2026-12-05T01:00:00+00:00",
        "snippet": snippet,
        "pieces": marked(snippet),
    }
    html = _page(
        "/search",
        "search.html",
        AGENT,
        asked=Search(q="水管 破裂"),
        results=[result],
        departments=[{"id": "billing", "name": "账务部"}],
        next_href="/search?q=x",
    )
    shown = html[html.index('data-test="snippet"') :]
    shown = shown[: shown.index("</td>")]
    assert "补充说明：" in shown
    assert "<mark>水管</mark>&lt;/b&gt;<mark>破裂</mark>" in shown and "<b>" not in shown
    assert '<option value="billing">账务部</option>' in html
    assert 'data-test="next-page"' in html


def test_labels_follow_the_language_and_times_the_centre() -> None:
    zh, en = Labels("zh-CN", CONFIG), Labels("en", CONFIG)
    assert (zh.word("state", "dispatched"), en.word("state", "dispatched")) == (
        "已派单",
        "Dispatched",
    )
    assert zh.word("action", "reassign") == "改派"
    assert zh.word("state", None) == "—"
    assert zh.word("state", "teleported") == "teleported"
    assert zh.category("billing") != "billing"
    assert zh.when("2026-12-04T22:30:00+00:00") == "12-05 06:30"


@pytest.mark.parametrize(
    ("password", "refused"),
    [
        ("short", True),
        ("a-long-enough-one", False),
        (" padded-password ", True),
        ("x-A001-long-one", True),
    ],
)
def test_password_rules(password: str, refused: bool) -> None:
    if refused:
        with pytest.raises(PasswordRefused):
            check_password(password, CONFIG, staff_id="A001")
    else:
        check_password(password, CONFIG, staff_id="A001")


def test_a_sign_in_sends_the_browser_only_to_a_page_of_the_workbench() -> None:
    assert safe_next("/complaints/TS1") == "/complaints/TS1"
    for elsewhere in ("https://evil.example", "//evil.example/x", "/\\evil.example", "", None):
        assert safe_next(elsewhere) is None


def test_a_week_of_the_roster_in_the_centres_days() -> None:
    shifts = [
        {
            "id": "s1",
            "starts_at": "2026-12-07T00:00:00+00:00",
            "ends_at": "2026-12-07T12:00:00+00:00",
        },
        {
            "id": "s2",
            "starts_at": "2026-12-06T10:00:00+00:00",
            "ends_at": "2026-12-07T01:00:00+00:00",
        },
    ]
    days = week_of(CONFIG, shifts, date(2026, 12, 7))
    assert [d["day"].isoformat() for d in days][:2] == ["2026-12-07", "2026-12-08"]
    # 00:00 UTC is 08:00 in Beijing; s2 ends at 09:00 Beijing time on the 7th.
    assert [s["id"] for s in days[0]["shifts"]] == ["s1", "s2"]
    assert days[1]["shifts"] == []


def test_no_page_names_an_address_outside_the_workbench() -> None:
    outside = re.compile(r"""(src|href|action)\s*=\s*["']?(https?:)?//""", re.IGNORECASE)
    for template in sorted(TEMPLATES.glob("*.html")):
        assert not outside.search(template.read_text(encoding="utf-8")), template.name
    css = (STATIC / "workbench.css").read_text(encoding="utf-8")
    assert "url(" not in css and "@import" not in css
    htmx = STATIC / "vendor" / "htmx.min.js"
    assert htmx.stat().st_size > 40_000
    assert "sourceMappingURL" not in htmx.read_text(encoding="utf-8")


def test_every_template_autoescapes() -> None:
    from services.workbench.pages import env

    rendered = env.from_string("{{ value }}").render(value="<script>x</script>")
    assert rendered == "&lt;script&gt;x&lt;/script&gt;"
    for template in Path(TEMPLATES).glob("*.html"):
        assert "|safe" not in template.read_text(encoding="utf-8"), template.name


SUGGESTED = {
    "suggestion": {
        "root_cause": RootCause.SYSTEM.value,
        "label": "系统 System",
        "probability": 0.93,
        "because_of": ["扣费", "系统故障"],
    },
    "offered": True,
    "reason": None,
}
OFF = {
    "suggestion": None,
    "offered": False,
    "reason": "suggestions are off: no better than the commonest cause: …",
}
NOT_CONFIDENT = {"suggestion": None, "offered": True, "reason": "not confident: …"}


def _reply_fields(page: ComplaintPage) -> str:
    """The reply form's resolution and root-cause fields as the page renders them."""
    labels = Labels("zh-CN", CONFIG)
    return env.from_string(
        '{% from "_actions.html" import resolution_fields with context %}'
        "{{ resolution_fields(c, page, 'reply') }}"
    ).render(
        c={"nature": "genuine"},
        page=page,
        tr=labels.tr,
        word=labels.word,
        lang="zh-CN",
        RootCause=RootCause,
    )


def _clerk_page(analytics_says: dict[str, object] | None) -> tuple[ComplaintPage, str]:
    """A department clerk's page of a complaint they may reply to, with analytics'
    answer about its root cause (None: analytics refuses, e.g. too few tagged), and the
    reply form's root-cause fields as the page renders them."""
    service_at = {port: name for name, port in SERVICE_PORTS.items()}

    def answer(request: httpx.Request) -> httpx.Response:
        service, path = service_at.get(request.url.port or 0), request.url.path
        if service == "analytics" and path.endswith("/root-cause/suggestion"):
            if analytics_says is None:
                return httpx.Response(409, json={"error": "conflict", "message": "too few"})
            return httpx.Response(200, json=analytics_says)
        if service == "escalation" and path == "/complaints/C1":
            return httpx.Response(
                200, json={"id": "C1", "allowed_actions": [Action.REPLY.api_name]}
            )
        return httpx.Response(200, json=[] if path.endswith(("history", "notes")) else {})

    apis = Apis(CONFIG, transport=httpx.MockTransport(answer))
    user = User("s", "B07", "陈会计", Role.DEPARTMENT, "billing", "token", "csrf")
    try:
        page = complaint_page(apis, user, "C1")
    finally:
        apis.close()
    return page, _reply_fields(page)


def _drafted(analytics_says: dict[str, object] | None, draft: str) -> tuple[list[Any], str]:
    """The reply form after the clerk pressed "suggest a root cause" with this draft:
    what analytics was sent, and the form as rendered."""
    sent: list[Any] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        if analytics_says is None:
            return httpx.Response(409, json={"error": "conflict", "message": "only 3 tagged"})
        return httpx.Response(200, json=analytics_says)

    apis = Apis(CONFIG, transport=httpx.MockTransport(answer))
    user = User("s", "B07", "陈会计", Role.DEPARTMENT, "billing", "token", "csrf")
    page = ComplaintPage(state={"id": "C1"}, registered=None, history=[], notes=[], feedback=[])
    try:
        suggest_from_draft(apis, user, page, draft)
    finally:
        apis.close()
    return sent, _reply_fields(page)


def test_a_clerk_asks_for_a_root_cause_from_the_resolution_being_written() -> None:
    """The draft goes to analytics, comes back in the form with the cause it reads there
    preselected; when analytics names none the clerk reads why; an empty draft is not
    sent at all."""
    draft = "核实为计费系统升级错误，已退还多扣的30元"
    sent, html = _drafted(SUGGESTED, draft)
    assert sent == [{"resolution": draft}]
    assert draft in html and re.search(r'<option value="system" selected>', html)
    assert 'data-test="suggestion"' in html
    sent, html = _drafted(NOT_CONFIDENT, draft)
    assert draft in html and "selected" not in html and "not confident" in html
    sent, html = _drafted(None, draft)
    assert "only 3 tagged" in html and "selected" not in html
    sent, html = _drafted(SUGGESTED, "  ")
    assert sent == [] and "write the resolution first" in html


def test_the_replier_gets_analytics_suggestion_preselected_only_when_there_is_one() -> None:
    page, html = _clerk_page(SUGGESTED)
    assert page.suggestion == SUGGESTED["suggestion"]
    assert re.search(r'<option value="system" selected>', html)
    assert 'data-test="suggestion"' in html and "93%" in html and "系统故障" in html
    for says in (OFF, NOT_CONFIDENT, None):
        page, html = _clerk_page(says)
        assert page.suggestion is None
        assert "selected" not in html and 'data-test="suggestion"' not in html


ESTATE = "朝阳区幸福里小区 3 号楼 2 单元"
AGENT = User("s", "A001", "小刘", Role.AGENT, None, "token", "csrf")
CLERK = User("s", "B07", "陈会计", Role.DEPARTMENT, "billing", "token", "csrf")


def _page(path: str, template: str, user: User, **context: Any) -> str:
    request = Request({"type": "http", "method": "GET", "path": path, "headers": []})
    return bytes(render(request, template, CONFIG, user=user, **context).body).decode()


def test_the_agent_is_asked_where_it_happened_and_a_refused_place_is_kept_with_the_reason() -> None:
    form = _page("/register", "register.html", AGENT, values={}, fields={}, request_id="r1")
    field = re.search(r"<input[^>]*id=\"location\"[^>]*>", form)
    assert field and 'name="location"' in field.group(0) and "required" not in field.group(0)
    assert "事发地点" in form and "小区/楼栋、路名门牌、学校、门店" in form
    far = "幸福里小区" * 41
    refused = _page(
        "/register",
        "register.html",
        AGENT,
        values={"location": far},
        fields={"location": "too long: at most 200 characters"},
        request_id="r1",
    )
    assert f'value="{far}"' in refused
    assert '<div class="field-error">too long: at most 200 characters</div>' in refused


def _department_sees(registered: dict[str, Any]) -> str:
    """The billing clerk's page of a dispatched complaint, with what intake answers."""
    service_at = {port: name for name, port in SERVICE_PORTS.items()}

    def answer(request: httpx.Request) -> httpx.Response:
        service, path = service_at.get(request.url.port or 0), request.url.path
        if path == "/complaints/C1":
            if service == "intake":
                return httpx.Response(200, json=registered)
            return httpx.Response(
                200,
                json={
                    "id": "C1",
                    "reference": "TS20261205-000001",
                    "state": "in_progress",
                    "description": "路灯坏了一个月没人修，晚上很黑。",
                    "department_id": "billing",
                    "allowed_actions": [],
                },
            )
        return httpx.Response(
            200, json=[] if path.endswith(("history", "notes", "feedback")) else {}
        )

    apis = Apis(CONFIG, transport=httpx.MockTransport(answer))
    try:
        page = complaint_page(apis, CLERK, "C1")
    finally:
        apis.close()
    return _page("/complaints/C1", "complaint.html", CLERK, page=page, c=page.state)


def test_the_department_reads_where_it_happened_beside_what_the_caller_said() -> None:
    html = _department_sees({"id": "C1", "status": "in_progress", "location": ESTATE})
    complaint = html[html.index('data-test="description"') :]
    assert complaint.index("路灯坏了一个月没人修") < complaint.index(ESTATE)
    assert re.search(rf'data-test="location">.*{ESTATE}</p>', html)
    nowhere = _department_sees({"id": "C1", "status": "in_progress", "location": None})
    assert 'data-test="location"' not in nowhere and "事发地点" not in nowhere


def _clerk_holding(allowed: list[str], **extra: Any) -> tuple[list[str], str]:
    """The billing clerk's page of a complaint billing holds, escalation offering
    `allowed`: the paths the page asked escalation for, and the page."""
    service_at = {port: name for name, port in SERVICE_PORTS.items()}
    asked: list[str] = []
    departments = [
        {"id": "billing", "name": "账务部"},
        {"id": "network", "name": "网络部"},
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        service, path = service_at.get(request.url.port or 0), request.url.path
        if service == "escalation":
            asked.append(path)
        if service == "escalation" and path == "/complaints/C1":
            state = {"id": "C1", "state": "in_progress", "department_id": "billing"} | extra
            return httpx.Response(200, json=state | {"allowed_actions": allowed})
        if service == "escalation" and path == "/departments":
            assert request.url.params.get("active") == "true"
            return httpx.Response(200, json=departments)
        return httpx.Response(
            200, json=[] if path.endswith(("history", "notes", "feedback")) else {}
        )

    apis = Apis(CONFIG, transport=httpx.MockTransport(answer))
    try:
        page = complaint_page(apis, CLERK, "C1")
    finally:
        apis.close()
    return asked, _page("/complaints/C1", "complaint.html", CLERK, page=page, c=page.state)


def test_a_clerk_transfers_from_a_form_beside_the_return_where_the_centre_allows_it() -> None:
    asked, html = _clerk_holding([Action.RETURN.api_name, Action.TRANSFER.api_name])
    assert "/departments" in asked  # the directory's departments, not the desk's loads
    form = html[html.index('data-action="transfer"') :]
    form = form[: form.index("</details>")]
    assert "<summary>转办</summary>" in form
    assert 'action="/complaints/C1/actions/transfer"' in form
    # Another department to choose, never the one that holds it, and a reason.
    assert '<option value="network">网络部</option>' in form
    assert 'value="billing"' not in form
    assert re.search(r'<input type="text" id="transfer-reason" name="reason" required>', form)
    assert html.index('data-action="return"') < html.index('data-action="transfer"')
    body = action_body(
        Action.TRANSFER, FormData([("department_id", "network"), ("reason", " 线路故障 ")]), CONFIG
    )
    assert body == {"department_id": "network", "reason": "线路故障"}


def test_where_the_centre_has_no_transfers_the_clerk_sees_only_the_return() -> None:
    asked, html = _clerk_holding([Action.RETURN.api_name])
    assert 'data-action="return"' in html
    assert 'data-action="transfer"' not in html and "transfer-department" not in html
    assert "/departments" not in asked  # nothing to choose from, nothing asked


def test_a_complaint_taken_in_between_the_pages_two_reads_opens_from_escalation() -> None:
    """Right after the agent registers: escalation has not taken it in yet (404), and by
    the time intake is asked it has (the lifecycle already reached intake's copy). The
    page asks escalation again rather than ending in 404."""
    service_at = {port: name for name, port in SERVICE_PORTS.items()}
    asked = {"escalation": 0}

    def answer(request: httpx.Request) -> httpx.Response:
        service, path = service_at.get(request.url.port or 0), request.url.path
        if service == "escalation" and path == "/complaints/C1":
            asked["escalation"] += 1
            if asked["escalation"] == 1:
                return httpx.Response(404, json={"error": "not_found", "message": "no C1"})
            return httpx.Response(200, json={"id": "C1", "state": "with_duty_manager",
                                             "allowed_actions": []})  # fmt: skip
        if service == "intake" and path == "/complaints/C1":
            return httpx.Response(200, json={"id": "C1", "status": "with_duty_manager"})
        return httpx.Response(200, json=[] if path.endswith(("history", "notes")) else {})

    apis = Apis(CONFIG, transport=httpx.MockTransport(answer))
    try:
        page = complaint_page(apis, AGENT, "C1")
    finally:
        apis.close()
    assert page.state["state"] == "with_duty_manager" and asked["escalation"] == 2


PAUSING = [Action.REQUEST_PAUSE.api_name, Action.RESUME.api_name, Action.REPLY.api_name]


def test_a_clerk_asks_to_pause_the_clock_and_once_paused_is_offered_only_to_resume_it() -> None:
    _, running = _clerk_holding(PAUSING)
    assert 'data-action="request-pause"' in running and 'data-action="resume"' not in running
    form = running[running.index('data-action="request-pause"') :]
    form = form[: form.index("</details>")]
    assert "<summary>申请挂起</summary>" in form
    assert '<option value="customer">等待客户</option>' in form
    assert '<option value="third_party">等待第三方</option>' in form
    assert 'name="resume_at"' in form and 'name="reason" required' in form
    # The time to resume is typed in the centre's zone and sent with it.
    body = action_body(
        Action.REQUEST_PAUSE,
        FormData(
            [
                ("waiting_on", "customer"),
                ("reason", "等客户发票"),
                ("resume_at", "2026-03-09T09:00"),
            ]
        ),
        CONFIG,
    )
    assert body["waiting_on"] == "customer" and body["reason"] == "等客户发票"
    assert datetime.fromisoformat(body["resume_at"]).utcoffset() is not None

    paused = {"paused_at": "2026-03-02T09:00:00+00:00", "paused_until": "2026-03-09T01:00:00+00:00"}
    _, stopped = _clerk_holding(PAUSING, **paused)
    assert 'data-action="resume"' in stopped and 'data-action="request-pause"' not in stopped
    assert 'data-test="paused"' in stopped and "计时暂停自" in stopped


def test_the_desk_decides_a_request_it_can_read_and_a_duplicate_links_to_its_master() -> None:
    asked = {"waiting_on": "third_party", "reason": "等待供电公司检修", "requested_by": "B07"}
    allowed = [Action.DECIDE_PAUSE.api_name, Action.PAUSE.api_name]
    _, html = _clerk_holding(allowed, pending_pause=asked | {"resume_at": None})
    assert 'data-action="decide-pause"' in html and 'data-action="pause"' not in html
    assert "等待第三方" in html and "等待供电公司检修" in html

    merged = {"state": "closed", "merged_into_reference": "TS20260301-000001"}
    _, duplicate = _clerk_holding([], **merged)
    assert re.search(r'data-test="merged-into"><a href="/c/TS20260301-000001">', duplicate)
    _, master = _clerk_holding([], merged_duplicates=["TS20260301-000002", "TS20260301-000003"])
    assert 'href="/c/TS20260301-000002"' in master and 'href="/c/TS20260301-000003"' in master


def test_a_helper_department_contributes_its_part_and_the_desk_may_release_one_still_owed() -> None:
    parts = [
        {"department_id": "billing", "department_name": "账务部", "status": "accepted",
         "due_at": "2026-03-04T02:00:00+00:00", "overdue": True},
        {"department_id": "roads", "department_name": "道路办", "status": "contributed",
         "contribution": "路面已修补"},
    ]  # fmt: skip
    allowed = [a.api_name for a in (Action.ACCEPT_ASSIST, Action.CONTRIBUTE, Action.DECLINE_ASSIST,
                                    Action.RELEASE_ASSIST)]  # fmt: skip
    _, html = _clerk_holding(allowed, department_id="network", assists=parts)
    # Billing helps here: its part is accepted already, so it contributes or declines.
    assert 'data-action="contribute"' in html and 'data-action="decline-assist"' in html
    assert 'data-action="accept-assist"' not in html
    assert 'name="contribution" required' in html
    shown = html[html.index('data-test="assists"') :]
    assert "账务部 · 协办中" in shown and "已超时" in shown
    assert "道路办 · 已提交协办意见" in shown and "路面已修补" in shown
    # The desk's release form offers only the part still owed.
    form = html[html.index('data-action="release-assist"') :]
    form = form[: form.index("</details>")]
    assert '<option value="billing">账务部</option>' in form and 'value="roads"' not in form

    body = action_body(
        Action.DISPATCH,
        FormData([("department_id", "network"), ("instructions", "主办"),
                  ("assisting", "billing"), ("assisting", "roads")]),
        CONFIG,
    )  # fmt: skip
    assert body["assisting"] == ["billing", "roads"]
