"""Bearer tokens for staff: stored hashed, each carrying staff id, role and department."""

from shared.auth.principal import ROLES, Principal, Role

__all__ = ["ROLES", "Principal", "Role"]
