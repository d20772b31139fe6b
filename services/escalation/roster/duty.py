"""Who takes a new complaint at a given moment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from services.escalation.config import EscalationConfig
from services.escalation.directory import service as directory
from services.escalation.roster import service
from shared.vocabulary import Role


@dataclass(frozen=True)
class Choice:
    """Who takes a new complaint at one moment, and why them."""

    staff_id: str | None
    via: str  # shift | backup | configured | supervisors
    shift: Any = None


def _available(session: Session, staff_id: str | None) -> bool:
    if staff_id is None:
        return False
    row = directory.get_staff(session, staff_id)
    return row is not None and row.active and row.role == Role.DUTY_MANAGER


def on_duty(session: Session, at: datetime, config: EscalationConfig) -> Choice:
    """The manager on the shift covering `at`; if they cannot take it (left, or no
    longer a duty manager), the shift's backup; with no shift, the configured default
    manager; otherwise nobody, and new complaints wait for the supervisors."""
    shift = service.covering(session, at)
    if shift is not None:
        if _available(session, shift.staff_id):
            return Choice(shift.staff_id, "shift", shift)
        if _available(session, shift.backup_staff_id):
            return Choice(shift.backup_staff_id, "backup", shift)
    if config.default_duty_manager and _available(session, config.default_duty_manager):
        return Choice(config.default_duty_manager, "configured", shift)
    return Choice(None, "supervisors", shift)
