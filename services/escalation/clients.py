"""Which client (tenant) a request is about: the client a token's holder works for, or
for the centre's own staff, the one they name (shared.tenants)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from shared.auth.principal import Principal
from shared.errors import Unprocessable
from shared.tenants import TENANT_PATTERN, UnknownTenant, scope, tenants

TenantQuery = Annotated[
    str | None,
    Query(
        pattern=TENANT_PATTERN,
        description="Only this client's (the centre's own staff); a token of one client "
        "sees only that client's whatever it asks (another: 403)",
    ),
]


def scoped(principal: Principal, asked: str | None) -> str | None:
    """The client a list is limited to (None: every client); an unknown one is 422."""
    try:
        return scope(principal, asked)
    except UnknownTenant as exc:
        raise Unprocessable("tenant", str(exc)) from None


def known(tenant: str) -> str:
    """A client this centre serves, or 422 naming the field."""
    try:
        return tenants().require(tenant).id
    except UnknownTenant as exc:
        raise Unprocessable("tenant", str(exc)) from None
