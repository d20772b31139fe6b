"""Clerks and their complaints on the workbench, without a browser: the clerk's queue shows
their own first, then what nobody has taken with a 领取 button, then what colleagues
hold; the head also reads each clerk's load; the workload page gives a complaint to a
clerk; a complaint's page offers take, give back and give to a clerk as they fit."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.datastructures import FormData
from starlette.requests import Request

from services.workbench.access.flows import User
from services.workbench.admin.views import _department
from services.workbench.apis import Apis
from services.workbench.complaints.flows import action_body, complaint_page
from services.workbench.config import WorkbenchConfig
from services.workbench.pages import render
from services.workbench.queues.views import _workload_of_head, assign
from shared.settings import SERVICE_PORTS
from shared.vocabulary import Action, Role

CONFIG = WorkbenchConfig()
CLERK = User("s", "B07", "陈会计", Role.DEPARTMENT, "billing", "token", "csrf-B07")
HEAD = User("s", "BH1", "钱部长", Role.DEPARTMENT, "billing", "token", "csrf-BH1")
SERVICE_AT = {port: name for name, port in SERVICE_PORTS.items()}

WORKLOAD = {
    "department_id": "billing",
    "assignment": "round_robin",
    "clerks": [
        {"staff_id": "B07", "name": "陈会计", "head": False, "open": 3, "overdue": 1,
         "due_soon": 2, "taken_today": 4, "last_assigned_at": "2026-12-05T02:10:00+00:00"},
        {"staff_id": "B08", "name": "周会计", "head": False, "open": 1, "overdue": 0,
         "due_soon": 0, "taken_today": 1, "last_assigned_at": None},
        {"staff_id": "BH1", "name": "钱部长", "head": True, "open": 0, "overdue": 0,
         "due_soon": 0, "taken_today": 0, "last_assigned_at": None},
    ],
    "unowned": 2,
    "unowned_overdue": 1,
    "due_within_minutes": 120,
    "day_starts_at": "2026-12-04T16:00:00+00:00",
}  # fmt: skip


def item(reference: str, holder: str | None, state: str = "dispatched") -> dict[str, Any]:
    return {
        "id": f"id-{reference}",
        "reference": reference,
        "state": state,
        "category": "billing",
        "severity": "normal",
        "strong_emotion": False,
        "holder_staff_id": holder,
        "holder_role": "department",
        "department_id": "billing",
        "stage": "acceptance",
        "due_at": "2026-12-05T08:00:00+00:00",
        "overdue": False,
        "escalation_level": 0,
        "bounce_count": 0,
        "reopen_count": 0,
        "pending_extension": False,
        "description": f"{reference} 的投诉内容",
        "instructions": "核对账单",
    }


QUEUE = {
    "items": [item("MINE-1", "B07"), item("FREE-1", None), item("THEIRS-1", "B08")],
    "overdue": 0,
}


def page(path: str, template: str, user: User, **context: Any) -> str:
    request = Request({"type": "http", "method": "GET", "path": path, "headers": []})
    return bytes(render(request, template, CONFIG, user=user, **context).body).decode()


def section(html: str, test: str) -> str:
    """The table a `data-test` names, up to its end."""
    start = html.index(f'data-test="{test}"')
    return html[start : html.index("</table>", start)]


def apis_answering(answers: dict[str, Any], asked: list[tuple[str, str, Any]]) -> Apis:
    """Escalation answering each path from `answers` (a status and a body, or a body)."""

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body = request.content.decode() if request.content else None
        asked.append((request.method, path, body))
        found = answers.get(path, [] if path.endswith(("history", "notes", "feedback")) else {})
        if isinstance(found, tuple):
            return httpx.Response(found[0], json=found[1])
        return httpx.Response(200, json=found)

    return Apis(CONFIG, transport=httpx.MockTransport(answer))


def test_the_clerk_sees_their_own_first_then_what_nobody_has_taken_to_take() -> None:
    html = page("/department", "department.html", CLERK, queue=QUEUE, replied=[], workload=None)
    mine, free = section(html, "my-complaints"), section(html, "unowned")
    theirs = section(html, "colleagues")
    assert "MINE-1" in mine and "FREE-1" not in mine and "THEIRS-1" not in mine
    assert "FREE-1" in free and "MINE-1" not in free
    assert "THEIRS-1" in theirs and "B08" in theirs
    assert html.index("MINE-1") < html.index("FREE-1") < html.index("THEIRS-1")
    # 领取 on what nobody has, as a form carrying the session's check, nowhere else.
    assert html.count('data-test="take"') == 1
    form = re.search(
        r'<form method="post" action="/complaints/id-FREE-1/actions/take">.*?</form>', free
    )
    assert (
        form and 'name="csrf_token" value="csrf-B07"' in form.group(0) and "领取" in form.group(0)
    )
    # Every complaint still shows within the department's queue (its refresh target).
    queue = html[html.index('data-test="our-queue"') :]
    assert all(ref in queue for ref in ("MINE-1", "FREE-1", "THEIRS-1"))
    assert 'data-test="head-workload"' not in html


def test_the_head_reads_each_clerks_load_and_a_clerk_who_is_not_the_head_does_not() -> None:
    asked: list[tuple[str, str, Any]] = []
    answers = {
        "/departments/billing": {"id": "billing", "head_staff_id": "BH1"},
        "/departments/billing/workload": WORKLOAD,
    }
    apis = apis_answering(answers, asked)
    try:
        assert _workload_of_head(apis, HEAD) == WORKLOAD
        assert _workload_of_head(apis, CLERK) is None
    finally:
        apis.close()
    # The clerk's page never asks for the workload.
    assert [p for _, p, _ in asked].count("/departments/billing/workload") == 1
    html = page("/department", "department.html", HEAD, queue=QUEUE, replied=[], workload=WORKLOAD)
    table = section(html, "workload")
    row = re.search(r'<tr data-clerk="B07">(.*?)</tr>', table, re.S)
    assert row
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    assert [re.sub(r"<[^>]+>", "", c).strip() for c in cells[1:5]] == ["3", "1", "2", "4"]
    assert "12-05 10:10" in cells[5]  # the centre's time
    assert "负责人" in table  # BH1 marked as the head
    assert "待领取 2" in html and "轮流分配" in html
    assert 'href="/workload/billing"' in html


def form_request(path: str, data: dict[str, str]) -> Request:
    body = urlencode(data).encode()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "headers": headers,
        "query_string": b"",
    }
    return Request(scope, receive)


def test_the_workload_page_gives_a_complaint_to_a_clerk_and_says_why_when_refused() -> None:
    asked: list[tuple[str, str, Any]] = []
    answers: dict[str, Any] = {
        "/departments/billing/workload": WORKLOAD,
        "/departments/billing/queue": QUEUE,
        "/complaints/id-FREE-1/assign-clerk": {"action": "assign-clerk"},
    }
    apis = apis_answering(answers, asked)
    try:
        data = {"complaint_id": "id-FREE-1", "clerk": "B08", "csrf_token": "csrf-BH1"}
        done = asyncio.run(
            assign(form_request("/workload/billing/assign", data), CONFIG, apis, HEAD, "billing")
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/workload/billing?done=B08"
        assert ("POST", "/complaints/id-FREE-1/assign-clerk", '{"clerk":"B08"}') in asked
        refusal = {"message": "among the department's clerks only its head assigns complaints"}
        answers["/complaints/id-FREE-1/assign-clerk"] = (403, refusal)
        refused = asyncio.run(
            assign(form_request("/workload/billing/assign", data), CONFIG, apis, CLERK, "billing")
        )
        assert refused.status_code == 403
        assert "only its head assigns" in bytes(refused.body).decode()
        empty = asyncio.run(
            assign(form_request("/workload/billing/assign", {}), CONFIG, apis, HEAD, "billing")
        )
        assert empty.status_code == 422
    finally:
        apis.close()
    html = page("/workload/billing", "workload.html", HEAD, workload=WORKLOAD, queue=QUEUE)
    free = html[html.index('data-reference="FREE-1"') :]
    free = free[: free.index("</tr>")]
    assert 'action="/workload/billing/assign"' in free
    assert '<input type="hidden" name="complaint_id" value="id-FREE-1">' in free
    assert '<option value="B08" >周会计 (1)</option>' in free
    theirs = html[html.index('data-reference="THEIRS-1"') :]
    assert '<option value="B08" disabled>' in theirs[: theirs.index("</tr>")]


def clerks_page(state: dict[str, Any], allowed: list[Action]) -> tuple[str, list[str]]:
    """A complaint's page for the head, escalation offering `allowed`."""
    asked: list[tuple[str, str, Any]] = []
    complaint = {"id": "C1", "reference": "TS1", "department_id": "billing", **state}
    complaint["allowed_actions"] = [a.api_name for a in allowed]
    answers = {"/complaints/C1": complaint, "/departments/billing/workload": WORKLOAD}
    apis = apis_answering(answers, asked)
    try:
        found = complaint_page(apis, HEAD, "C1")
    finally:
        apis.close()
    html = page("/complaints/C1", "complaint.html", HEAD, page=found, c=found.state)
    return html, [path for _, path, _ in asked]


def test_a_complaints_page_offers_take_give_back_and_give_to_a_clerk_as_they_fit() -> None:
    everything = [Action.TAKE, Action.ASSIGN_CLERK, Action.RELEASE]
    unowned, asked = clerks_page({"state": "dispatched", "holder_staff_id": None}, everything)
    assert 'data-action="take"' in unowned and 'data-action="release"' not in unowned
    assert "/departments/billing/workload" in asked
    form = unowned[unowned.index('data-action="assign-clerk"') :]
    form = form[: form.index("</details>")]
    assert 'action="/complaints/C1/actions/assign-clerk"' in form
    assert "陈会计 (B07) · 3 / 1" in form and 'name="clerk" required' in form
    owned, _ = clerks_page({"state": "in_progress", "holder_staff_id": "B07"}, everything)
    assert 'data-action="release"' in owned and 'data-action="take"' not in owned
    assert '<option value="B07" disabled>' in owned
    # Nothing to give: the clerks are not asked for.
    _, asked = clerks_page({"state": "dispatched", "holder_staff_id": None}, [Action.TAKE])
    assert "/departments/billing/workload" not in asked
    assert action_body(Action.ASSIGN_CLERK, FormData([("clerk", " B08 ")]), CONFIG) == {
        "clerk": "B08"
    }


def test_the_administrator_chooses_how_a_department_hands_out_its_complaints() -> None:
    chosen = FormData([("name", "账务部"), ("assignment", "least_loaded"), ("active", "on")])
    assert _department(chosen)["assignment"] == "least_loaded"
    # A form without the choice leaves the department's own in place (None: unchanged).
    assert _department(FormData([("name", "账务部")]))["assignment"] is None
    departments = [
        {"id": "billing", "name": "账务部", "contact_phones": [], "head_staff_id": "BH1",
         "active": True, "assignment": "round_robin"},
    ]  # fmt: skip
    admin = User("s", "AD01", "管理员", Role.ADMIN, None, "token", "csrf")
    html = page(
        "/admin/departments", "admin_departments.html", admin, departments=departments, loads={}
    )
    row = html[html.index('action="/admin/departments/billing"') :]
    assert '<option value="round_robin" selected>轮流分配</option>' in row[: row.index("</form>")]
