"""Every error a route can end in gets the one error shape, {"error", "message", …}, with
the status a client can act on: the handlers of shared.errors on an app of their own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import sqlalchemy.exc
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg_pool import PoolTimeout
from pydantic import BaseModel

from shared.errors import Conflict, Unauthorized, Unprocessable, install_error_handlers

RAISED: dict[str, Callable[[], Exception]] = {
    "unauthorized": lambda: Unauthorized("missing bearer token"),
    "conflict": lambda: Conflict("not in this state", state="closed"),
    "unprocessable": lambda: Unprocessable("phone", "not a phone number"),
    "connection-lost": lambda: sqlalchemy.exc.OperationalError(
        "SELECT 1", {}, psycopg.OperationalError("server closed the connection")
    ),
    "constraint": lambda: sqlalchemy.exc.IntegrityError(
        "INSERT", {}, Exception("duplicate key value")
    ),
    "nul-in-statement": lambda: sqlalchemy.exc.DataError(
        "INSERT", {}, psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    ),
    "nul-in-driver": lambda: psycopg.DataError("cannot contain NUL (0x00) bytes"),
    "other-data-error": lambda: psycopg.DataError("numeric field overflow"),
    "driver-down": lambda: psycopg.OperationalError("connection refused"),
    "pool-empty": lambda: PoolTimeout("couldn't get a connection after 5.00 sec"),
    "bug": lambda: RuntimeError("a bug"),
}


class Body(BaseModel):
    name: str


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/raise/{what}")
    def raise_it(what: str) -> None:
        raise RAISED[what]()

    @app.post("/things")
    def create(body: Body) -> dict[str, str]:
        return {"name": body.name}

    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def answer(client: TestClient, what: str) -> tuple[int, dict[str, Any], Any]:
    r = client.get(f"/raise/{what}")
    return r.status_code, r.json(), r.headers


def test_an_api_error_answers_its_status_and_body_and_a_401_says_how_to_authenticate(
    client: TestClient,
) -> None:
    status, body, headers = answer(client, "unauthorized")
    assert (status, body) == (401, {"error": "unauthorized", "message": "missing bearer token"})
    assert headers["www-authenticate"] == "Bearer"
    status, body, headers = answer(client, "conflict")
    assert (status, body) == (
        409,
        {"error": "conflict", "message": "not in this state", "state": "closed"},
    )
    assert "www-authenticate" not in headers
    status, body, _ = answer(client, "unprocessable")
    assert status == 422
    assert body["fields"] == [{"field": "phone", "message": "not a phone number"}]


def test_invalid_fields_are_named_and_a_body_that_is_not_json_is_a_415(
    client: TestClient,
) -> None:
    r = client.post("/things", json={"name": 3})
    assert r.status_code == 422
    assert r.json()["error"] == "validation_error"
    assert r.json()["fields"][0]["field"] == "name"
    assert r.json()["message"].startswith("1 invalid field: name: ")

    r = client.post("/things", content="name=x", headers={"content-type": "text/plain"})
    assert r.status_code == 415
    assert r.json()["error"] == "unsupported_media_type"
    assert r.json()["content_type"] == "text/plain"

    r = client.post(
        "/things", content=b'{"name": "\xff"}', headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["fields"] == [
        {
            "field": "(body)",
            "location": "body",
            "message": "not readable as JSON: send JSON encoded in UTF-8",
        }
    ]


def test_an_unknown_endpoint_and_method_are_named(client: TestClient) -> None:
    r = client.get("/nowhere")
    assert r.status_code == 404
    assert r.json() == {"error": "not_found", "message": "no such endpoint: GET /nowhere"}
    r = client.delete("/things")
    assert r.status_code == 405
    assert r.json()["error"] == "method_not_allowed"


@pytest.mark.parametrize("what", ["connection-lost", "driver-down", "pool-empty"])
def test_a_database_out_of_reach_is_a_503_to_retry(client: TestClient, what: str) -> None:
    status, body, headers = answer(client, what)
    assert status == 503
    assert body["error"] == "database_unavailable"
    assert headers["retry-after"] == "2"


@pytest.mark.parametrize("what", ["nul-in-statement", "nul-in-driver"])
def test_text_with_a_nul_character_is_an_invalid_body(client: TestClient, what: str) -> None:
    status, body, _ = answer(client, what)
    assert status == 422
    assert body["fields"][0]["message"] == "text must not contain the NUL character (\\u0000)"


@pytest.mark.parametrize("what", ["constraint", "other-data-error", "bug"])
def test_anything_else_is_a_500_that_shows_no_detail(client: TestClient, what: str) -> None:
    status, body, _ = answer(client, what)
    assert status == 500
    assert body["error"] == "internal_error"
    assert "a bug" not in body["message"] and "duplicate" not in body["message"]
