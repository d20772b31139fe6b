"""An SMS a person sent: stored, read against the message it answers, published as
`sms.inbound`; opt-outs and opt-ins take effect here."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from services.notify import replies
from services.notify.messages import service
from services.notify.messages.context import SOURCE, Context
from services.notify.messages.notices import Notice
from services.notify.messages.planning import language_for, render_row
from services.notify.providers.base import Inbound
from shared.contracts import SMS_INBOUND, SmsInbound
from shared.events import Actor, registry
from shared.logs import mask_phone
from shared.vocabulary import EventName, SmsIntent

log = logging.getLogger(__name__)

CUSTOMER = Actor(id="customer", role="customer")


@dataclass(frozen=True)
class Received:
    message_id: str
    intent: str
    complaint_id: str | None
    duplicate: bool = False


def receive(
    session: Session, ctx: Context, provider: str, inbound: Inbound, *, now: datetime
) -> Received:
    """Store an SMS a person sent, read it against the message it answers, and publish
    `sms.inbound`. Opt-outs and opt-ins take effect here, with one confirmation each."""
    phone = "".join(inbound.phone.split())
    key = f"in:{provider}:{inbound.provider_message_id}" if inbound.provider_message_id else None
    if key is not None and (earlier := service.get_by_dedupe_key(session, key)) is not None:
        return Received(earlier.id, earlier.intent or "message", earlier.complaint_id, True)
    reading = replies.read(inbound.text)
    window = timedelta(hours=ctx.config.reply_window_hours)
    prompt = service.newest_prompt(
        session, phone=phone, since=now - window, reference=reading.reference
    )
    intent = replies.intent(inbound.text, prompt.reply_kind if prompt else None)
    about = prompt
    if about is None:
        since = now - timedelta(days=ctx.config.message_window_days)
        about = service.newest_about_a_complaint(session, phone=phone, since=since)
    message_id = str(uuid.uuid4())
    language = language_for(phone, ctx.config)
    service.add_messages(
        session,
        [
            {
                "id": message_id,
                "direction": "in",
                "dedupe_key": key,
                "complaint_id": about.complaint_id if about else None,
                "reference": about.reference if about else None,
                "department_id": about.department_id if about else None,
                "phone": phone,
                "audience": about.audience if about else None,
                "staff_id": about.staff_id if about else None,
                "language": language,
                "body": inbound.text,
                "encoding": "UCS-2" if not inbound.text.isascii() else "GSM-7",
                "segments": 1,
                "units": len(inbound.text),
                "urgent": False,
                "status": "received",
                "provider": provider,
                "provider_message_id": inbound.provider_message_id,
                "intent": intent,
                "in_reply_to": prompt.id if prompt else None,
                "created_at": now,
                "updated_at": now,
                "finished_at": now,
            }
        ],
    )
    # One confirmation each: a second 退订 (or START) changes nothing and says nothing.
    if intent == SmsIntent.OPT_OUT and service.opt_out(
        session, phone=phone, keyword=reading.word, now=now
    ):
        _confirm(session, ctx, "customer_opted_out", phone, message_id, now)
    elif intent == SmsIntent.OPT_IN and service.opt_in(session, phone=phone):
        _confirm(session, ctx, "customer_opted_in", phone, message_id, now)
    log.info(
        "SMS from %s read as %s%s",
        mask_phone(phone),
        intent,
        f" on {about.reference}" if about and about.reference else "",
        extra={"phones_masked": True},
    )
    if intent != SmsIntent.OPT_IN:  # not a contract intent: nothing for other services to do
        payload = SmsInbound(
            message_id=message_id,
            phone=phone,
            text=inbound.text,
            received_at=now,
            complaint_id=about.complaint_id if about else None,
            intent=intent,
            staff_id=about.staff_id if about else None,
        )
        actor = (
            Actor(id=about.staff_id, role=about.audience or "staff")
            if (about is not None and about.staff_id)
            else CUSTOMER
        )
        ctx.outbox.add(
            session,
            registry.new(
                SMS_INBOUND.name,
                payload,
                source=SOURCE,
                actor=actor,
                complaint_id=payload.complaint_id,
                occurred_at=now,
            ),
        )
    return Received(message_id, intent, about.complaint_id if about else None)


def _confirm(
    session: Session, ctx: Context, template: str, phone: str, cause: str, now: datetime
) -> None:
    notice = Notice(template=template, phone=phone, audience="customer")
    row = render_row(
        ctx,
        notice,
        now=now,
        event_id=None,
        event_type=EventName.SMS_INBOUND,
        dedupe_key=f"{cause}:{phone}:{template}",
    )
    service.add_messages(session, [row])
