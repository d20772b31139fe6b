"""What the intake worker does with other services' events: keep the lifecycle read copy,
and take in what customers text back (their verdict on a reply, or a message).

A customer's verdict (`sms.inbound`, on notify's topic) answers a satisfaction question
that notify sent on `complaint.replied` (on escalation's topic): two topics, no order
between them. A verdict read before the reply it answers waits (`NotYet`) until the
lifecycle topic is read as far as it reached, so it is taken as the verdict, not kept
as a message because the read copy had not heard of the reply yet.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from services.intake.complaints import service
from services.intake.complaints.flows import (
    apply_lifecycle,
    record_customer_sms,
    refuse_another_client,
)
from services.intake.db import outbox as outbox_table
from shared.clock import utcnow
from shared.consumer import Handler, NotYet, may_wait
from shared.contracts import SMS_INBOUND, LifecycleChanged, SmsInbound
from shared.db import Database
from shared.events import Event
from shared.outbox import Outbox
from shared.settings import Settings
from shared.topics import COMPLAINTS_LIFECYCLE
from shared.vocabulary import LIFECYCLE_EVENTS, EventName, SmsIntent, State

log = logging.getLogger(__name__)


def on_lifecycle_changed(session: Session, event: Event[Any]) -> None:
    payload: LifecycleChanged = event.payload
    apply_lifecycle(session, payload, event.envelope.occurred_at, event.envelope.tenant)


def _ahead_of_the_reply(session: Session, sms: SmsInbound) -> bool:
    """A customer's verdict on a complaint the read copy does not yet know was replied."""
    if sms.intent not in (SmsIntent.SATISFIED, SmsIntent.UNSATISFIED) or sms.staff_id:
        return False
    row = service.get_complaint(session, sms.complaint_id) if sms.complaint_id else None
    return row is not None and row.status not in (State.REPLIED, State.CLOSED)


def make_handlers(outbox: Outbox) -> dict[str, Handler]:
    def on_sms_inbound(session: Session, event: Event[Any]) -> None:
        refuse_another_client(session, event.payload.complaint_id, event.envelope.tenant)
        if may_wait() and _ahead_of_the_reply(session, event.payload):
            what = f"{EventName.REPLIED} of {event.payload.complaint_id}"
            raise NotYet(what, topic=COMPLAINTS_LIFECYCLE)
        done = record_customer_sms(session, outbox, event.payload, now=utcnow())
        if done != "ignored":
            log.info("customer SMS %s recorded as %s", event.payload.message_id, done)

    return {
        **dict.fromkeys(LIFECYCLE_EVENTS, on_lifecycle_changed),
        SMS_INBOUND.name: on_sms_inbound,
    }


def handlers(_db: Database, settings: Settings) -> Mapping[str, Handler]:
    return make_handlers(Outbox(outbox_table, lanes=settings.outbox_lanes))
