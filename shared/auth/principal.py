from __future__ import annotations

from dataclasses import dataclass

from shared.vocabulary import STAFF_ROLES, Role

# The roles a token may carry: people, never `system` or `customer`.
ROLES: tuple[str, ...] = tuple(role.value for role in STAFF_ROLES)

__all__ = ["ROLES", "Principal", "Role"]


@dataclass(frozen=True)
class Principal:
    """Who is calling: from a verified bearer token."""

    staff_id: str
    role: Role
    department_id: str | None = None
    token_id: str | None = None
    # The client (tenant) the holder works for; None: the centre's own staff, who serve
    # every client (shared.tenants.scope).
    tenant: str | None = None

    def has_role(self, *roles: Role | str) -> bool:
        return self.role in roles
