"""FastAPI dependencies: who is calling, and may they."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.auth.principal import Principal, Role
from shared.auth.store import TokenVerifier
from shared.errors import Forbidden, Unauthorized
from shared.ratelimit import Limits, TooManyRequests, client_address

_bearer = HTTPBearer(auto_error=False, description="A token from `make token`")


def _authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    limits: Limits | None = getattr(request.app.state, "limits", None)
    address = client_address(request.scope)
    if limits is not None:
        # An address that keeps presenting tokens nobody issued is answered 429 for a
        # while, before any look-up: guessing, or a client gone wrong, costs nothing.
        refused = limits.failures_over(address)
        if refused is not None:
            raise TooManyRequests(refused)
    if credentials is None:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    tokens: TokenVerifier = request.app.state.tokens
    principal, known = tokens.check(credentials.credentials)
    if principal is None:
        if limits is not None and not known:
            limits.failed(address)
        raise Unauthorized("invalid, expired or revoked token")
    request.state.principal = principal
    return principal


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    return _authenticate(request, credentials)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role | str) -> Any:
    """`principal: Annotated[Principal, require_roles(Role.AGENT)]` in a route signature."""
    allowed = tuple(Role(r) for r in roles)
    names = ", ".join(r.value for r in allowed)

    # Authenticates itself rather than depending on current_principal: one level of
    # dependency resolution less on every request.
    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        principal = _authenticate(request, credentials)
        if principal.role not in allowed:
            raise Forbidden(
                f"role '{principal.role.value}' may not do this; allowed roles: {names}",
                role=principal.role.value,
                allowed_roles=[r.value for r in allowed],
            )
        return principal

    return Depends(dependency)
