"""Planning: an event from another service becomes stored messages, one per recipient,
rendered in the language the phone reads, with the centre's limits (allowed countries,
daily caps: limits.py), opt-outs, quiet hours and the staff rate limit applied. A message
is stored (pending, its own id) before any provider call; the sender (sender.py) takes it
from there.

Every message is a client's (the event's, shared.tenants): written with that client's
templates, categories and sign name, and never about another client's complaints. A
shift hand-over at the centre's shared desk lists each client's complaints in an SMS of
that client's; an alert about no one complaint (a hot issue) goes to the desk and the
departments of its own client only.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from services.notify.config import NotifyConfig
from services.notify.messages import clients, notices, service
from services.notify.messages.context import Context
from services.notify.messages.limits import Limits, log_refused, refuse
from services.notify.messages.notices import NEVER_DIGESTED, Customer, Notice
from services.notify.rendering import Listed, Templates
from services.notify.text import clip, measure
from shared.contracts import (
    ComplaintReceived,
    DutyHandedOver,
    HotIssueDetected,
    LifecycleChanged,
    Recipient,
)
from shared.logs import mask_phone
from shared.tenants import DEFAULT_TENANT
from shared.vocabulary import Action, Audience, EventName, Nature, State

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


# Facts printed by their label in the reader's language.
_WORDED = (
    "severity",
    "category",
    "decision",
    "waiting_on",
    "stage",
    "return_reason",
    "blocked",
    "action",
    "state",
)
# Free texts a template follows with its own full stop.
_SENTENCES = ("resolution", "reason", "instructions", "contribution")
_STOPS = "。．.！!；;，, "
# What a digest line keeps of a notice's detail: a few words.
_DETAIL_UNITS = {"UCS-2": 14, "GSM-7": 28}


def localise(ctx: Context, notice: Notice, language: str, tenant: str) -> dict[str, Any]:
    """The notice's facts worded for a reader of `language`: vocabulary words and the
    client's categories by their labels, times in the centre's zone, lateness in words,
    and the link to the complaint on the workbench. A fact with no value stays None, so
    the template's optional part that needs it drops out."""
    templates = ctx.templates_for(tenant)
    fields = dict(notice.fields)
    for group in _WORDED:
        fields[group] = templates.label(language, group, fields.get(group))
    fields["urgent"] = templates.label(language, "urgent", "yes") if notice.urgent else ""
    if fields.get("imported"):
        fields["imported"] = templates.label(language, "imported", "yes")
    for key in ("due", "until", "at", "first_at"):
        fields[key] = notices.local_time(fields.get(key), ctx.tz)
    fields["late"] = notices.duration(fields.get("late"), language)
    for key in _SENTENCES:
        if isinstance(fields.get(key), str):
            fields[key] = fields[key].strip().rstrip(_STOPS) or None
    if isinstance(fields.get("references"), list):
        fields["references"] = Listed(tuple(fields["references"]))
    base = ctx.config.workbench_url.strip().rstrip("/")
    if base:
        fields["workbench"] = base
        if notice.reference:
            fields["link"] = f"{base}/c/{quote(notice.reference)}"
    return fields


def digest_line(
    templates: Templates,
    config: NotifyConfig,
    notice: Notice,
    language: str,
    fields: dict[str, Any],
) -> str:
    """The notice as one line of a digest: reference, category, what it is, a few words."""
    key = notices.DIGEST_DETAIL.get(notice.template)
    detail = fields.get(key) if key else None
    if detail is not None:
        text = str(detail)
        encoding = measure(text).encoding
        detail = clip(text, _DETAIL_UNITS[encoding], encoding)
    line = templates.render(
        "staff_digest_item",
        language,
        {
            "reference": notice.reference,
            "category": fields.get("category"),
            "what": templates.label(language, "what", notice.template),
            "detail": detail,
        },
        max_segments=config.max_segments,
    )
    return line.text


def reading_language(ctx: Context, phone: str, tenant: str) -> str:
    """The language of the client's templates a phone is written to in."""
    return ctx.templates_for(tenant).language_for(language_for(phone, ctx.config))


def render_row(
    ctx: Context,
    notice: Notice,
    *,
    tenant: str,
    now: datetime,
    event_id: str | None,
    event_type: str | None,
    dedupe_key: str | None,
) -> dict[str, Any]:
    """A new outgoing message row of the client's for a notice, rendered in the
    recipient's language with the client's templates and signed with its sign name."""
    templates = ctx.templates_for(tenant)
    language = reading_language(ctx, notice.phone, tenant)
    fields = localise(ctx, notice, language, tenant)
    written_in, _ = templates.template(notice.template, language)
    rendered = templates.render(
        notice.template,
        language,
        fields,
        max_segments=ctx.config.max_segments,
        sign_name=ctx.signature(tenant, written_in),
    )
    return {
        "id": str(uuid.uuid4()),
        "tenant": tenant,
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
        "digest_line": None,
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
    tenant: str,
) -> list[str]:
    """Store one message per notice, unless this event already has it (same event, same
    phone, same template, same client); apply the centre's limits, opt-outs, quiet hours
    and the staff rate limit. Each is the client's the notice names, else the event's
    (`tenant`). Returns the ids of the messages stored."""
    rows = []
    window = timedelta(seconds=ctx.config.staff_rate_window_seconds)
    planned_to: dict[str, int] = {}
    limits = Limits(session, ctx.config, now=now)
    for notice in found:
        client = notice.tenant or tenant
        key = f"{event_id}:{notice.phone}:{notice.template}"
        if client != tenant:
            key += f":{client}"
        row = render_row(
            ctx,
            notice,
            tenant=client,
            now=now,
            event_id=event_id,
            event_type=event_type,
            dedupe_key=key,
        )
        if notice.to_customer and service.opted_out(
            session, notice.phone, clients.same_sender(client, ctx.config)
        ):
            row.update(status="suppressed", held_reason="opted_out", finished_at=now)
        elif limits.apply(row):
            pass
        elif notice.to_customer:
            if (until := quiet_until(now, ctx.config)) is not None:
                row.update(due_at=until, held_reason="quiet_hours")
        elif (
            ctx.config.staff_rate_limit
            and not notice.urgent
            and notice.template not in NEVER_DIGESTED
        ):
            recent = service.sent_to_since(session, phone=notice.phone, since=now - window)
            recent += planned_to.get(notice.phone, 0)
            if recent >= ctx.config.staff_rate_limit:
                language = row["language"]
                fields = localise(ctx, notice, language, client)
                line = digest_line(ctx.templates_for(client), ctx.config, notice, language, fields)
                row.update(status="held", held_reason="rate_limit", due_at=None, digest_line=line)
            else:
                planned_to[notice.phone] = planned_to.get(notice.phone, 0) + 1
        limits.count(row)
        rows.append(row)
    stored = service.add_messages(session, rows)
    kept = set(stored)
    for row in rows:
        if row["id"] in kept and row["status"] == "refused":
            log_refused(row["template"], row["phone"], row["refused_reason"])
        elif row["id"] in kept:
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
    session: Session,
    ctx: Context,
    payload: ComplaintReceived,
    *,
    event_id: str,
    now: datetime,
    tenant: str = DEFAULT_TENANT,
) -> list[str]:
    service.save_contact(
        session,
        {
            "complaint_id": payload.complaint_id,
            "tenant": tenant,
            "reference": payload.reference,
            "customer_phone": payload.customer_phone,
            "customer_name": payload.customer_name,
            "category": payload.category,
            "severity": payload.severity,
            "strong_emotion": payload.strong_emotion,
            "description": payload.description[:500],
            "imported": payload.imported,
            "registered_at": payload.registered_at,
            "nature": payload.nature,
            "customer_textable": payload.customer_textable,
        },
    )
    return plan(
        session,
        ctx,
        notices.on_received(payload),
        event_id=event_id,
        event_type=EventName.COMPLAINT_RECEIVED,
        now=now,
        tenant=tenant,
    )


def _prompts_end(event_type: str, p: LifecycleChanged) -> bool:
    """Whether what was asked to be acknowledged so far is settled by this event: it was
    acknowledged, the complaint left the duty desk, or a new prompt replaces the old."""
    left_desk = p.from_state == State.WITH_DUTY_MANAGER and p.to_state != p.from_state
    return event_type == EventName.ACKNOWLEDGED or left_desk or event_type in notices.ACK_EVENTS


def learn_contacts(
    session: Session,
    event_type: str,
    payload: LifecycleChanged | DutyHandedOver,
    *,
    at: datetime,
    tenant: str,
) -> None:
    """Remember whom the event names at the desk of its roster (the hand-over's, or the
    one answering for the complaint's client), and the phones of the client's department
    it texted: where an alert about no one complaint goes."""
    desk = notices.desk_named(event_type, payload)
    if desk is not None and desk.staff_id:
        if isinstance(payload, DutyHandedOver):
            roster = payload.roster_tenant or clients.SHARED_ROSTER
        else:
            roster = clients.roster_of(tenant)
        service.saw_duty_manager(
            session,
            roster=roster,
            tenant=roster or DEFAULT_TENANT,
            staff_id=desk.staff_id,
            phone=desk.phone,
            name=desk.name,
            at=at,
            seen_in=event_type,
        )
    if isinstance(payload, LifecycleChanged) and payload.department_id:
        phones = notices.department_desk(payload)
        if phones:
            service.saw_department(
                session,
                tenant=tenant,
                department_id=payload.department_id,
                name=payload.department_name or phones[0].name,
                phones=[r.phone for r in phones],
                at=at,
                seen_in=event_type,
            )


# `on_lifecycle_changed` reads the contact itself.
UNREAD: Any = object()


def on_lifecycle_changed(
    session: Session,
    ctx: Context,
    event_type: str,
    payload: LifecycleChanged,
    *,
    event_id: str,
    now: datetime,
    at: datetime | None = None,
    tenant: str = DEFAULT_TENANT,
    contact: Any = UNREAD,
) -> list[str]:
    """The SMS a lifecycle event plans; `at` is when it happened (the envelope's time).
    `contact`: the complaint's contact row (or None) if the caller has read it already in
    this transaction; what is used of it (the customer's facts) no step here changes."""
    learn_contacts(session, event_type, payload, at=at or now, tenant=tenant)
    # The customer's verdict is in (not a failed follow-up call): a satisfaction question
    # still waiting for the morning is no longer asked.
    verdict = payload.action == Action.FEEDBACK and event_type != EventName.FOLLOW_UP_FAILED
    service.track_state(
        session,
        payload.complaint_id,
        state=payload.to_state,
        seq=payload.history_seq,
        answered_at=now if verdict else None,
    )
    if _prompts_end(event_type, payload):
        service.close_prompts(session, payload.complaint_id, now=now)
    if contact is UNREAD:
        contact = service.get_contact(session, payload.complaint_id)
    customer = None
    if contact is not None:
        nature = payload.nature or contact.nature
        conveyed = (
            event_type == EventName.CLOSED
            and nature == Nature.RECOGNITION
            and service.sent_template(session, payload.complaint_id, "customer_conveyed")
        )
        customer = Customer(
            contact.customer_phone,
            contact.imported,
            contact.description,
            textable=contact.customer_textable,
            nature=contact.nature,
            conveyed=conveyed,
        )
    found = notices.on_lifecycle(event_type, payload, customer)
    return plan(
        session, ctx, found, event_id=event_id, event_type=event_type, now=now, tenant=tenant
    )


def on_duty_handed_over(
    session: Session,
    ctx: Context,
    payload: DutyHandedOver,
    *,
    event_id: str,
    now: datetime,
    at: datetime | None = None,
    tenant: str = DEFAULT_TENANT,
) -> list[str]:
    """The incoming duty manager's summary: one SMS per client whose complaints were
    handed over (a shared desk holds several clients'), each in that client's words and
    signed by it. A complaint notify has not heard of counts as the roster's client's."""
    learn_contacts(session, EventName.DUTY_HANDED_OVER, payload, at=at or payload.at, tenant=tenant)
    known = service.tenants_of(session, (c.complaint_id for c in payload.complaints))
    by_client: dict[str, list[Any]] = {}
    for item in payload.complaints:
        by_client.setdefault(known.get(item.complaint_id, tenant), []).append(item)
    found: list[Notice] = []
    for client, items in by_client.items():
        # The hand-over's one line counts every client's complaints: not for one client's.
        part = payload.model_copy(
            update={"complaints": items, "summary": payload.summary if len(by_client) == 1 else ""}
        )
        found += [replace(n, tenant=client) for n in notices.on_duty_handed_over(part)]
    return plan(
        session,
        ctx,
        found,
        event_id=event_id,
        event_type=EventName.DUTY_HANDED_OVER,
        now=now,
        tenant=tenant,
    )


# Why an alert went to nobody (refused_reason), in the message log and in the log.
NO_DUTY_MANAGER = "no_duty_manager_known"
NO_DEPARTMENT_CONTACT = "no_department_contact_known"
_UNREACHED = {
    NO_DUTY_MANAGER: "no duty manager known yet",
    NO_DEPARTMENT_CONTACT: "no SMS contact of the department known yet",
}


def on_hot_issue_detected(
    session: Session,
    ctx: Context,
    payload: HotIssueDetected,
    *,
    event_id: str,
    now: datetime,
    tenant: str = DEFAULT_TENANT,
) -> list[str]:
    """The alert to the duty manager on duty at the desk answering for the issue's client
    (its own roster's, else the shared roster's) and to that client's departments' contacts.
    One that has nobody to go to (no duty manager named yet, a department never texted)
    is kept in the message log, refused with the reason, rather than dropped unseen."""
    event_type = EventName.HOT_ISSUE_DETECTED
    seen = service.duty_manager_now(session, roster=clients.roster_of(tenant))
    desk = (
        Recipient(
            audience=Audience.DUTY_MANAGER, phone=seen.phone, staff_id=seen.staff_id, name=seen.name
        )
        if seen is not None
        else None
    )
    known = service.department_contacts_of(session, payload.department_ids, tenant=tenant)
    departments = {
        department_id: [
            Recipient(audience=Audience.DEPARTMENT, phone=phone, name=row.name)
            for phone in row.phones
        ]
        for department_id, row in known.items()
    }
    found = notices.on_hot_issue(payload, desk, departments)
    stored = plan(
        session, ctx, found, event_id=event_id, event_type=event_type, now=now, tenant=tenant
    )
    unreached: list[tuple[str, str | None]] = [] if desk else [(NO_DUTY_MANAGER, None)]
    unreached += [
        (NO_DEPARTMENT_CONTACT, department_id)
        for department_id in dict.fromkeys(payload.department_ids)
        if not departments.get(department_id)
    ]
    for reason, department_id in unreached:
        # In place of a phone in the message's key (event:phone:template): whom it was for.
        whom = f"department:{department_id}" if department_id else "desk"
        notice = Notice(
            template="staff_hot_issue",
            phone="",
            audience=Audience.DEPARTMENT if department_id else Audience.DUTY_MANAGER,
            fields=notices.hot_issue_facts(payload),
            department_id=department_id,
        )
        row = render_row(
            ctx,
            notice,
            tenant=tenant,
            now=now,
            event_id=event_id,
            event_type=event_type,
            dedupe_key=f"{event_id}:{whom}:{notice.template}",
        )
        refuse(row, reason, now=now)
        kept = service.add_messages(session, [row])
        if kept:
            log.warning(
                "hot issue %s: the alert %s is not sent: %s",
                payload.key,
                f"to department {department_id}" if department_id else "to the desk",
                _UNREACHED[reason],
                extra={"refused_reason": reason},
            )
        stored += kept
    return stored
