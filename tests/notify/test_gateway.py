"""The development gateway on its own: it takes sends only with the account's
credentials, recognises a resend by its key, shows its page, and can be told to fail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.notify.config import DEV_ACCOUNT_SID, DEV_AUTH_TOKEN
from services.notify.gateway import create_app
from tests.notify.conftest import notify_config

SEND = f"/2010-04-01/Accounts/{DEV_ACCOUNT_SID}/Messages.json"
AUTH = (DEV_ACCOUNT_SID, DEV_AUTH_TOKEN)


@pytest.fixture
def gateway() -> Iterator[TestClient]:
    with TestClient(create_app(notify_config(gateway_notify_url="http://127.0.0.1:9"))) as client:
        yield client


def send(
    client: TestClient,
    to: str = "+8613900139001",
    auth: tuple[str, str] = AUTH,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    form = {"To": to, "From": "+8610690000", "Body": "新投诉 TS20261122-000001"}
    return client.post(SEND, data=form, auth=auth, headers=headers)


def test_a_send_is_kept_and_shown_per_phone(gateway: TestClient) -> None:
    answer = send(gateway)
    assert answer.status_code == 201
    sid = answer.json()["sid"]
    assert sid.startswith("SM")
    (kept,) = gateway.get("/api/messages", params={"to": "+8613900139001"}).json()["messages"]
    assert (kept["sid"], kept["encoding"], kept["segments"]) == (sid, "UCS-2", 1)
    assert gateway.get("/api/messages", params={"to": "+8613900139002"}).json() == {"messages": []}
    page = gateway.get("/")
    assert page.status_code == 200
    assert "SMS gateway" in page.text and "assets/gateway.js" in page.text
    # The page's script, a file of its own (no inline script runs under its policy).
    assert "api/reply" in gateway.get("/assets/gateway.js").text


def test_wrong_credentials_and_bad_numbers_are_refused_as_twilio_does(gateway: TestClient) -> None:
    refused = send(gateway, auth=(DEV_ACCOUNT_SID, "wrong"))
    assert refused.status_code == 401
    assert refused.json()["code"] == 20003
    bad = send(gateway, to="13900139001")
    assert bad.status_code == 400
    assert bad.json()["code"] == 21211
    assert gateway.get("/api/messages").json() == {"messages": []}


def test_a_resend_with_the_same_key_is_the_same_message(gateway: TestClient) -> None:
    first = send(gateway, headers={"Idempotency-Key": "m-1"}).json()
    again = send(gateway, headers={"Idempotency-Key": "m-1"}).json()
    assert first["sid"] == again["sid"]
    assert len(gateway.get("/api/messages").json()["messages"]) == 1


def test_told_to_fail_it_fails_that_many_sends(gateway: TestClient) -> None:
    gateway.post("/api/faults", json={"fail_next": 2, "status": 429})
    assert [send(gateway).status_code for _ in range(3)] == [429, 429, 201]
    assert gateway.get("/api/stats").json() == {"messages": 1, "sends": 3, "lookups": 0}


def test_a_reply_notify_cannot_take_is_reported(gateway: TestClient) -> None:
    answer = gateway.post("/api/reply", json={"from": "+8613900139001", "text": "1"})
    assert answer.status_code == 502
    assert answer.json()["error"] == "notify_unreachable"
    bad = gateway.post("/api/reply", json={"from": "139", "text": "1"})
    assert bad.status_code == 422


def test_set_not_to_deduplicate_it_sends_a_resend_again_as_twilio_does() -> None:
    config = notify_config(gateway_notify_url="http://127.0.0.1:9", gateway_deduplicate=False)
    with TestClient(create_app(config)) as gateway:
        first = send(gateway, headers={"Idempotency-Key": "m-1"}).json()
        again = send(gateway, headers={"Idempotency-Key": "m-1"}).json()
        assert first["sid"] != again["sid"]
        assert len(gateway.get("/api/messages").json()["messages"]) == 2


def test_its_list_finds_a_number_s_messages_sent_since_a_moment_a_page_at_a_time(
    gateway: TestClient,
) -> None:
    for _ in range(3):
        send(gateway)
    send(gateway, to="+8613900139002")

    def listed(**params: Any) -> httpx.Response:
        return gateway.get(SEND, params=params, auth=AUTH)

    first = listed(**{"To": "+8613900139001", "DateSent>": "2020-01-01T00:00:00Z"}, PageSize=2)
    assert first.status_code == 200
    assert [m["to"] for m in first.json()["messages"]] == ["+8613900139001"] * 2
    assert all(m["date_sent"] for m in first.json()["messages"])
    rest = gateway.get(first.json()["next_page_uri"], auth=AUTH).json()
    assert (len(rest["messages"]), rest["next_page_uri"]) == (1, None)
    assert listed(**{"To": "+8613900139001", "DateSent>": "2099-01-01"}).json()["messages"] == []
    assert listed(**{"DateSent>": "yesterday"}).json()["code"] == 20001
    assert gateway.get("/api/stats").json()["lookups"] == 4
