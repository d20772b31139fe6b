"""What the escalation worker does with other services' events, one function each.

Each runs inside the consumer's inbox transaction: the effect and the record that the
event was handled commit together, so a redelivered event changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from services.escalation.complaints import flows
from services.escalation.config import EscalationConfig, check_tenant_sla, get_config
from services.escalation.db import outbox as outbox_table
from services.escalation.directory import service as directory
from services.escalation.roster import service as roster
from shared.clock import utcnow
from shared.consumer import Handler
from shared.contracts import (
    ATTACHMENT_ADDED,
    COMPLAINT_RECEIVED,
    FEEDBACK_RECEIVED,
    SMS_INBOUND,
    URGE_REQUESTED,
)
from shared.db import Database
from shared.events import Event
from shared.outbox import Outbox
from shared.settings import Settings


def make_handlers(config: EscalationConfig, outbox: Outbox) -> dict[str, Handler]:
    # Every event after a complaint's registration must name the client it was registered
    # for (flows.check_client): one naming another is dead-lettered, nothing applied.

    def on_complaint_received(session: Session, event: Event[Any]) -> None:
        flows.receive(
            session,
            outbox,
            event.payload,
            now=utcnow(),
            config=config,
            tenant=event.envelope.tenant,
        )

    def on_feedback_received(session: Session, event: Event[Any]) -> None:
        flows.check_client(session, event.payload.complaint_id, event.envelope)
        flows.record_feedback(session, outbox, event.payload, now=utcnow(), config=config)

    def on_sms_inbound(session: Session, event: Event[Any]) -> None:
        flows.check_client(session, event.payload.complaint_id, event.envelope)
        flows.acknowledge_by_sms(session, outbox, event.payload, now=utcnow(), config=config)

    def on_urge_requested(session: Session, event: Event[Any]) -> None:
        flows.check_client(session, event.payload.complaint_id, event.envelope)
        flows.urge_for_caller(session, outbox, event.payload, now=utcnow(), config=config)

    def on_attachment_added(session: Session, event: Event[Any]) -> None:
        flows.check_client(session, event.payload.complaint_id, event.envelope)
        flows.record_attachment(session, event.payload, event.envelope, now=utcnow())

    return {
        name: _reading_once(handler)
        for name, handler in (
            (COMPLAINT_RECEIVED.name, on_complaint_received),
            (FEEDBACK_RECEIVED.name, on_feedback_received),
            (SMS_INBOUND.name, on_sms_inbound),
            (URGE_REQUESTED.name, on_urge_requested),
            (ATTACHMENT_ADDED.name, on_attachment_added),
        )
    }


def _reading_once(handler: Handler) -> Handler:
    """The handler, with the people, departments and shifts it reads kept for the rest of
    its transaction: a consumer's batch of a hundred new complaints reads the manager on
    duty once, not a hundred times. Nothing the handlers do changes the directory or the
    roster, and a transaction of the consumer's lasts a moment."""

    def reading_once(session: Session, event: Event[Any]) -> None:
        session.info.setdefault(directory.CACHE, {})
        session.info.setdefault(roster.CACHE, {})
        handler(session, event)

    return reading_once


def handlers(_db: Database, settings: Settings) -> Mapping[str, Handler]:
    check_tenant_sla()  # clients' SLA minutes this service cannot use stop the start
    return make_handlers(get_config(), Outbox(outbox_table, lanes=settings.outbox_lanes))
