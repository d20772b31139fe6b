"""What notify does with an event, a send's outcome, a delivery receipt and an SMS a person
sent, each inside the caller's transaction so the effect, its events and (for events
consumed) the inbox row commit together.

A message is stored (pending, its own id) before any provider call; the sender
(sender.py) takes it from there. Phones are masked in every log line.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from services.notify import replies
from services.notify.config import NotifyConfig
from services.notify.messages import notices, service
from services.notify.messages.notices import NEVER_DIGESTED, Customer, Notice
from services.notify.providers.base import Inbound, Receipt
from services.notify.rendering import Templates
from shared.contracts import (
    SMS_DELIVERED,
    SMS_FAILED,
    SMS_INBOUND,
    SMS_SENT,
    ComplaintReceived,
    DutyHandedOver,
    LifecycleChanged,
    SmsEvent,
    SmsInbound,
)
from shared.events import SYSTEM, Actor, Envelope, registry
from shared.logs import mask_phone
from shared.outbox import Outbox
from shared.topics import SMS_EVENTS, dlq

log = logging.getLogger(__name__)

SOURCE = "notify"
CUSTOMER = Actor(id="customer", role="customer")


@dataclass(frozen=True)
class Context:
    """What the flows need besides the session: settings, templates, the outbox."""

    config: NotifyConfig
    templates: Templates
    outbox: Outbox

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.config.timezone)


# --- language and timing --------------------------------------------------------------


def language_for(phone: str, config: NotifyConfig) -> str:
    """A home number reads the default language; any other country reads the foreign one."""
    digits = phone.lstrip("+")
    if not phone.startswith("+") or any(digits.startswith(c) for c in config.home_country_codes):
        return config.default_language
    return config.foreign_language


def quiet_until(now: datetime, config: NotifyConfig) -> datetime | None:
    """The end of the quiet hours `now` falls in, or None when it is not quiet."""
    hours = config.quiet_hours
    if hours is None:
        return None
    start, end = hours
    tz = ZoneInfo(config.timezone)
    local = now.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    quiet = (start <= clock or clock < end) if start > end else (start <= clock < end)
    if not quiet:
        return None
    ends = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if ends <= local:
        ends += timedelta(days=1)
    return ends.astimezone(UTC)


def backoff(attempt: int, config: NotifyConfig) -> timedelta:
    """Exponential backoff with jitter: a random wait between half and all of
    base·2^(attempt-1), capped, so retries of many messages spread out but still grow."""
    ceiling = min(config.retry_max_seconds, config.retry_base_seconds * 2 ** (attempt - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


# --- planning: events become stored messages ------------------------------------------


def render_row(
    ctx: Context,
    notice: Notice,
    *,
    now: datetime,
    event_id: str | None,
    event_type: str | None,
    dedupe_key: str | None,
) -> dict[str, Any]:
    """A new outgoing message row for a notice, rendered in the recipient's language."""
    templates = ctx.templates
    language = templates.language_for(language_for(notice.phone, ctx.config))
    fields = dict(notice.fields)
    fields["severity"] = templates.label(language, "severity", fields.get("severity"))
    fields["category"] = templates.label(language, "category", fields.get("category"))
    if fields.get("decision") is not None:
        fields["decision"] = templates.label(language, "decision", fields["decision"])
    fields["urgent"] = templates.label(language, "urgent", "yes") if notice.urgent else ""
    for key in ("due", "until"):
        fields[key] = notices.local_time(fields.get(key), ctx.tz) or "-"
    rendered = templates.render(
        notice.template,
        language,
        fields,
        max_segments=ctx.config.max_segments,
        sign_name=ctx.config.sign_name,
    )
    return {
        "id": str(uuid.uuid4()),
        "direction": "out",
        "dedupe_key": dedupe_key,
        "event_id": event_id,
        "event_type": event_type,
        "complaint_id": notice.complaint_id,
        "reference": notice.reference,
        "department_id": notice.department_id,
        "phone": notice.phone,
        "audience": notice.audience,
        "staff_id": notice.staff_id,
        "template": rendered.template,
        "language": rendered.language,
        "body": rendered.text,
        "encoding": rendered.encoding,
        "segments": rendered.segments,
        "units": rendered.length.units,
        "urgent": notice.urgent,
        "reply_kind": notice.reply_kind,
        "status": "pending",
        "due_at": now,
        "held_reason": None,
        "attempts": 0,
        "created_at": now,
        "updated_at": now,
    }


def plan(
    session: Session,
    ctx: Context,
    found: Sequence[Notice],
    *,
    event_id: str,
    event_type: str,
    now: datetime,
) -> list[str]:
    """Store one message per notice, unless this event already has it (same event, same
    phone, same template); apply opt-outs, quiet hours and the staff rate limit.
    Returns the ids of the messages stored."""
    rows = []
    window = timedelta(seconds=ctx.config.staff_rate_window_seconds)
    planned_to: dict[str, int] = {}
    for notice in found:
        key = f"{event_id}:{notice.phone}:{notice.template}"
        row = render_row(
            ctx, notice, now=now, event_id=event_id, event_type=event_type, dedupe_key=key
        )
        if notice.to_customer:
            if service.opted_out(session, notice.phone):
                row.update(status="suppressed", held_reason="opted_out", finished_at=now)
            elif (until := quiet_until(now, ctx.config)) is not None:
                row.update(due_at=until, held_reason="quiet_hours")
        elif (
            ctx.config.staff_rate_limit
            and not notice.urgent
            and notice.template not in NEVER_DIGESTED
        ):
            recent = service.sent_to_since(session, phone=notice.phone, since=now - window)
            recent += planned_to.get(notice.phone, 0)
            if recent >= ctx.config.staff_rate_limit:
                row.update(status="held", held_reason="rate_limit", due_at=None)
            else:
                planned_to[notice.phone] = planned_to.get(notice.phone, 0) + 1
        rows.append(row)
    stored = service.add_messages(session, rows)
    kept = set(stored)
    for row in rows:
        if row["id"] in kept:
            log.info(
                "planned %s to %s (%s, %s, %d part(s), %s)",
                row["template"],
                mask_phone(row["phone"]),
                row["language"],
                row["encoding"],
                row["segments"],
                row["held_reason"] or row["status"],
                extra={"phones_masked": True},
            )
        else:
            log.info(
                "%s to %s for event %s was planned before; nothing new",
                row["template"],
                mask_phone(row["phone"]),
                event_id,
                extra={"phones_masked": True},
            )
    return stored


def on_complaint_received(
    session: Session, ctx: Context, payload: ComplaintReceived, *, event_id: str, now: datetime
) -> list[str]:
    service.save_contact(
        session,
        {
            "complaint_id": payload.complaint_id,
            "reference": payload.reference,
            "customer_phone": payload.customer_phone,
            "customer_name": payload.customer_name,
            "category": payload.category,
            "severity": payload.severity,
            "strong_emotion": payload.strong_emotion,
            "description": payload.description[:500],
            "imported": payload.imported,
            "registered_at": payload.registered_at,
        },
    )
    return plan(
        session,
        ctx,
        notices.on_received(payload),
        event_id=event_id,
        event_type="complaint.received",
        now=now,
    )


def on_lifecycle_changed(
    session: Session,
    ctx: Context,
    event_type: str,
    payload: LifecycleChanged,
    *,
    event_id: str,
    now: datetime,
) -> list[str]:
    contact = service.get_contact(session, payload.complaint_id)
    customer = (
        Customer(contact.customer_phone, contact.imported, contact.description)
        if contact is not None
        else None
    )
    found = notices.on_lifecycle(event_type, payload, customer)
    return plan(session, ctx, found, event_id=event_id, event_type=event_type, now=now)


def on_duty_handed_over(
    session: Session, ctx: Context, payload: DutyHandedOver, *, event_id: str, now: datetime
) -> list[str]:
    found = notices.on_duty_handed_over(payload)
    return plan(session, ctx, found, event_id=event_id, event_type="duty.handed_over", now=now)


# --- digests --------------------------------------------------------------------------


def send_digests(session: Session, ctx: Context, *, now: datetime) -> list[str]:
    """Merge each phone's held notices into one message once the oldest has waited a
    whole rate-limit window."""
    window = timedelta(seconds=ctx.config.staff_rate_window_seconds)
    made = []
    for phone in service.held_phones(session, before=now - window):
        held = service.held_for(session, phone)
        if not held:
            continue
        digest_id = str(uuid.uuid4())
        references = list(dict.fromkeys(m.reference for m in held if m.reference))
        first = held[0]
        notice = Notice(
            template="staff_digest",
            phone=phone,
            audience=first.audience or "duty_manager",
            staff_id=first.staff_id,
            fields={
                "count": len(held),
                "urgent_count": sum(1 for m in held if m.urgent),
                "references": ", ".join(references),
            },
        )
        row = render_row(
            ctx,
            notice,
            now=now,
            event_id=None,
            event_type="notify.digest",
            dedupe_key=f"digest:{digest_id}",
        )
        row["id"] = digest_id
        service.add_messages(session, [row])
        service.mark_digested(session, [m.id for m in held], digest_id, now)
        made.append(digest_id)
        log.info("digest of %d held notices to %s", len(held), mask_phone(phone))
    return made


# --- a send's outcome -----------------------------------------------------------------


def sms_event(name: str, row: Any, *, now: datetime, **fields: Any) -> Envelope:
    payload = SmsEvent(
        message_id=row.id,
        phone=row.phone,
        complaint_id=row.complaint_id,
        template=row.template,
        segments=row.segments,
        provider=fields.pop("provider", row.provider),
        provider_message_id=fields.pop("provider_message_id", row.provider_message_id),
        at=now,
        **fields,
    )
    return registry.new(
        name, payload, source=SOURCE, actor=SYSTEM, complaint_id=row.complaint_id, occurred_at=now
    )


@dataclass(frozen=True)
class Submission:
    """A message the provider took: under which id, in which state, after how many tries."""

    row: Any
    provider_message_id: str
    state: str
    attempts: int


def submitted(
    session: Session,
    ctx: Context,
    row: Any,
    *,
    provider: str,
    provider_message_id: str,
    state: str,
    attempts: int,
    now: datetime,
) -> None:
    """The provider took the message: record its id and announce `sms.sent`."""
    submitted_many(
        session,
        ctx,
        [Submission(row, provider_message_id, state, attempts)],
        provider=provider,
        now=now,
    )


def submitted_many(
    session: Session,
    ctx: Context,
    submissions: Sequence[Submission],
    *,
    provider: str,
    now: datetime,
) -> None:
    """`submitted` for a sender's whole pass: two statements, whatever the number."""
    if not submissions:
        return
    service.mark_submitted(
        session,
        [
            {
                "id": s.row.id,
                "state": s.state,
                "provider_message_id": s.provider_message_id,
                "attempts": s.attempts,
            }
            for s in submissions
        ],
        provider=provider,
        now=now,
    )
    ctx.outbox.add_many(
        session,
        [
            sms_event(
                SMS_SENT.name,
                s.row,
                now=now,
                provider=provider,
                provider_message_id=s.provider_message_id,
            )
            for s in submissions
        ],
    )


def retry_later(
    session: Session,
    ctx: Context,
    row: Any,
    *,
    error: str,
    attempts: int,
    uncertain: bool,
    now: datetime,
) -> None:
    """A transient failure: try again after a backoff, or give up after the last attempt.
    An uncertain send is looked up at the provider before it is sent again."""
    if attempts >= ctx.config.max_attempts:
        failed(
            session,
            ctx,
            row,
            error=f"gave up after {attempts} attempts: {error}",
            attempts=attempts,
            now=now,
        )
        return
    wait = backoff(attempts, ctx.config)
    service.update_message(
        session,
        row.id,
        status="unknown" if uncertain else "pending",
        attempts=attempts,
        due_at=now + wait,
        lease_until=None,
        last_error=error[:2000],
        updated_at=now,
    )
    log.warning(
        "%s to %s failed (attempt %d): %s; again in %.1fs",
        row.template,
        mask_phone(row.phone),
        attempts,
        error,
        wait.total_seconds(),
        extra={"phones_masked": True},
    )


def failed(
    session: Session, ctx: Context, row: Any, *, error: str, attempts: int, now: datetime
) -> None:
    """No more attempts: the message fails, `sms.failed` goes out and a dead-letter record
    keeps it for a person to look at."""
    service.update_message(
        session,
        row.id,
        status="failed",
        attempts=attempts,
        lease_until=None,
        last_error=error[:2000],
        finished_at=now,
        updated_at=now,
    )
    event = sms_event(SMS_FAILED.name, row, now=now, error=error[:500])
    ctx.outbox.add(session, event)
    dead = registry.new(
        SMS_FAILED.name,
        SmsEvent.model_validate(event.payload),
        source=SOURCE,
        actor=SYSTEM,
        complaint_id=row.complaint_id,
        correlation_id=event.correlation_id,
        causation_id=str(event.event_id),
        occurred_at=now,
    )
    (record,) = ctx.outbox.rows([dead], topic=dlq(SMS_EVENTS))
    record["headers"] += [
        ["dlq.reason", error[:2000]],
        ["dlq.error_class", "send"],
        ["dlq.consumer", SOURCE],
        ["dlq.message_id", row.id],
        ["dlq.failed_at", now.isoformat()],
    ]
    session.execute(ctx.outbox.table.insert(), [record])
    log.error(
        "%s to %s failed for good: %s",
        row.template,
        mask_phone(row.phone),
        error,
        extra={"phones_masked": True},
    )


# --- delivery receipts ----------------------------------------------------------------


def record_receipts(
    session: Session, ctx: Context, provider: str, receipts: Sequence[Receipt], *, now: datetime
) -> int:
    """Apply delivery receipts; they only move a message forward, and a repeated one
    changes nothing. Returns how many moved a message."""
    moved = 0
    for receipt in receipts:
        row = None
        if receipt.message_id:
            row = service.get_message(session, receipt.message_id, for_update=True)
        if row is None and receipt.provider_message_id:
            row = service.get_by_provider_id(
                session, provider, receipt.provider_message_id, for_update=True
            )
        if row is None or row.direction != "out":
            log.warning("receipt for a message we do not know: %s", receipt.provider_message_id)
            continue
        values: dict[str, Any] = {"updated_at": now}
        if row.provider_message_id is None and receipt.provider_message_id:
            values.update(provider=provider, provider_message_id=receipt.provider_message_id)
        final = receipt.state in ("delivered", "failed")
        if final:
            values["finished_at"] = now
        if receipt.state == "failed":
            values["last_error"] = receipt.error or receipt.raw_status
        if not service.advance(session, row.id, receipt.state, **values):
            continue
        moved += 1
        row = service.get_message(session, row.id)
        if receipt.state == "delivered":
            ctx.outbox.add(session, sms_event(SMS_DELIVERED.name, row, now=now))
        elif receipt.state == "failed":
            event = sms_event(SMS_FAILED.name, row, now=now, error=receipt.error)
            ctx.outbox.add(session, event)
    return moved


# --- inbound SMS ----------------------------------------------------------------------


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
    if intent == "opt_out" and service.opt_out(session, phone=phone, keyword=reading.word, now=now):
        _confirm(session, ctx, "customer_opted_out", phone, message_id, now)
    elif intent == "opt_in" and service.opt_in(session, phone=phone):
        _confirm(session, ctx, "customer_opted_in", phone, message_id, now)
    log.info(
        "SMS from %s read as %s%s",
        mask_phone(phone),
        intent,
        f" on {about.reference}" if about and about.reference else "",
        extra={"phones_masked": True},
    )
    if intent != "opt_in":  # not a contract intent: nothing for other services to do
        payload = SmsInbound(
            message_id=message_id,
            phone=phone,
            text=inbound.text,
            received_at=now,
            complaint_id=about.complaint_id if about else None,
            intent=intent,  # type: ignore[arg-type]
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
        event_type="sms.inbound",
        dedupe_key=f"{cause}:{phone}:{template}",
    )
    service.add_messages(session, [row])
