"""One token, or one address, cannot register complaints (and so text whatever number was
typed) as fast as it likes: past the limit a write is refused with 429 before anything is
stored or sent. Reads are not counted; other agents are not held up."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.intake.main import create_app
from tests.conftest import ServiceEnv
from tests.intake.conftest import complaint

pytestmark = pytest.mark.postgres


@pytest.fixture
def intake_with(
    service_env: Callable[[str], ServiceEnv],
) -> Iterator[Callable[..., tuple[ServiceEnv, Callable[..., TestClient]]]]:
    """Intake with the limits given; `desk(address)` is a client calling from there."""
    clients: list[TestClient] = []

    def make(**limits: int) -> tuple[ServiceEnv, Callable[..., TestClient]]:
        env = service_env("intake")
        app = create_app(env.settings.model_copy(update=limits))

        def desk(address: str = "desk-1") -> TestClient:
            client = TestClient(app, client=(address, 50000))
            client.__enter__()
            clients.append(client)
            return client

        return env, desk

    yield make
    for client in reversed(clients):
        client.__exit__(None, None, None)


def register(client: TestClient, headers: dict[str, str], n: int = 0) -> Any:
    return client.post(
        "/complaints",
        json=complaint(customer_phone=f"1380013{n:04d}"),
        headers=headers | {"Idempotency-Key": uuid.uuid4().hex},
    )


def stored(env: ServiceEnv) -> tuple[int, int]:
    """Complaints and outbox events (each of which would become an SMS)."""
    from sqlalchemy import text

    with env.db.read() as session:
        complaints = session.execute(text("SELECT count(*) FROM complaints")).scalar_one()
        events = session.execute(text("SELECT count(*) FROM outbox")).scalar_one()
    return int(complaints), int(events)


def test_a_burst_of_registrations_past_the_limit_is_refused_and_stores_nothing(
    intake_with: Callable[..., tuple[ServiceEnv, Callable[..., TestClient]]],
) -> None:
    env, desk = intake_with(rate_limit_token_writes_per_minute=5)
    agent, client = env.token("agent", "A001"), desk()
    answers = [register(client, agent, n).status_code for n in range(8)]
    assert answers == [201] * 5 + [429] * 3
    assert stored(env) == (5, 5)

    refused = register(client, agent, 99)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    body = refused.json()
    assert body["error"] == "rate_limited"
    assert body["limit"] == "RATE_LIMIT_TOKEN_WRITES_PER_MINUTE"
    assert body["per_minute"] == 5
    assert body["retry_after"] == int(refused.headers["Retry-After"])
    assert "at most 5 a minute" in body["message"]
    assert stored(env) == (5, 5)
    # Reading is not writing: the agent still looks callers up.
    assert client.get("/complaints", headers=agent).status_code == 200


def test_the_limit_is_each_agents_own(
    intake_with: Callable[..., tuple[ServiceEnv, Callable[..., TestClient]]],
) -> None:
    env, desk = intake_with(rate_limit_token_writes_per_minute=3)
    client = desk()
    flooding, colleague = env.token("agent", "A001"), env.token("agent", "A002")
    for n in range(3):
        assert register(client, flooding, n).status_code == 201
    assert register(client, flooding, 3).status_code == 429
    assert register(client, colleague, 4).status_code == 201


def test_one_address_cannot_get_round_the_limit_with_many_tokens(
    intake_with: Callable[..., tuple[ServiceEnv, Callable[..., TestClient]]],
) -> None:
    env, desk = intake_with(
        rate_limit_token_writes_per_minute=100, rate_limit_address_writes_per_minute=4
    )
    flooder, elsewhere = desk("flooder"), desk("agent-desk")
    tokens = [env.token("agent", f"X{n:03d}") for n in range(6)]
    answers = [register(flooder, token, n).status_code for n, token in enumerate(tokens)]
    assert answers == [201] * 4 + [429] * 2
    refused = register(flooder, tokens[0], 9)
    assert refused.json()["limit"] == "RATE_LIMIT_ADDRESS_WRITES_PER_MINUTE"
    assert stored(env) == (4, 4)
    assert register(elsewhere, env.token("agent", "A001"), 10).status_code == 201


def test_limits_set_to_zero_are_off(
    intake_with: Callable[..., tuple[ServiceEnv, Callable[..., TestClient]]],
) -> None:
    env, desk = intake_with(
        rate_limit_token_writes_per_minute=0, rate_limit_address_writes_per_minute=0
    )
    agent, client = env.token("agent", "A001"), desk()
    assert {register(client, agent, n).status_code for n in range(30)} == {201}


def test_an_address_that_keeps_presenting_unknown_tokens_is_slowed_down(
    intake_with: Callable[..., tuple[ServiceEnv, Callable[..., TestClient]]],
) -> None:
    env, desk = intake_with(rate_limit_auth_failures_per_minute=5)
    guesser, elsewhere = desk("guesser"), desk("agent-desk")
    guesses = [
        guesser.get("/complaints", headers={"Authorization": f"Bearer cpt_{uuid.uuid4().hex}"})
        for _ in range(7)
    ]
    assert [g.status_code for g in guesses] == [401] * 5 + [429] * 2
    assert guesses[-1].json()["limit"] == "RATE_LIMIT_AUTH_FAILURES_PER_MINUTE"
    assert int(guesses[-1].headers["Retry-After"]) >= 1
    # While slowed down, nothing from there is looked up, not even a good token …
    agent = env.token("agent", "A001")
    assert guesser.get("/complaints", headers=agent).status_code == 429
    # … and the rest of the centre is not affected.
    assert elsewhere.get("/complaints", headers=agent).status_code == 200


def test_a_revoked_token_does_not_count_as_guessing(
    intake_with: Callable[..., tuple[ServiceEnv, Callable[..., TestClient]]],
) -> None:
    """A workbench whose user was just deactivated keeps sending that user's token for a
    moment: its address must not be slowed down for it."""
    from shared.auth.store import revoke_tokens

    env, desk = intake_with(rate_limit_auth_failures_per_minute=3)
    client = desk("workbench")
    gone, colleague = env.token("agent", "A009"), env.token("agent", "A001")
    with env.auth_db.transaction() as session:
        revoke_tokens(session, staff_id="A009")
    assert {client.get("/complaints", headers=gone).status_code for _ in range(6)} == {401}
    assert client.get("/complaints", headers=colleague).status_code == 200
