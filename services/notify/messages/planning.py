"""Planning: an event from another service becomes stored messages, one per recipient,
rendered in the language the phone reads, with opt-outs, quiet hours and the staff rate
limit applied. A message is stored (pending, its own id) before any provider call; the
sender (sender.py) takes it from there.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from services.notify.config import NotifyConfig
from services.notify.messages import notices, service
from services.notify.messages.context import Context
from services.notify.messages.notices import NEVER_DIGESTED, Customer, Notice
from shared.contracts import ComplaintReceived, DutyHandedOver, LifecycleChanged
from shared.logs import mask_phone
from shared.vocabulary import Audience, EventName

log = logging.getLogger(__name__)


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
    workbench = ctx.config.workbench_url.rstrip("/")
    if workbench and notice.audience != Audience.CUSTOMER and notice.reference:
        fields["link"] = f" {workbench}/c/{notice.reference}"
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
        event_type=EventName.COMPLAINT_RECEIVED,
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
    return plan(
        session, ctx, found, event_id=event_id, event_type=EventName.DUTY_HANDED_OVER, now=now
    )
