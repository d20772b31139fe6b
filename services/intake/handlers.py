"""What the intake worker does with other services' events: keep the lifecycle read copy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from services.intake.complaints.flows import apply_lifecycle
from shared.consumer import Handler
from shared.contracts import LIFECYCLE_EVENTS, LifecycleChanged
from shared.db import Database
from shared.events import Event
from shared.settings import Settings


def on_lifecycle_changed(session: Session, event: Event[Any]) -> None:
    payload: LifecycleChanged = event.payload
    apply_lifecycle(session, payload, event.envelope.occurred_at)


def handlers(_db: Database, _settings: Settings) -> Mapping[str, Handler]:
    return dict.fromkeys(LIFECYCLE_EVENTS, on_lifecycle_changed)
