"""An SMS a person sent: stored, read against the message it answers, published as
`sms.inbound`; opt-outs and opt-ins take effect here.

Where clients send from numbers of their own, the number a person texted says which
client they write to: their reply is read against that client's messages only, so a
customer with complaints at two clients is answered about the one whose number they
texted. Where clients share a number, a reply is read against all of theirs, as with one
client (a bare "1" with complaints of both waiting is asked which it means). An opt-out
(退订) stops the SMS of every client sending from the number texted, and only theirs."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from services.notify import replies
from services.notify.messages import clients, service
from services.notify.messages.context import SOURCE, Context
from services.notify.messages.limits import Limits, log_refused
from services.notify.messages.notices import Notice
from services.notify.messages.planning import language_for, render_row
from services.notify.providers.base import Inbound
from shared.contracts import SMS_INBOUND, SmsInbound
from shared.events import Actor, registry
from shared.logs import mask_phone
from shared.tenants import DEFAULT_TENANT, tenants
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
    `sms.inbound`. Opt-outs and opt-ins take effect here, with one confirmation each; a
    duty manager's acknowledgement is answered with what it acknowledged."""
    phone = "".join(inbound.phone.split())
    key = f"in:{provider}:{inbound.provider_message_id}" if inbound.provider_message_id else None
    if key is not None and (earlier := service.get_by_dedupe_key(session, key)) is not None:
        return Received(earlier.id, earlier.intent or "message", earlier.complaint_id, True)
    reading = replies.read(inbound.text)
    since = now - timedelta(hours=ctx.config.reply_window_hours)
    # The clients this person wrote to (None: any, as for a centre of one client).
    texted = clients.texted(inbound.to, ctx.config)
    prompt = service.newest_prompt(
        session, phone=phone, since=since, reference=reading.reference, tenants=texted
    )
    intent = replies.intent(inbound.text, prompt.reply_kind if prompt else None)
    about = prompt
    waiting: list[Any] = []
    if intent == SmsIntent.ACK and reading.reference is None:
        # A bare "1": it answers the one complaint waiting for this person's
        # acknowledgement. With several waiting it would be a guess, so none is taken
        # and the person is asked which; with none, they are told so.
        waiting = service.open_prompts(session, phone=phone, since=since, tenants=texted)
        about = waiting[0] if len(waiting) == 1 else None
    if about is None and intent != SmsIntent.ACK:
        earlier_since = now - timedelta(days=ctx.config.message_window_days)
        about = service.newest_about_a_complaint(
            session, phone=phone, since=earlier_since, tenants=texted
        )
    # Who wrote, when no one complaint is meant: the person the prompt was for.
    writer = about or prompt
    # The message it answers: the one acknowledged, or the newest that asked.
    answers = about if intent == SmsIntent.ACK and about is not None else prompt
    tenant = _client_of(about, waiting, writer, texted)
    message_id = str(uuid.uuid4())
    language = language_for(phone, ctx.config)
    service.add_messages(
        session,
        [
            {
                "id": message_id,
                "tenant": tenant,
                "direction": "in",
                "dedupe_key": key,
                "complaint_id": about.complaint_id if about else None,
                "reference": about.reference if about else None,
                "department_id": about.department_id if about else None,
                "phone": phone,
                "audience": writer.audience if writer else None,
                "staff_id": writer.staff_id if writer else None,
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
                "in_reply_to": answers.id if answers else None,
                "created_at": now,
                "updated_at": now,
                "finished_at": now,
            }
        ],
    )
    # One confirmation each: a second 退订 (or START) changes nothing and says nothing.
    # Not knowing which number was texted, an opt-out stops every client's SMS.
    senders = texted if texted is not None else tenants().ids
    if intent == SmsIntent.OPT_OUT and service.opt_out(
        session, phone=phone, tenants=senders, keyword=reading.word, now=now
    ):
        notice = Notice("customer_opted_out", phone, "customer")
        _confirm(session, ctx, notice, tenant, message_id, now)
    elif intent == SmsIntent.OPT_IN and service.opt_in(session, phone=phone, tenants=senders):
        notice = Notice("customer_opted_in", phone, "customer")
        _confirm(session, ctx, notice, tenant, message_id, now)
    elif intent == SmsIntent.ACK and writer is not None:
        _answer_ack(session, ctx, about, writer, waiting, phone, since, tenant, message_id, now)
    elif intent in (SmsIntent.SATISFIED, SmsIntent.UNSATISFIED) and about and about.complaint_id:
        # A question about the same complaint waiting for the morning is not asked now.
        service.customer_answered(session, about.complaint_id, now=now)
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
            staff_id=writer.staff_id if writer else None,
        )
        actor = (
            Actor(id=writer.staff_id, role=writer.audience or "staff")
            if (writer is not None and writer.staff_id)
            else CUSTOMER
        )
        ctx.outbox.add(
            session,
            registry.new(
                SMS_INBOUND.name,
                payload,
                source=SOURCE,
                tenant=tenant,
                actor=actor,
                complaint_id=payload.complaint_id,
                occurred_at=now,
            ),
        )
    return Received(message_id, intent, about.complaint_id if about else None)


def _client_of(about: Any, waiting: list[Any], writer: Any, texted: list[str] | None) -> str:
    """The client an SMS a person sent is written to: that of the complaint it is about;
    of the complaints waiting for its answer, if one client's (several clients' sharing
    a number: the centre's default client, whose answer lists them all); of the message
    it answers; of the number texted; else the default client."""
    if about is not None:
        return str(about.tenant)
    if waiting:
        waiting_for = {m.tenant for m in waiting}
        return str(waiting_for.pop()) if len(waiting_for) == 1 else DEFAULT_TENANT
    if writer is not None:
        return str(writer.tenant)
    if texted is not None and len(texted) == 1:
        return texted[0]
    return DEFAULT_TENANT


def _answer_ack(
    session: Session,
    ctx: Context,
    about: Any,
    writer: Any,
    waiting: list[Any],
    phone: str,
    since: datetime,
    tenant: str,
    cause: str,
    now: datetime,
) -> None:
    """Tell a duty manager what their "1" did: which complaint it acknowledged (and what
    of the same client's still waits), that it named none of several, or that nothing
    waited."""
    person = {"audience": writer.audience or "duty_manager", "staff_id": writer.staff_id}
    if about is not None and about.complaint_id:
        service.close_prompts(session, about.complaint_id, now=now)
        still = service.open_prompts(session, phone=phone, since=since, tenants=[tenant])
        contact = service.get_contact(session, about.complaint_id)
        fields = {
            "reference": about.reference,
            "category": contact.category if contact is not None else None,
            "open_count": len(still) or None,
            "references": [m.reference for m in still],
        }
        notice = Notice(
            "staff_ack_confirmed",
            phone,
            fields=fields,
            complaint_id=about.complaint_id,
            reference=about.reference,
            **person,
        )
    elif waiting:
        references = [m.reference for m in waiting]
        fields = {"count": len(waiting), "references": references, "ack_example": references[0]}
        notice = Notice("staff_ack_which", phone, fields=fields, **person)
    else:
        notice = Notice("staff_ack_none", phone, **person)
    _confirm(session, ctx, notice, tenant, cause, now)


def _confirm(
    session: Session, ctx: Context, notice: Notice, tenant: str, cause: str, now: datetime
) -> None:
    """An answer to an SMS a person sent: straight out, never held for a digest, in the
    words and under the sign name of the client it was written to."""
    row = render_row(
        ctx,
        notice,
        tenant=tenant,
        # Written after the SMS it answers, so the message log shows them in that order.
        now=now + timedelta(microseconds=1),
        event_id=None,
        event_type=EventName.SMS_INBOUND,
        dedupe_key=f"{cause}:{notice.phone}:{notice.template}",
    )
    # Whoever texts us is answered within the same limits: a flood of texts, or texts
    # from abroad, are not answered beyond them.
    if Limits(session, ctx.config, now=now).apply(row):
        log_refused(row["template"], row["phone"], row["refused_reason"])
    service.add_messages(session, [row])
