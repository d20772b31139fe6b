"""Guessing passwords from one place gets slow: after a few failed sign-ins from one
address, the sign-in page answers 429 for the rest of the minute, whichever account is
tried; each account still locks after its own failures."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from services.workbench.main import create_app
from tests.conftest import ServiceEnv

pytestmark = pytest.mark.postgres


@pytest.fixture
def workbench(service_env: Callable[[str], ServiceEnv]) -> Iterator[Callable[[str], TestClient]]:
    env = service_env("workbench")
    app = create_app(env.settings.model_copy(update={"rate_limit_auth_failures_per_minute": 4}))
    clients: list[TestClient] = []

    def desk(address: str) -> TestClient:
        client = TestClient(app, client=(address, 50000), follow_redirects=False)
        client.__enter__()
        clients.append(client)
        return client

    yield desk
    for client in reversed(clients):
        client.__exit__(None, None, None)


def sign_in(client: TestClient, staff_id: str, password: str) -> httpx.Response:
    form = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    return client.post(
        "/sign-in",
        data={"staff_id": staff_id, "password": password, "csrf_token": token.group(1)},
    )


def test_many_failed_sign_ins_from_one_address_are_slowed_down(
    workbench: Callable[[str], TestClient],
) -> None:
    guesser, colleague = workbench("guesser"), workbench("front-desk")
    answers = [sign_in(guesser, f"A00{n}", "not-the-password") for n in range(6)]
    assert [a.status_code for a in answers] == [401] * 4 + [429] * 2
    slowed = answers[-1]
    assert 1 <= int(slowed.headers["Retry-After"]) <= 60
    assert "登录失败次数过多" in slowed.text  # the page's language: Chinese unless switched
    assert slowed.headers["content-security-policy"]
    # Someone signing in elsewhere is not held up by it.
    assert sign_in(colleague, "A001", "not-the-password").status_code == 401
