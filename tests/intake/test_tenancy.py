"""An outsourcing centre answers the hotlines of two clients, a water company and a gas
company: one caller rings both, and each client's complaints, files, categories and
look-ups stay its own."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.intake.handlers import handlers
from shared.consumer import Refused
from shared.contracts import LifecycleChanged
from shared.events import SYSTEM, Event, registry
from shared.vocabulary import Action, EventName, State
from tests.intake.conftest import Intake, complaint

pytestmark = pytest.mark.postgres

PHONE = "138 0013 8000"
BURST_PIPE = "小区门口的自来水管爆裂，水流了一整夜，到现在还没有人来修。"
GAS_SMELL = "楼道里有很重的燃气味，担心泄漏，请尽快派人来检查一下。"


@pytest.fixture(autouse=True)
def two_clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    gas_categories = tmp_path / "gas-taxonomy.json"
    gas_categories.write_text(
        json.dumps(
            {
                "categories": [
                    {"id": "gas_leak", "zh": "燃气泄漏", "en": "Gas leak"},
                    {"id": "meter", "zh": "燃气表", "en": "Gas meter"},
                ]
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    clients = tmp_path / "tenants.json"
    clients.write_text(
        json.dumps(
            {
                "tenants": [
                    {"id": "water", "zh": "清源水务", "en": "Qingyuan Water", "numbers": ["96390"]},
                    {
                        "id": "gas",
                        "zh": "蓝焰燃气",
                        "en": "Blue Flame Gas",
                        "numbers": ["96777"],
                        "taxonomy_file": str(gas_categories),
                    },
                ]
            },
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    monkeypatch.setenv("TENANTS_FILE", str(clients))
    yield


def water(**fields: Any) -> dict[str, Any]:
    return {"dialled_number": "96390", "category": "service", "description": BURST_PIPE, **fields}


def gas(**fields: Any) -> dict[str, Any]:
    return {"tenant": "gas", "category": "gas_leak", "description": GAS_SMELL, **fields}


def registered(intake: Intake, who: dict[str, str] | None = None, **fields: Any) -> Any:
    answer = intake.register(headers=who, **fields)
    assert answer.status_code == 201, answer.text
    return answer.json()


def field_error(answer: Any) -> tuple[int, list[str]]:
    return answer.status_code, [f["field"] for f in answer.json().get("fields", [])]


def test_one_caller_rings_both_clients_and_has_a_file_with_each(intake: Intake) -> None:
    first = registered(intake, **water())
    assert first["tenant"] == "water"
    assert first["customer_file"]["total_complaints"] == 0
    # The same number rings the gas company's line: a new caller there.
    other = registered(intake, **gas())
    assert other["tenant"] == "gas"
    assert other["customer_file"]["total_complaints"] == 0
    again = registered(intake, **water(description="水管还在漏水，已经第二天了，请尽快处理。"))
    assert again["customer_file"]["total_complaints"] == 1
    # Every event names its client, in its envelope and in a header for Kafka tools.
    received = [r for r in intake.outbox_rows() if r.event_type == "complaint.received"]
    assert [registry.decode(r.value.encode()).envelope.tenant for r in received] == [
        "water",
        "gas",
        "water",
    ]
    assert ["tenant", "gas"] in [list(h) for h in received[1].headers]


def test_the_centre_must_be_told_which_client_a_call_is_for(intake: Intake) -> None:
    assert field_error(intake.register(**complaint())) == (422, ["tenant"])
    # The line the caller dialled names the client, and must agree with a client chosen.
    assert field_error(intake.register(**water(tenant="gas", category="gas_leak"))) == (
        422,
        ["dialled_number"],
    )
    assert field_error(intake.register(**water(dialled_number="12345"))) == (
        422,
        ["dialled_number"],
    )
    assert field_error(intake.register(**gas(tenant="power"))) == (422, ["tenant"])


def test_each_client_has_its_own_categories(intake: Intake) -> None:
    assert field_error(intake.register(**water(category="gas_leak"))) == (422, ["category"])
    assert field_error(intake.register(**gas(category="billing"))) == (422, ["category"])
    listed = intake.client.get("/categories", params={"tenant": "gas"}, headers=intake.agent)
    assert [c["id"] for c in listed.json()] == ["gas_leak", "meter"]
    centre = intake.client.get("/categories", headers=intake.agent).json()
    assert "billing" in [c["id"] for c in centre]


def test_an_agent_of_one_client_registers_for_it_and_for_no_other(intake: Intake) -> None:
    gas_agent = intake.env.token("agent", "G-A1", tenant="gas")
    body = complaint(category="meter", description="燃气表走得特别快，这个月的读数明显不对。")
    mine = registered(intake, gas_agent, **body)
    assert mine["tenant"] == "gas"
    refused = intake.register(headers=gas_agent, **water())
    assert refused.status_code == 403
    assert "belongs to client 'gas'" in refused.json()["message"]


def test_a_clients_viewer_sees_only_that_clients_complaints(intake: Intake) -> None:
    mine = registered(intake, **water())
    theirs = registered(intake, **gas())
    viewer = intake.env.token("viewer", "V-W", tenant="water")
    c = intake.client
    assert c.get(f"/complaints/{mine['id']}", headers=viewer).status_code == 200
    for path in ("", "/notes", "/feedback", "/urges", "/attachments"):
        answer = c.get(f"/complaints/{theirs['id']}{path}", headers=viewer)
        assert answer.status_code == 404, path
    assert c.get(f"/complaints/{theirs['reference']}", headers=viewer).status_code == 404
    listed = c.get("/complaints", headers=viewer).json()["items"]
    assert [i["id"] for i in listed] == [mine["id"]]
    by_words = c.get("/complaints", params={"q": "燃气"}, headers=viewer).json()["items"]
    assert by_words == []
    asked = c.get("/complaints", params={"tenant": "gas"}, headers=viewer)
    assert asked.status_code == 403
    assert [t["id"] for t in c.get("/tenants", headers=viewer).json()] == ["water"]


def test_the_centre_narrows_a_list_to_one_client(intake: Intake) -> None:
    mine = registered(intake, **water())
    theirs = registered(intake, **gas())
    supervisor = intake.env.token("supervisor", "S1")
    c = intake.client
    both = c.get("/complaints", headers=supervisor).json()["items"]
    assert {i["id"] for i in both} == {mine["id"], theirs["id"]}
    only_gas = c.get("/complaints", params={"tenant": "gas"}, headers=supervisor).json()["items"]
    assert [i["id"] for i in only_gas] == [theirs["id"]]
    assert [t["id"] for t in c.get("/tenants", headers=supervisor).json()] == [
        "default",
        "water",
        "gas",
    ]
    assert c.get("/complaints", params={"tenant": "power"}, headers=supervisor).status_code == 422


def test_another_clients_agent_cannot_add_to_a_complaint(intake: Intake) -> None:
    theirs = registered(intake, **gas())
    water_agent = intake.env.token("agent", "W-A1", tenant="water")
    c = intake.client
    note = c.post(f"/complaints/{theirs['id']}/notes", json={"text": "x"}, headers=water_agent)
    assert note.status_code == 404
    urge = c.post(
        f"/complaints/{theirs['reference']}/urges", json={"text": "催一下"}, headers=water_agent
    )
    assert urge.status_code == 404
    assert intake.count("notes") == 0 and intake.count("urges") == 0


def test_the_callers_file_is_read_per_client(intake: Intake) -> None:
    registered(intake, **water())
    registered(intake, **gas())
    c = intake.client
    centre = c.get(f"/customers/{PHONE}", headers=intake.agent).json()
    assert sorted(centre["tenants"]) == ["gas", "water"]
    assert centre["file"]["total_complaints"] == 2
    assert {x["tenant"] for x in centre["complaints"]} == {"gas", "water"}
    one = c.get(f"/customers/{PHONE}", params={"tenant": "water"}, headers=intake.agent).json()
    assert one["tenants"] == ["water"] and len(one["complaints"]) == 1
    gas_agent = intake.env.token("agent", "G-A2", tenant="gas")
    theirs = c.get(f"/customers/{PHONE}", headers=gas_agent).json()
    assert [x["tenant"] for x in theirs["complaints"]] == ["gas"]


def test_likely_duplicates_are_the_same_clients_only(intake: Intake) -> None:
    registered(intake, **water())
    registered(intake, **gas())
    water_agent = intake.env.token("agent", "W-A2", tenant="water")
    found = intake.client.get(
        "/complaints/similar", params={"phone": PHONE}, headers=water_agent
    ).json()["items"]
    assert [f["complaint"]["tenant"] for f in found] == ["water"]
    centre = intake.client.get(
        "/complaints/similar", params={"phone": PHONE, "tenant": "gas"}, headers=intake.agent
    ).json()["items"]
    assert [f["complaint"]["tenant"] for f in centre] == ["gas"]


def _lifecycle_event(c: dict[str, Any], tenant: str) -> Any:
    payload = LifecycleChanged(
        complaint_id=c["id"],
        reference=c["reference"],
        action=Action.DISPATCH,
        from_state=State.WITH_DUTY_MANAGER,
        to_state=State.DISPATCHED,
        history_seq=3,
        department_id="pipes",
    )
    envelope = registry.new(
        EventName.DISPATCHED,
        payload,
        source="escalation",
        tenant=tenant,
        actor=SYSTEM,
        complaint_id=c["id"],
    )
    return Event(envelope=envelope, payload=payload)


def test_a_lifecycle_event_naming_another_client_is_refused_and_changes_nothing(
    intake: Intake,
) -> None:
    mine = registered(intake, **water())
    handle = handlers(intake.env.db, intake.env.settings)[EventName.DISPATCHED]
    with (
        pytest.raises(Refused, match=r"names client 'gas'.*made to 'water'") as refused,
        intake.env.db.transaction() as session,
    ):
        handle(session, _lifecycle_event(mine, "gas"))
    assert refused.value.error_class == "tenant"
    seen = intake.client.get(f"/complaints/{mine['id']}", headers=intake.agent).json()
    assert (seen["status"], seen["department_id"]) == ("received", None)
    # The same event naming the complaint's own client is applied.
    with intake.env.db.transaction() as session:
        handle(session, _lifecycle_event(mine, "water"))
    seen = intake.client.get(f"/complaints/{mine['id']}", headers=intake.agent).json()
    assert (seen["status"], seen["department_id"]) == ("dispatched", "pipes")
