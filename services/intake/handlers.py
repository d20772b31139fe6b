"""What the intake worker does with other services' events: keep the lifecycle read copy,
and take in what customers text back (their verdict on a reply, or a message)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from services.intake.complaints.flows import apply_lifecycle, record_customer_sms
from services.intake.db import outbox as outbox_table
from shared.clock import utcnow
from shared.consumer import Handler
from shared.contracts import SMS_INBOUND, LifecycleChanged
from shared.db import Database
from shared.events import Event
from shared.outbox import Outbox
from shared.settings import Settings
from shared.vocabulary import LIFECYCLE_EVENTS

log = logging.getLogger(__name__)


def on_lifecycle_changed(session: Session, event: Event[Any]) -> None:
    payload: LifecycleChanged = event.payload
    apply_lifecycle(session, payload, event.envelope.occurred_at)


def make_handlers(outbox: Outbox) -> dict[str, Handler]:
    def on_sms_inbound(session: Session, event: Event[Any]) -> None:
        done = record_customer_sms(session, outbox, event.payload, now=utcnow())
        if done != "ignored":
            log.info("customer SMS %s recorded as %s", event.payload.message_id, done)

    return {
        **dict.fromkeys(LIFECYCLE_EVENTS, on_lifecycle_changed),
        SMS_INBOUND.name: on_sms_inbound,
    }


def handlers(_db: Database, settings: Settings) -> Mapping[str, Handler]:
    return make_handlers(Outbox(outbox_table, lanes=settings.outbox_lanes))
