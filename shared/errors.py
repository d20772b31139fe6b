"""One error shape for every service: {"error": code, "message": human text, …details}.

The message names the field or the state at fault, so a person reading it knows what to
fix without opening the docs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import PoolTimeout
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from shared.logs import current_correlation_id

log = logging.getLogger(__name__)


class ApiError(Exception):
    status = 400
    code = "bad_request"
    headers: dict[str, str] | None = None

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.details}


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Unprocessable(ApiError):
    status = 422
    code = "validation_error"

    def __init__(self, field: str, reason: str, **details: Any) -> None:
        super().__init__(
            f"{field}: {reason}", fields=[{"field": field, "message": reason}], **details
        )


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts) or "(body)"


def validation_body(exc: RequestValidationError) -> dict[str, Any]:
    fields = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        msg = str(err.get("msg", "invalid"))
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if err.get("type") == "json_invalid":
            # FastAPI puts the character position where the field name goes.
            reason = (err.get("ctx") or {}).get("error", "invalid")
            msg = f"not valid JSON ({reason} at character {loc[1] if len(loc) > 1 else 0})"
            loc = ("body",)
        fields.append(
            {
                "field": _field_name(loc),
                "location": str(loc[0]) if loc else "body",
                "message": msg,
            }
        )
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:10])
    noun = "field" if len(fields) == 1 else "fields"
    return {
        "error": "validation_error",
        "message": f"{len(fields)} invalid {noun}: {summary}",
        "fields": fields,
    }


_JSON_BODY_ERRORS = frozenset({"model_attributes_type", "dict_type", "model_type"})


def _not_json(request: Request, exc: RequestValidationError) -> str | None:
    """The Content-Type of a body that was refused for not being JSON, else None."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return None
    for err in exc.errors():
        if tuple(err.get("loc", ())) == ("body",) and err.get("type") in _JSON_BODY_ERRORS:
            return media or "(none)"
    return None


def _nul_refused(exc: BaseException | None) -> bool:
    return isinstance(exc, psycopg.DataError) and "NUL" in str(exc)


# -- the handlers, one per kind of error ---------------------------------------------


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else exc.headers
    return JSONResponse(exc.body(), status_code=exc.status, headers=headers)


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    media = _not_json(request, exc)
    if media is not None:
        return JSONResponse(
            {
                "error": "unsupported_media_type",
                "message": f"Content-Type {media} is not accepted: send the body as JSON "
                "with 'Content-Type: application/json'",
                "content_type": media,
            },
            status_code=415,
        )
    return JSONResponse(validation_body(exc), status_code=422)


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allow_header(request: Request) -> str:
    """Every method some route of the app answers on this path, for a 405's Allow header.

    Starlette names only the methods of the first route whose path matched; a path with
    a GET route and a POST route of its own would then say it allows GET alone. Each
    method is asked of the routes as they would route it (included routers too)."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes
        )
    )


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    message = exc.detail if isinstance(exc.detail, str) else "request refused"
    headers = getattr(exc, "headers", None)
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": allow_header(request)}
        message = f"{request.method} is not allowed on {request.url.path}: use {headers['Allow']}"
    if exc.status_code == 400 and message == "There was an error parsing the body":
        # FastAPI's answer to a body it cannot decode (not UTF-8, for one): an invalid
        # body like any other, named as such.
        reason = "not readable as JSON: send JSON encoded in UTF-8"
        return JSONResponse(
            {
                "error": "validation_error",
                "message": f"1 invalid field: (body): {reason}",
                "fields": [{"field": "(body)", "location": "body", "message": reason}],
            },
            status_code=422,
        )
    if exc.status_code == 404 and message == "Not Found":
        message = f"no such endpoint: {request.method} {request.url.path}"
    return JSONResponse(
        {"error": _HTTP_CODES.get(exc.status_code, "error"), "message": message},
        status_code=exc.status_code,
        headers=headers,
    )


async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
    from shared.db import is_transient

    if _nul_refused(exc.orig):
        return _nul(request)
    if not is_transient(exc):
        return await _unexpected(request, exc)
    return _unavailable(request, exc)


async def _data(request: Request, exc: psycopg.DataError) -> JSONResponse:
    if _nul_refused(exc):
        return _nul(request)
    return await _unexpected(request, exc)


def _nul(request: Request) -> JSONResponse:
    # shared.params refuses NUL in parameters and JSON bodies, naming the field; this
    # is for text that reached the database some other way: refused all the same.
    log.warning("text with a NUL character refused on %s", request.url.path)
    reason = "text must not contain the NUL character (\\u0000)"
    return JSONResponse(
        {
            "error": "validation_error",
            "message": f"1 invalid field: (body): {reason}",
            "fields": [{"field": "(body)", "location": "body", "message": reason}],
        },
        status_code=422,
    )


async def _database_unreachable(request: Request, exc: Exception) -> JSONResponse:
    """The driver's own connection errors, and no connection free in the pool in time."""
    return _unavailable(request, exc)


def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return JSONResponse(
        {
            "error": "database_unavailable",
            "message": "the database could not be reached; try again shortly "
            "(a registration retried with the same Idempotency-Key is never doubled)",
            "correlation_id": current_correlation_id(),
        },
        status_code=503,
        headers={"Retry-After": "2"},
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        {
            "error": "internal_error",
            "message": "the server failed to handle this request; nothing was changed",
            "correlation_id": current_correlation_id(),
        },
        status_code=500,
    )


# Each error class and its handler; Starlette picks the handler of the closest class in
# an exception's MRO, so the order here does not matter.
HANDLERS: tuple[tuple[type[Exception], Callable[[Request, Any], Awaitable[JSONResponse]]], ...] = (
    (ApiError, _api_error),
    (RequestValidationError, _validation),
    (StarletteHTTPException, _http),
    (DBAPIError, _database),
    (psycopg.DataError, _data),
    (psycopg.OperationalError, _database_unreachable),
    (PoolTimeout, _database_unreachable),
    (Exception, _unexpected),
)


def install_error_handlers(app: FastAPI) -> None:
    from shared.openapi import document_errors

    document_errors(app)
    for error, handler in HANDLERS:
        app.add_exception_handler(error, handler)
