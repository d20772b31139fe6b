"""FastAPI dependencies: who is calling, and may they."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.auth.principal import Principal, Role
from shared.auth.store import TokenVerifier
from shared.errors import Forbidden, Unauthorized

_bearer = HTTPBearer(auto_error=False, description="A token from `make token`")


def _authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    tokens: TokenVerifier = request.app.state.tokens
    principal = tokens.verify(credentials.credentials)
    if principal is None:
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
