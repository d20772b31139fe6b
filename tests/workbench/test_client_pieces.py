"""An agent of an outsourcing centre answers two clients' lines from one workbench: the
registration form asks whose line was rung (or knows it from the dialled number), offers
that client's categories, and every page names the client of a complaint."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.datastructures import FormData

from services.workbench.access.flows import User
from services.workbench.apis import Apis
from services.workbench.complaints.flows import (
    categories_for,
    client_chosen,
    clients_of,
    registration_body,
)
from services.workbench.pages import Labels, env
from shared.settings import SERVICE_PORTS
from shared.vocabulary import Role
from tests.workbench.test_pieces import AGENT, CONFIG, _page


@pytest.fixture(autouse=True)
def two_clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    gas_categories = tmp_path / "gas.json"
    gas_categories.write_text(
        json.dumps([{"id": "gas_leak", "zh": "燃气泄漏", "en": "Gas leak"}], ensure_ascii=False),
        encoding="utf-8",
    )
    clients = tmp_path / "tenants.json"
    clients.write_text(
        json.dumps(
            [
                {"id": "water", "zh": "清源水务", "en": "Qingyuan Water", "numbers": ["96390"]},
                {
                    "id": "gas",
                    "zh": "蓝焰燃气",
                    "en": "Blue Flame Gas",
                    "numbers": ["96777"],
                    "taxonomy_file": str(gas_categories),
                },
            ],
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("TENANTS_FILE", str(clients))
    yield


def _apis(tenants_answer: list[dict[str, Any]]) -> Apis:
    service_at = {port: name for name, port in SERVICE_PORTS.items()}

    def answer(request: httpx.Request) -> httpx.Response:
        if service_at.get(request.url.port or 0) == "intake" and request.url.path == "/tenants":
            return httpx.Response(200, json=tenants_answer)
        return httpx.Response(404, json={"message": "no"})

    return Apis(CONFIG, transport=httpx.MockTransport(answer))


WATER = {"id": "water", "zh": "清源水务", "en": "Qingyuan Water", "numbers": ["96390"]}
GAS = {"id": "gas", "zh": "蓝焰燃气", "en": "Blue Flame Gas", "numbers": ["96777"]}


def test_the_client_is_the_one_asked_or_whose_line_was_dialled_or_the_agents_only_one() -> None:
    both = [WATER, GAS]
    assert client_chosen(both, "gas", None) == "gas"
    assert client_chosen(both, None, "0571-96390") == "water"
    assert client_chosen(both, None, None) is None
    # An agent of one client: that one, whatever is asked.
    assert client_chosen([GAS], "water", "96390") == "gas"
    assert [c.id for c in categories_for(both, "gas")] == ["gas_leak"]
    offered = [c.id for c in categories_for(both, None)]
    assert "gas_leak" in offered and "billing" in offered


def test_the_clients_offered_are_those_intake_says_the_agent_serves() -> None:
    apis = _apis([GAS])
    try:
        assert [c["id"] for c in clients_of(apis, AGENT)] == ["gas"]
    finally:
        apis.close()


def test_the_form_asks_whose_line_it_is_and_offers_that_clients_categories() -> None:
    html = _page(
        "/register",
        "register.html",
        AGENT,
        values={"tenant": "", "dialled_number": ""},
        fields={},
        request_id="r1",
        clients=[WATER, GAS],
        chosen_client=None,
        categories=categories_for([WATER, GAS], None),
    )
    select = re.search(
        r'<select id="tenant" name="tenant" required[^>]*>(.*?)</select>', html, re.S
    )
    assert (
        select and "清源水务 · 96390" in select.group(1) and "蓝焰燃气 · 96777" in select.group(1)
    )
    assert 'href="/register?tenant=gas"' in html
    dialled = _page(
        "/register",
        "register.html",
        AGENT,
        values={"tenant": "gas", "dialled_number": "96777"},
        fields={},
        request_id="r1",
        clients=[WATER, GAS],
        chosen_client="gas",
        categories=categories_for([WATER, GAS], "gas"),
    )
    assert re.search(r'<option value="gas" selected>', dialled)
    assert '<input type="hidden" name="dialled_number" value="96777">' in dialled
    categories = re.search(r'<select id="category"[^>]*>(.*?)</select>', dialled, re.S)
    assert categories and "燃气泄漏" in categories.group(1) and "账单" not in categories.group(1)


def test_an_agent_of_one_client_is_not_asked_and_the_client_goes_with_the_form() -> None:
    html = _page(
        "/register",
        "register.html",
        AGENT,
        values={"tenant": "gas"},
        fields={},
        request_id="r1",
        clients=[GAS],
        chosen_client="gas",
        categories=categories_for([GAS], "gas"),
    )
    assert '<select id="tenant"' not in html
    assert '<input type="hidden" id="tenant" name="tenant" value="gas">' in html
    form = FormData([("tenant", "gas"), ("dialled_number", "96777"), ("category", "gas_leak")])
    body = registration_body(form)
    assert (body["tenant"], body["dialled_number"]) == ("gas", "96777")


def test_a_complaint_names_its_client_where_the_centre_serves_several() -> None:
    from services.workbench.complaints.flows import ComplaintPage

    state = {
        "id": "C1",
        "reference": "TS20261205-000001",
        "tenant": "gas",
        "category": "gas_leak",
        "state": "received",
        "allowed_actions": [],
        "description": "楼道里有燃气味",
    }
    page = ComplaintPage(state=state, registered=state, history=[], notes=[], feedback=[])
    html = _page("/complaints/C1", "complaint.html", AGENT, page=page, c={**state, "tenant": "gas"})
    assert re.search(r'data-test="client">蓝焰燃气<', html)
    assert "燃气泄漏" in html


def test_an_administrator_adds_a_department_and_a_person_for_a_client() -> None:
    from services.workbench.admin.views import _new_department

    body = _new_department(
        FormData([("id", "gas_safety"), ("name", "燃气安检部"), ("tenant", "gas")])
    )
    assert (body["id"], body["tenant"]) == ("gas_safety", "gas")
    assert "tenant" not in _new_department(FormData([("id", "x"), ("name", "X")]))
    admin = User("s", "AD01", "管理员", Role.ADMIN, None, "t", "c")
    page = _page(
        "/admin/departments",
        "admin_departments.html",
        admin,
        departments=[{"id": "gas_safety", "name": "燃气安检部", "tenant": "gas",
                      "contact_phones": [], "active": True}],
        loads={},
        clients=[WATER, GAS],
    )  # fmt: skip
    assert re.search(r'<select id="dept-tenant" name="tenant" required', page)
    assert re.search(r'data-test="client">蓝焰燃气<', page)
    staff = _page(
        "/admin/staff",
        "admin_staff.html",
        admin,
        staff=[],
        departments=[],
        accounts={},
        roles=["viewer"],
        clients=[WATER, GAS],
    )
    options = re.search(r'<select id="new-tenant" name="tenant"[^>]*>(.*?)</select>', staff, re.S)
    assert (
        options and "本中心（服务所有客户）" in options.group(1) and "清源水务" in options.group(1)
    )


def test_the_duty_desk_sees_whose_client_each_complaint_in_its_queue_is() -> None:
    dm = User("s", "DM01", "王经理", Role.DUTY_MANAGER, None, "t", "c")
    item = {
        "id": "C9",
        "reference": "TS20261205-000009",
        "tenant": "gas",
        "state": "with_duty_manager",
        "category": "gas_leak",
        "stage": "acknowledgement",
        "due_at": "2026-12-05T08:00:00Z",
        "holder_staff_id": "DM01",
    }
    template = env.from_string(
        '{% from "_queue.html" import queue_table with context %}{{ queue_table(items, "mine") }}'
    )
    labels = Labels("zh-CN", CONFIG)
    html = template.render(
        items=[item], user=dm, tr=labels.tr, word=labels.word, category=labels.category,
        client=labels.client, when=labels.when, several_clients=True, lang="zh-CN",
    )  # fmt: skip
    assert re.search(r'data-test="client">蓝焰燃气</span> 燃气泄漏', html)
