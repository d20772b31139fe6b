"""The request middleware's first look at a body: its declared length, before any of it
is read. (Every service's real endpoints are tried in tests/robustness.)"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import FastAPI, Request

from shared.api import RequestContextMiddleware


def app_counting_calls() -> tuple[RequestContextMiddleware, list[bytes]]:
    inner = FastAPI()
    bodies: list[bytes] = []

    @inner.post("/notes")
    async def note(request: Request) -> dict[str, str]:
        bodies.append(await request.body())
        return {"ok": "yes"}

    return RequestContextMiddleware(inner, max_body=100), bodies


def post(app: Any, body: bytes, content_length: bytes) -> tuple[int, dict[str, Any]]:
    """One POST over raw ASGI, so the Content-Length sent is exactly the one given."""
    sent: list[dict[str, Any]] = []
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/notes",
        "raw_path": b"/notes",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", content_length)],
        "client": ("127.0.0.1", 1234),
        "server": ("127.0.0.1", 8001),
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(payload)


def test_a_content_length_that_is_not_a_number_is_a_bad_request_naming_the_header() -> None:
    app, bodies = app_counting_calls()
    for declared in (b"abc", b"-5", b"1e3", b""):
        status, answer = post(app, b'{"text": "hi"}', declared)
        assert status == 400, (declared, answer)
        assert answer["error"] == "bad_request"
        assert answer["field"] == "Content-Length"
    assert bodies == []  # the endpoint never ran


def test_a_declared_length_over_the_limit_is_refused_before_reading_and_one_within_passes() -> None:
    app, bodies = app_counting_calls()
    status, answer = post(app, b"{}", b"101")
    assert (status, answer["error"]) == (413, "payload_too_large")
    assert "100 bytes" in answer["message"]
    assert post(app, b'{"a": 1}', b"8") == (200, {"ok": "yes"})
    assert bodies == [b'{"a": 1}']
