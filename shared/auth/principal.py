from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    AGENT = "agent"
    DUTY_MANAGER = "duty_manager"
    SUPERVISOR = "supervisor"
    DEPARTMENT = "department"
    QA = "qa"
    ADMIN = "admin"
    VIEWER = "viewer"


ROLES = tuple(r.value for r in Role)


@dataclass(frozen=True)
class Principal:
    """Who is calling: from a verified bearer token."""

    staff_id: str
    role: Role
    department_id: str | None = None
    token_id: str | None = None

    def has_role(self, *roles: Role | str) -> bool:
        return self.role in roles
