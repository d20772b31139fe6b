"""Who may open which page of the workbench: every route against the table in
tests/robustness/matrix.py (a new page fails the suite until it is entered there), and,
on the running system, every page and form for a person of each role, for someone not
signed in, and for a form sent without the session's CSRF token."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts

from services.workbench.main import create_app
from shared.settings import Settings
from tests.robustness.matrix import PUBLIC, SIGNED_IN, WORKBENCH
from tests.support.files import png
from tests.workbench.conftest import PASSWORD, Centre

# Who holds each role in the test centre (tests/workbench/conftest.py).
PEOPLE = {
    "agent": "A001",
    "duty_manager": "DM01",
    "supervisor": "SV01",
    "department": "B07",
    "qa": "Q01",
    "admin": "AD01",
    "viewer": "V01",
}


def routes() -> set[tuple[str, str]]:
    found = set()
    for context in iter_route_contexts(create_app(Settings()).routes):
        route = getattr(context, "original_route", context)
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found.add((method, context.path))
    return found


def test_every_page_of_the_workbench_is_in_the_matrix() -> None:
    served = routes()
    listed = set(WORKBENCH)
    assert served - listed == set(), f"missing from tests/robustness/matrix.py: {served - listed}"
    assert listed - served == set(), f"no longer served: {listed - served}"


def sign_in(centre: Centre, staff_id: str) -> httpx.Client:
    client = httpx.Client(base_url=centre.base, timeout=30)
    form = client.get("/sign-in").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token
    answer = client.post(
        "/sign-in",
        data={"staff_id": staff_id, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert answer.status_code == 303, answer.text[:500]
    return client


def csrf_of(client: httpx.Client) -> str:
    page = client.get("/account/password").text
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def a_complaint_at_billing(centre: Centre) -> str:
    agent = {"Authorization": f"Bearer {centre.token('agent', 'A001')}"}
    created = httpx.post(
        centre.api("intake") + "/complaints",
        json={
            "customer_phone": "13800138077",
            "channel": "phone",
            "category": "billing",
            "description": "发票开错了抬头，要求重开。",
        },
        headers=agent,
        timeout=10,
    ).json()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        answer = httpx.get(
            centre.api("escalation") + f"/complaints/{created['id']}",
            headers={"Authorization": f"Bearer {centre.token('admin', 'AD01')}"},
            timeout=10,
        )
        if answer.status_code == 200:
            break
        time.sleep(0.2)
    dm = {"Authorization": f"Bearer {centre.token('duty_manager', 'DM01')}"}
    dispatched = httpx.post(
        centre.api("escalation") + f"/complaints/{created['id']}/actions/dispatch",
        json={"department_id": "billing", "instructions": "核对发票"},
        headers=dm,
        timeout=10,
    )
    assert dispatched.status_code == 200, dispatched.text
    return str(created["id"])


def concrete(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


@pytest.mark.postgres
@pytest.mark.kafka
@pytest.mark.slow
def test_who_opens_which_page(centre: Centre) -> None:
    complaint_id = a_complaint_at_billing(centre)
    photo = httpx.post(
        centre.api("intake") + f"/complaints/{complaint_id}/attachments",
        files={"file": ("发票.png", png(), "image/png")},
        headers={"Authorization": f"Bearer {centre.token('agent', 'A001')}"},
        timeout=10,
    )
    assert photo.status_code == 201, photo.text
    ids = {
        "attachment_id": photo.json()["id"],
        "complaint_id": complaint_id,
        "reference": complaint_id,
        "action": "not-an-action",
        "shift_id": "00000000-0000-0000-0000-000000000000",
        "department_id": "billing",
        "staff_id": "A002",
    }
    clients = {role: sign_in(centre, staff) for role, staff in PEOPLE.items()}
    tokens = {role: csrf_of(client) for role, client in clients.items()}
    anonymous = httpx.Client(base_url=centre.base, timeout=30)
    wrong: list[str] = []
    params: dict[str, Any] = {"customer_phone": "13800138077", "q": "发票"}
    try:
        for (method, path), allowed in sorted(WORKBENCH.items()):
            if path == "/sign-out":
                continue  # ends the session: the story test signs out
            url = concrete(path, ids)
            if allowed is PUBLIC:
                continue
            # Not signed in: on to the sign-in page.
            answer = anonymous.request(method, url, params=params if method == "GET" else None)
            if answer.status_code != 303 or "/sign-in" not in answer.headers["location"]:
                wrong.append(f"anonymous {method} {path}: {answer.status_code}")
            for role, client in clients.items():
                may = allowed is SIGNED_IN or role in allowed
                if method == "GET":
                    answer = client.get(url, params=params)
                    ok = answer.status_code in (200, 303) if may else answer.status_code == 403
                else:
                    # Without the session's token nobody gets through; with it, the role decides.
                    forged = client.post(url, data={})
                    if forged.status_code != 403 or "表单已过期" not in forged.text:
                        wrong.append(f"{role} {method} {path} without CSRF: {forged.status_code}")
                    answer = client.post(url, data={"csrf_token": tokens[role]})
                    if may:
                        ok = answer.status_code != 403 and answer.status_code < 500
                    else:
                        ok = answer.status_code == 403 and "无权访问" in answer.text
                if not ok:
                    wrong.append(f"{role} {method} {path}: {answer.status_code} (may: {may})")
    finally:
        for client in (*clients.values(), anonymous):
            client.close()
    assert wrong == [], "\n".join(wrong)
