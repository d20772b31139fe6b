"""A complaint's attachments on its page, without a browser or a database: the list (with
links to the files for those who may open them), the form for those who may attach, and
the history entry that says what was attached, by whom."""

from __future__ import annotations

from typing import Any

import httpx
from starlette.requests import Request

from services.workbench.access.flows import User
from services.workbench.apis import Apis
from services.workbench.complaints.flows import complaint_page
from services.workbench.config import WorkbenchConfig
from services.workbench.pages import render
from shared.settings import SERVICE_PORTS
from shared.vocabulary import Role

CONFIG = WorkbenchConfig()
PHOTO = {
    "id": "F1",
    "complaint_id": "C1",
    "name": "水管爆裂.jpg",
    "content_type": "image/jpeg",
    "size": 2_200_000,
    "sha256": "ab" * 32,
    "source": "agent",
    "uploaded_by": "A001",
    "uploaded_at": "2026-12-05T01:00:00+00:00",
    "scan": "clean",
}
ENTRY = {
    "seq": 3,
    "at": "2026-12-05T01:00:01+00:00",
    "actor_id": "A001",
    "actor_role": "agent",
    "action": "attachment",
    "from_state": "dispatched",
    "to_state": "dispatched",
    "event_type": "complaint.attachment_added",
    "event_id": "e1",
    "payload": {k: PHOTO[k] for k in ("name", "content_type", "size", "sha256", "source")},
    "prev_hash": "0" * 64,
    "hash": "1" * 64,
}


def page_of(user: User, state: str = "dispatched") -> str:
    service_at = {port: name for name, port in SERVICE_PORTS.items()}

    def answer(request: httpx.Request) -> httpx.Response:
        service, path = service_at.get(request.url.port or 0), request.url.path
        if service == "escalation" and path == "/complaints/C1":
            body = {"id": "C1", "state": state, "department_id": "billing"}
            return httpx.Response(200, json=body | {"allowed_actions": []})
        if service == "escalation" and path.endswith("/history"):
            return httpx.Response(200, json=[ENTRY])
        if service == "intake" and path == "/complaints/C1/attachments":
            return httpx.Response(200, json=[PHOTO])
        return httpx.Response(200, json=[] if path.endswith(("notes", "feedback")) else {})

    apis = Apis(CONFIG, transport=httpx.MockTransport(answer))
    try:
        page = complaint_page(apis, user, "C1")
    finally:
        apis.close()
    request = Request({"type": "http", "method": "GET", "path": "/complaints/C1", "headers": []})
    response = render(request, "complaint.html", CONFIG, user=user, page=page, c=page.state)
    return bytes(response.body).decode()


def person(role: Role, staff: str, department: str | None = None) -> User:
    return User("s", staff, "某某", role, department, "token", "csrf-of-the-session")


def form_of(html: str) -> str | None:
    marker = '<details class="action" data-action="attachment"'
    if marker not in html:
        return None
    form = html[html.index(marker) :]
    return form[: form.index("</details>")]


def test_the_history_says_what_was_attached_and_by_whom() -> None:
    html = page_of(person(Role.AGENT, "A001"))
    history = html[html.index('data-test="history"') :]
    assert "附件：</strong>水管爆裂.jpg (image/jpeg, 2.1 MB) 上传人 A001" in history


def test_the_clerk_of_the_holding_department_opens_the_files_and_attaches_the_reply() -> None:
    html = page_of(person(Role.DEPARTMENT, "B07", "billing"))
    listed = html[html.index('data-test="attachments"') :]
    assert '<a href="/complaints/C1/attachments/F1">水管爆裂.jpg</a>' in listed
    assert "(image/jpeg, 2.1 MB)" in listed
    form = form_of(html)
    assert form is not None
    assert 'enctype="multipart/form-data"' in form
    assert 'action="/complaints/C1/attachments"' in form
    assert 'name="csrf_token" value="csrf-of-the-session"' in form
    assert 'name="source"' not in form  # a clerk's file is their department's reply
    # Once the complaint has gone back to the desk, the clerk attaches nothing more.
    assert form_of(page_of(person(Role.DEPARTMENT, "B07", "billing"), "with_duty_manager")) is None


def test_an_agent_says_where_a_file_came_from() -> None:
    form = form_of(page_of(person(Role.AGENT, "A001")))
    assert form is not None
    options: list[Any] = [o.split('"')[1] for o in form.split("<option value=")[1:]]
    assert options == ["agent", "web", "mms"]


def test_qa_sees_what_is_attached_but_no_link_and_no_form() -> None:
    html = page_of(person(Role.QA, "Q01"))
    listed = html[html.index('data-test="attachments"') :]
    assert "水管爆裂.jpg" in listed
    assert "/complaints/C1/attachments/F1" not in html
    assert form_of(html) is None
