"""An outsourcing centre answers for several clients: the list of clients, which number
belongs to which, and which client a token may see."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from shared.auth.principal import Principal, Role
from shared.auth.store import Grant, get_grant, grant_outside_directory, issue_token, put_grant
from shared.errors import Forbidden
from shared.events import Actor, registry
from shared.tenants import (
    DEFAULT_TENANT,
    Tenants,
    UnknownTenant,
    load,
    may_see,
    scope,
    tenant,
    tenants,
)
from tests.conftest import ServiceEnv
from tests.platform.test_auth import answers_within, bearer, case_desk

TWO_CLIENTS = {
    "tenants": [
        {
            "id": "water",
            "zh": "清源水务",
            "en": "Qingyuan Water",
            "numbers": ["96390", "0571-8800 1234"],
            "sign_name": {"zh": "【清源水务】", "en": "[Qingyuan Water] "},
            "sla_minutes": {"resolution": {"normal": 2880}},
            "own_roster": True,
        },
        {"id": "gas", "zh": "蓝焰燃气", "en": "Blue Flame Gas", "numbers": ["96777"]},
    ]
}


@pytest.fixture
def clients_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps(TWO_CLIENTS, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("TENANTS_FILE", str(path))
    yield path


def test_a_centre_with_no_clients_configured_answers_for_the_default_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TENANTS_FILE", raising=False)
    assert tenants().ids == [DEFAULT_TENANT]
    assert not tenants().several
    assert tenant(None).id == DEFAULT_TENANT


def test_the_clients_file_names_each_client_and_keeps_the_default_for_old_data(
    clients_file: Path,
) -> None:
    assert tenants().ids == ["default", "water", "gas"]
    water = tenant("water")
    assert water.label("zh") == "清源水务" and water.label("en") == "Qingyuan Water"
    assert water.signature("zh") == "【清源水务】"
    assert water.signature("en-GB") == "[Qingyuan Water] "
    # A client without a sign name of its own signs with the centre's.
    assert tenant("gas").signature("zh", fallback="【热线】") == "【热线】"
    assert water.sla_minutes == {"resolution": {"normal": 2880}}
    assert water.own_roster and not tenant("gas").own_roster
    with pytest.raises(UnknownTenant, match="'power' is not a client of this centre"):
        tenant("power")


@pytest.mark.parametrize(
    ("dialled", "client"),
    [
        ("96390", "water"),
        ("057188001234", "water"),
        ("+86 571 8800 1234", "water"),
        ("0571-96390", "water"),
        ("96777", "gas"),
        ("12345", None),
        ("", None),
    ],
)
def test_the_dialled_number_says_which_client_a_caller_wants(
    clients_file: Path, dialled: str, client: str | None
) -> None:
    found = tenants().by_number(dialled)
    assert (found.id if found else None) == client


def test_a_number_listed_for_two_clients_or_a_client_listed_twice_is_refused(
    tmp_path: Path,
) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps([{"id": "a", "numbers": ["1"]}, {"id": "b", "numbers": ["1"]}]))
    with pytest.raises(ValueError, match="dialled for both 'a' and 'b'"):
        load(path)
    path.write_text(json.dumps([{"id": "a"}, {"id": "a"}]))
    with pytest.raises(ValueError, match="listed twice"):
        load(path)
    path.write_text(json.dumps([{"id": "Water Co"}]))
    with pytest.raises(ValueError, match="lower-case letters"):
        load(path)
    path.write_text(json.dumps([{"id": "a", "signature": "x"}]))
    with pytest.raises(ValueError, match="unknown settings"):
        load(path)


def principal(tenant_id: str | None, role: Role = Role.VIEWER) -> Principal:
    return Principal(staff_id="V1", role=role, tenant=tenant_id)


def test_a_clients_token_sees_only_that_client_and_the_centres_staff_see_all(
    clients_file: Path,
) -> None:
    water_viewer = principal("water")
    assert may_see(water_viewer, "water")
    assert not may_see(water_viewer, "gas")
    assert not may_see(water_viewer, None)  # the default client's data
    supervisor = principal(None, Role.SUPERVISOR)
    assert may_see(supervisor, "water") and may_see(supervisor, "gas")

    assert scope(water_viewer) == "water"
    assert scope(water_viewer, "water") == "water"
    with pytest.raises(Forbidden, match="belongs to client 'water', not 'gas'"):
        scope(water_viewer, "gas")
    assert scope(supervisor) is None
    assert scope(supervisor, "gas") == "gas"
    with pytest.raises(UnknownTenant):
        scope(supervisor, "power")


def test_every_event_names_its_client_and_an_old_event_reads_as_the_default_ones() -> None:
    from shared.contracts import NOTE_ADDED, NoteAdded

    actor = Actor(id="A1", role="agent")
    payload = NoteAdded(complaint_id="c1", reference="TS1", text="x", source="agent", added_by="A1")
    envelope = registry.new(
        NOTE_ADDED.name, payload, source="intake", actor=actor, complaint_id="c1", tenant="gas"
    )
    assert envelope.tenant == "gas"
    raw = envelope.model_dump(mode="json")
    del raw["tenant"]
    old = registry.decode(json.dumps(raw).encode())
    assert old.envelope.tenant == DEFAULT_TENANT


def test_tenants_with_no_file_are_one() -> None:
    assert Tenants([]).ids == [DEFAULT_TENANT]


# -- grants name the client ----------------------------------------------------------


@pytest.fixture
def desk_env(service_env: Callable[[str], ServiceEnv]) -> ServiceEnv:
    return service_env("analytics")


def _me(desk: TestClient, token: str) -> dict[str, Any]:
    answer = desk.get("/me", headers=bearer(token))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.mark.postgres
def test_a_token_carries_the_client_its_holders_grant_names(desk_env: ServiceEnv) -> None:
    with desk_env.auth_db.transaction() as session:
        grant_outside_directory(session, "V-W1", "viewer", tenant="water")
        water, _ = issue_token(session, staff_id="V-W1", role="viewer")
        # A department's clerk and a viewer always belong to one client: the default
        # when their grant names none; the centre's own staff to none.
        put_grant(session, Grant("B-1", "department", "billing", True))
        clerk, _ = issue_token(session, staff_id="B-1", role="department", department_id="billing")
        grant_outside_directory(session, "S-1", "supervisor")
        staff, _ = issue_token(session, staff_id="S-1", role="supervisor")
        assert get_grant(session, "B-1").tenant == DEFAULT_TENANT  # type: ignore[union-attr]
    with TestClient(case_desk(desk_env.settings)) as desk:
        assert _me(desk, water)["tenant"] == "water"
        assert _me(desk, clerk)["tenant"] == DEFAULT_TENANT
        assert _me(desk, staff)["tenant"] is None


@pytest.mark.postgres
def test_moving_someone_to_another_client_takes_their_tokens_away(desk_env: ServiceEnv) -> None:
    with desk_env.auth_db.transaction() as session:
        put_grant(session, Grant("V-9", "viewer", None, True, "water"))
        token, _ = issue_token(session, staff_id="V-9", role="viewer")
    with TestClient(case_desk(desk_env.settings)) as desk:
        assert _me(desk, token)["tenant"] == "water"
        with desk_env.auth_db.transaction() as session:
            assert put_grant(session, Grant("V-9", "viewer", None, True, "gas"))
        answers_within(desk, token, 401)
