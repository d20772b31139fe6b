"""One outsourcing centre, two clients, the whole system running: 清源水务 (water, served
by the centre's shared duty roster) and 蓝焰燃气 (gas, with a roster of its own). The same
caller rings both hotlines about two problems; each complaint goes to its own client's
duty manager and department, each SMS is signed by its own client, and each client's
viewer sees only its own complaints and figures while the centre sees both."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from tests.escalation.conftest import seed_directory
from tests.support.infra import wait_until
from tests.support.system import System, whole_system

pytestmark = [pytest.mark.postgres, pytest.mark.kafka]

PHONE = "138 0013 8000"
CLIENTS = {
    "tenants": [
        {
            "id": "water",
            "zh": "清源水务",
            "en": "Qingyuan Water",
            "numbers": ["96390"],
            "sign_name": {"zh": "【清源水务】"},
        },
        {
            "id": "gas",
            "zh": "蓝焰燃气",
            "en": "Blue Flame Gas",
            "numbers": ["96777"],
            "sign_name": {"zh": "【蓝焰燃气】"},
            "own_roster": True,
        },
    ]
}
# Each client's department, clerk, and the outsourcing client's viewer; gas's own duty
# manager.
PEOPLE = [
    ("W-C1", "水务陈工", "13900139101", "department", "water_pipes", "water"),
    ("G-C1", "燃气李工", "13900139102", "department", "gas_safety", "gas"),
    ("G-DM1", "燃气值班刘经理", "13900139103", "duty_manager", None, "gas"),
    ("V-W", "水务甲方", "13900139104", "viewer", None, "water"),
    ("V-G", "燃气甲方", "13900139105", "viewer", None, "gas"),
]


def seed_two_clients(escalation: TestClient, admin: dict[str, str]) -> None:
    seed_directory(escalation, admin)
    for dept, name, client, phone in (
        ("water_pipes", "供水管网部", "water", "13700137101"),
        ("gas_safety", "燃气安检部", "gas", "13700137102"),
    ):
        body = {"id": dept, "name": name, "tenant": client, "contact_phones": [phone]}
        answer = escalation.post("/departments", json=body, headers=admin)
        assert answer.status_code == 201, answer.text
    for staff_id, name, phone, role, dept, client in PEOPLE:
        body = {"id": staff_id, "name": name, "phone": phone, "role": role, "tenant": client}
        if dept:
            body["department_id"] = dept
        answer = escalation.post("/staff", json=body, headers=admin)
        assert answer.status_code == 201, answer.text
    now = datetime.now(UTC)
    shift = {
        "staff_id": "G-DM1",
        "tenant": "gas",
        "starts_at": (now - timedelta(days=1)).isoformat(),
        "ends_at": (now + timedelta(days=6)).isoformat(),
    }
    answer = escalation.post("/roster/shifts", json=shift, headers=admin)
    assert answer.status_code == 201, answer.text


@pytest.fixture(scope="module")
def centre(
    pg_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[System]:
    clients = tmp_path_factory.mktemp("two-clients") / "tenants.json"
    clients.write_text(json.dumps(CLIENTS, ensure_ascii=False), encoding="utf-8")
    was = os.environ.get("TENANTS_FILE")
    os.environ["TENANTS_FILE"] = str(clients)
    try:
        with whole_system(pg_url, kafka_bootstrap, seed=seed_two_clients) as system:
            yield system
    finally:
        if was is None:
            os.environ.pop("TENANTS_FILE", None)
        else:
            os.environ["TENANTS_FILE"] = was


def token(system: System, service: str, staff: str) -> dict[str, str]:
    """A token of one of PEOPLE, granted as the directory says (each service here keeps
    a token store of its own, so the grant is written where the service reads it)."""
    role, dept, client = next((p[3], p[4], p[5]) for p in PEOPLE if p[0] == staff)
    return system.envs[service].token(role, staff, dept, tenant=client)


def act(system: System, cid: str, action: str, who: dict[str, str], **body: Any) -> Any:
    return system.escalation.post(f"/complaints/{cid}/actions/{action}", json=body, headers=who)


def holder(system: System, cid: str) -> Any:
    answer = system.escalation.get(f"/complaints/{cid}", headers=system.manager)
    return answer.json() if answer.status_code == 200 else None


def test_one_caller_two_clients_each_handled_and_told_under_its_own_name(centre: System) -> None:
    s = centre
    water = s.intake.post(
        "/complaints",
        headers=s.agent,
        json={
            "dialled_number": "96390",
            "customer_phone": PHONE,
            "channel": "phone",
            "category": "service",
            "description": "小区门口的自来水管爆裂，水流了一整夜，到现在还没有人来修。",
        },
    )
    assert water.status_code == 201, water.text
    gas = s.intake.post(
        "/complaints",
        headers=s.agent,
        json={
            "tenant": "gas",
            "customer_phone": PHONE,
            "channel": "phone",
            "category": "service",
            "description": "楼道里有很重的燃气味，担心泄漏，请尽快派人来检查一下。",
        },
    )
    assert gas.status_code == 201, gas.text
    w, g = water.json(), gas.json()
    assert (w["tenant"], g["tenant"]) == ("water", "gas")
    # A file with each client: the gas company's first call from this number.
    assert g["customer_file"]["total_complaints"] == 0

    # Water goes to the centre's shared duty manager, gas to its own.
    wait_until(
        lambda: (h := holder(s, w["id"])) and h["holder_staff_id"] == "DM01",
        timeout=60,
        what="water's complaint with DM01",
    )
    wait_until(
        lambda: (h := holder(s, g["id"])) and h["holder_staff_id"] == "G-DM1",
        timeout=60,
        what="gas's complaint with its own duty manager",
    )
    dm01 = s.manager
    gas_dm = token(s, "escalation", "G-DM1")
    # Neither complaint goes to the other client's department.
    fix = {"instructions": "请尽快上门处理"}
    wrong = act(s, w["id"], "dispatch", dm01, department_id="gas_safety", **fix)
    assert wrong.status_code == 422, wrong.text
    assert [f["field"] for f in wrong.json()["fields"]] == ["department_id"]
    assert "another client" in wrong.json()["message"] or "gas" in wrong.json()["message"]
    dispatched = act(s, w["id"], "dispatch", dm01, department_id="water_pipes", **fix)
    assert dispatched.status_code == 200, dispatched.text
    # Gas's own duty manager does not see water's complaint at all.
    assert s.escalation.get(f"/complaints/{w['id']}", headers=gas_dm).status_code == 404
    dispatched = act(s, g["id"], "dispatch", gas_dm, department_id="gas_safety", **fix)
    assert dispatched.status_code == 200, dispatched.text

    water_clerk = token(s, "escalation", "W-C1")
    gas_clerk = token(s, "escalation", "G-C1")
    assert act(s, g["id"], "accept", water_clerk).status_code == 404
    for cid, clerk, said in (
        (w["id"], water_clerk, "已更换破裂的水管，供水恢复。"),
        (g["id"], gas_clerk, "已上门检测，系邻居灶具阀门松动，已紧固，无泄漏。"),
    ):
        assert act(s, cid, "accept", clerk).status_code == 200
        replied = act(s, cid, "reply", clerk, resolution=said, root_cause="system")
        assert replied.status_code == 200, replied.text

    # Every SMS is signed by its complaint's client: the caller hears from both, apart.
    def customer_sms() -> dict[str, list[str]]:
        rows = s.rows(
            "notify",
            "SELECT complaint_id, body, tenant FROM messages WHERE audience = 'customer' "
            "AND template = 'customer_replied'",
        )
        return {r.complaint_id: [r.body, r.tenant] for r in rows}

    told = wait_until(
        lambda: (m := customer_sms()).keys() >= {w["id"], g["id"]} and m,
        timeout=60,
        what="both replies told to the caller",
    )
    assert told[w["id"]][0].startswith("【清源水务】") and told[w["id"]][1] == "water"
    assert told[g["id"]][0].startswith("【蓝焰燃气】") and told[g["id"]][1] == "gas"
    # The duty managers and departments heard under their complaint's client too.
    staff = s.rows(
        "notify", "SELECT complaint_id, body, tenant FROM messages WHERE audience <> 'customer'"
    )
    for row in staff:
        if row.complaint_id == w["id"]:
            assert row.tenant == "water" and not row.body.startswith("【蓝焰燃气】"), row.body
        if row.complaint_id == g["id"]:
            assert row.tenant == "gas" and not row.body.startswith("【清源水务】"), row.body

    # Each client's viewer reads its own complaint, and not the other's.
    water_viewer = token(s, "intake", "V-W")
    gas_viewer = token(s, "intake", "V-G")
    seen = s.intake.get("/complaints", headers=water_viewer).json()["items"]
    assert [c["id"] for c in seen] == [w["id"]]
    assert s.intake.get(f"/complaints/{g['id']}", headers=water_viewer).status_code == 404
    seen = s.intake.get("/complaints", headers=gas_viewer).json()["items"]
    assert [c["id"] for c in seen] == [g["id"]]

    # Analytics: each client's viewer reads its own figures; the centre reads both.
    local = datetime.now(ZoneInfo("Asia/Shanghai"))  # the centre's days and months
    today = local.date().isoformat()
    period = {"from": today, "to": today}
    api = s.apis["analytics"]

    def overview(who: dict[str, str], **params: Any) -> Any:
        return api.get("/analytics/overview", params={**period, **params}, headers=who)

    water_viewer = token(s, "analytics", "V-W")
    gas_viewer = token(s, "analytics", "V-G")
    wait_until(
        lambda: (
            overview(water_viewer).json()["volume"] == 1
            and overview(gas_viewer).json()["volume"] == 1
        ),
        timeout=60,
        what="each client's complaint among its figures",
    )
    mine = overview(water_viewer).json()
    assert (mine["tenant"], mine["volume"], mine["callers"]) == ("water", 1, 1)
    assert overview(water_viewer, tenant="gas").status_code == 403
    supervisor = s.envs["analytics"].token("supervisor", "SV01")
    both = overview(supervisor).json()
    assert both["volume"] == 2
    month = local.strftime("%Y-%m")
    table = api.get("/analytics/tenants", params={"month": month}, headers=supervisor)
    assert table.status_code == 200, table.text
    by = {row["tenant"]: row for row in table.json()["tenants"]}
    assert (by["water"]["complaints"], by["gas"]["complaints"]) == (1, 1)
    assert (
        api.get("/analytics/tenants", params={"month": month}, headers=gas_viewer).status_code
        == 403
    )
    staffing = api.get("/analytics/tenants/staffing", params={"month": month}, headers=supervisor)
    assert staffing.status_code == 200, staffing.text
