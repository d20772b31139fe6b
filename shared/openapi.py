"""The error answers in each service's OpenAPI document, as the services really give them.

FastAPI documents a 422 in its own shape and nothing else; every service answers errors
in one shape (shared.errors) and may refuse a call for a missing token (401), a role
(403), an unknown id (404), a body too large (413) or not JSON (415), too many writes or
unknown tokens (429, shared.ratelimit), or an unreachable database (503).
`document_errors` adds those to every operation they can happen to, with the shape of
the body, so a client generated from the document knows them.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from shared.ratelimit import WRITE_METHODS

ERROR = "Error"
VALIDATION_ERROR = "ValidationErrorBody"

_SCHEMAS: dict[str, Any] = {
    ERROR: {
        "title": ERROR,
        "type": "object",
        "description": "Every error: a code, a message naming what is wrong, and details "
        "that depend on the error (the state and allowed actions of a refused action, …)",
        "required": ["error", "message"],
        "properties": {
            "error": {"type": "string", "examples": ["not_found"]},
            "message": {"type": "string", "examples": ["no complaint TS20261122-000001"]},
        },
        "additionalProperties": True,
    },
    VALIDATION_ERROR: {
        "title": VALIDATION_ERROR,
        "type": "object",
        "description": "Invalid input: every field at fault, each with the reason",
        "required": ["error", "message", "fields"],
        "properties": {
            "error": {"type": "string", "const": "validation_error"},
            "message": {"type": "string"},
            "fields": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["field", "message"],
                    "properties": {
                        "field": {"type": "string"},
                        "location": {"type": "string"},
                        "message": {"type": "string"},
                    },
                },
            },
        },
        "additionalProperties": True,
    },
}

_DESCRIPTIONS = {
    401: "missing, invalid, expired or revoked bearer token",
    403: "the caller's role (or department) may not do this",
    404: "no such resource, or not one the caller may see",
    413: "the request body is over the size limit",
    415: "the request body is not JSON (Content-Type: application/json)",
    422: "invalid input: each field at fault is named with the reason",
    429: "over a rate limit (named in the body); Retry-After says when to try again",
    503: "the database could not be reached; try again shortly",
}

_FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"


def _body(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


def _add(responses: dict[str, Any], status: int, schema: str = ERROR) -> None:
    entry = responses.setdefault(str(status), {"description": _DESCRIPTIONS[status]})
    entry.setdefault("content", _body(schema))


def _document(method: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    json_body = has_body and "application/json" in operation["requestBody"].get("content", {})
    if operation.get("security"):
        _add(responses, 401)
        _add(responses, 403)
        _add(responses, 503)
    if operation.get("security") or method.upper() in WRITE_METHODS:
        _add(responses, 429)
    if any(p.get("in") == "path" for p in parameters):
        _add(responses, 404)
    if parameters or has_body:
        validation = responses.get("422")
        if validation is not None:
            validation["content"] = _body(VALIDATION_ERROR)
        _add(responses, 422, VALIDATION_ERROR)
    if has_body:
        _add(responses, 413)
    if json_body:
        _add(responses, 415)
    # Any other refusal (409 and the like) is documented by its route, in the same shape.
    for status, entry in responses.items():
        if status.startswith("4") and "content" not in entry:
            entry["content"] = _body(ERROR)


def document_errors(app: FastAPI) -> None:
    """Make `app.openapi()` describe the error answers (see the module docstring)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        for methods in document.get("paths", {}).values():
            for method, operation in methods.items():
                _document(method, operation)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(_SCHEMAS)
        if _FASTAPI_VALIDATION.rsplit("/", 1)[1] in schemas:
            # FastAPI's own 422 shape is never sent: shared.errors answers in ours.
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
