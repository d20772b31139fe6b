"""Who takes a new complaint at a given moment, for which client.

The centre keeps one shared roster for every client; a client that keeps a roster of its
own (Tenant.own_roster) has its complaints taken by the manager on duty there, and by the
shared roster's when nobody is on duty on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from services.escalation.config import EscalationConfig
from services.escalation.directory import service as directory
from services.escalation.roster import service
from shared.tenants import tenants
from shared.vocabulary import Role


@dataclass(frozen=True)
class Choice:
    """Who takes a new complaint at one moment, and why them."""

    staff_id: str | None
    via: str  # shift | backup | configured | supervisors
    shift: Any = None
    # Whose roster chose: a client's own, or None, the centre's shared roster.
    roster: str | None = None
    # Why the shared roster chose for a client that keeps its own (nobody on duty there).
    fallback: str | None = None


def roster_of(tenant: str | None) -> str | None:
    """The roster that serves a client: its own (the client's id) if it keeps one, else
    None, the centre's shared roster."""
    client = tenants().get(tenant) if tenant else None
    return client.id if client is not None and client.own_roster else None


def own_rosters() -> list[str]:
    """The clients that keep a roster of their own."""
    return [client.id for client in tenants().all() if client.own_roster]


def _available(session: Session, staff_id: str | None, roster: str | None) -> bool:
    """An active duty manager who may serve the roster's clients: on the shared roster
    only the centre's own staff, who serve every client."""
    if staff_id is None:
        return False
    row = directory.get_staff(session, staff_id)
    return (
        row is not None
        and row.active
        and row.role == Role.DUTY_MANAGER
        and (row.tenant is None or row.tenant == roster)
    )


def on_duty(
    session: Session, at: datetime, config: EscalationConfig, tenant: str | None = None
) -> Choice:
    """The manager on duty at `at` for client `tenant` (None: the shared roster's): on
    the client's own roster if it keeps one, else, or with nobody on duty there, on the
    shared roster (`fallback` says so)."""
    roster = roster_of(tenant)
    if roster is None:
        return _on_roster(session, at, config, None)
    own = _on_roster(session, at, config, roster)
    if own.staff_id is not None:
        return own
    shared = _on_roster(session, at, config, None)
    return replace(
        shared,
        fallback=f"nobody on duty on the own roster of {roster}: the centre's shared roster's",
    )


def _on_roster(
    session: Session, at: datetime, config: EscalationConfig, roster: str | None
) -> Choice:
    """The manager on the roster's shift covering `at`; if they cannot take it (left, or
    no longer a duty manager), the shift's backup; with no shift on the shared roster,
    the configured default manager; otherwise nobody, and new complaints wait for the
    supervisors."""
    shift = service.covering(session, at, roster)
    if shift is not None:
        if _available(session, shift.staff_id, roster):
            return Choice(shift.staff_id, "shift", shift, roster)
        if _available(session, shift.backup_staff_id, roster):
            return Choice(shift.backup_staff_id, "backup", shift, roster)
    configured = config.default_duty_manager if roster is None else None
    if configured and _available(session, configured, None):
        return Choice(configured, "configured", shift)
    return Choice(None, "supervisors", shift, roster)
