"""Request parameters read strictly: query parameters that take one value are given
once, no text holds the NUL character, and dates are ISO 8601, not numbers.

FastAPI keeps the last of `?from=2026-11-01&from=2026-12-01` and says nothing, so the
caller never learns that one of the two was ignored; and a NUL in any text reaches
PostgreSQL, which refuses it with an error that would be a 500. `strict_request`, a
dependency of every route (shared.api), refuses both with 422 naming the parameter.
"""

from __future__ import annotations

import collections.abc
import re
import types
import typing
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Request
from pydantic import AwareDatetime, BeforeValidator

from shared.errors import Unprocessable

_SEQUENCES = (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Set)
_CACHE = "_single_valued_query"  # where a route keeps its answer


def _takes_many(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_takes_many(arg) for arg in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _takes_many(typing.get_args(annotation)[0])
    return isinstance(origin, type) and issubclass(origin, _SEQUENCES)


def _single_valued(route: Any) -> frozenset[str]:
    """The names (aliases) of the route's query parameters that take one value."""
    names: frozenset[str] | None = getattr(route, _CACHE, None)
    if names is None:
        fields: list[Any] = []
        dependants = [getattr(route, "dependant", None)]
        while dependants:
            dependant = dependants.pop()
            if dependant is not None:
                fields += dependant.query_params
                dependants += dependant.dependencies
        names = frozenset(
            field.alias for field in fields if not _takes_many(field.field_info.annotation)
        )
        setattr(route, _CACHE, names)
    return names


async def strict_request(request: Request) -> None:
    """A dependency of every route (shared.api): refuses, with 422 naming the parameter or
    field, a single-valued query parameter given twice, and the NUL character anywhere
    (PostgreSQL cannot store it, and no person typed it)."""
    query = request.scope.get("query_string", b"")
    if query:
        _query_given_once(request)
        for name, value in request.query_params.multi_items():
            if "\x00" in value or "\x00" in name:
                raise Unprocessable(name, _NUL)
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            raise Unprocessable(name, _NUL)
    # JSON only: a form with a file has been read as a stream, and names its own fields.
    if request.method in ("POST", "PUT", "PATCH") and "json" in request.headers.get(
        "content-type", ""
    ):
        body = await request.body()
        if b"\\u0000" in body:
            try:
                data = await request.json()
            except ValueError:
                return  # not JSON: the body's own validation names that
            field = _nul_in(data, ())
            if field is not None:
                raise Unprocessable(".".join(field) or "(body)", _NUL)


_NUL = "must not contain the NUL character (\\u0000)"


def _nul_in(value: Any, path: tuple[str, ...]) -> tuple[str, ...] | None:
    """Where in a JSON document a string holds a NUL, if anywhere."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict | list):
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and "\x00" in key:
                return (*path, key)
            found = _nul_in(item, (*path, str(key)))
            if found is not None:
                return found
    return None


def _query_given_once(request: Request) -> None:
    if b"&" not in request.scope.get("query_string", b""):
        return
    route = request.scope.get("route")
    names = _single_valued(route) if route is not None else frozenset()
    if not names:
        return
    seen: set[str] = set()
    for name, _ in request.query_params.multi_items():
        if name in names:
            if name in seen:
                count = len(request.query_params.getlist(name))
                raise Unprocessable(name, f"given {count} times; give it once")
            seen.add(name)


# --- dates and times as ISO 8601, never as numbers ---------------------------------------

_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def _not_a_number(what: str, example: str) -> Callable[[Any], Any]:
    """Pydantic reads 1700000000 (or "0", or "2.5e-10") as seconds since 1970; a person
    who typed a number here meant something else, so it is refused, naming the format."""

    def check(value: Any) -> Any:
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number or (isinstance(value, str) and _NUMBER.fullmatch(value)):
            raise ValueError(f"{what} in ISO 8601, e.g. {example}, not a number")
        return value

    return check


_MOMENT = _not_a_number("a date and time with a UTC offset", "2026-11-23T08:00:00+08:00")
# A moment with its UTC offset: 2026-11-23T08:00:00+08:00.
IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_MOMENT)]
# A moment whose offset the caller checks (to name the field in its own words).
IsoDateTimeAnyZone = Annotated[datetime, BeforeValidator(_MOMENT)]
# A day: 2026-11-23.
IsoDate = Annotated[date, BeforeValidator(_not_a_number("a day", "2026-11-23"))]
