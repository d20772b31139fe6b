"""Who gets which SMS for each event, with which template and facts. Pure code: planning
(planning.py) looks up contacts and opt-outs, words the facts in the reader's language,
renders and stores.

- Duty managers (and supervisors holding a complaint) hear of assignments, hand-overs,
  returns, escalations and extension requests, with the reference, severity, category,
  the customer's masked phone, one line about the complaint, how to reply and a link to
  the complaint on the workbench.
- Department contacts hear of dispatches, transfers (the department a complaint is
  transferred to; the one that gave it up is not texted) and urges; a clerk to whom the
  head, the desk or the department's rota gives a complaint hears of it on their own
  phone (never as the department's contact).
- A hot issue (many callers about one problem at one place within a day, from
  analytics) is told to the duty manager on duty and to the contacts of each department
  its complaints went to. Notify keeps no roster nor directory: it remembers whom the
  lifecycle events named (`desk_named`, `department_desk`).
- The customer hears on registration (the reference), on the reply (the resolution and
  the satisfaction question) and on closure; a compliment is thanked and told it was
  passed on, never asked whether they are satisfied. The acknowledgement goes out on
  intake's `complaint.received`, not on the lifecycle's assignment, so it does not wait
  for the lifecycle to take the complaint in; the customer entry of `complaint.assigned`
  is therefore not acted on. A number that cannot take an SMS (a landline) gets none.

Facts are kept structured (a stage, a return reason code, a time) so each is worded in
the reader's language; a template variant says what differs (an urge by the SLA timer
or by a person, a reopening by the customer's verdict or by the desk).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.contracts import (
    ComplaintReceived,
    DutyHandedOver,
    HotIssueDetected,
    LifecycleChanged,
    Recipient,
)
from shared.logs import mask_phone
from shared.vocabulary import Action, Audience, EventName, Nature, Severity, Stage, State

STAFF_TEMPLATES: Mapping[str, str] = {
    EventName.ASSIGNED: "staff_assigned",
    EventName.HANDED_OVER: "staff_handed_over",
    EventName.RETURNED: "staff_returned",
    EventName.DISPATCHED: "staff_dispatched",
    EventName.TRANSFERRED: "staff_transferred",
    EventName.URGED: "staff_urged",
    EventName.ESCALATED: "staff_escalated",
    EventName.EXTENSION_REQUESTED: "staff_extension_requested",
    EventName.EXTENSION_DECIDED: "staff_extension_decided",
    EventName.REPLIED: "staff_replied",
    EventName.PAUSE_REQUESTED: "staff_pause_requested",
    EventName.PAUSE_DECIDED: "staff_pause_decided",
    EventName.PAUSED: "staff_paused",
    EventName.RESUMED: "staff_resumed",
    EventName.MERGED: "staff_merged",
    EventName.ASSIST_CONTRIBUTED: "staff_assist_contributed",
    EventName.ASSIST_DECLINED: "staff_assist_declined",
    EventName.ASSIST_RELEASED: "staff_assist_released",
    EventName.REOPENED: "staff_reopened",
    EventName.FEEDBACK_RECORDED: "staff_closure_blocked",
    EventName.CLERK_ASSIGNED: "staff_clerk_assigned",
}
# The same events when the SLA timer acted (the facts are a stage and a deadline).
OVERDUE_TEMPLATES: Mapping[str, str] = {
    EventName.URGED: "staff_urged_overdue",
    EventName.ESCALATED: "staff_escalated_overdue",
}
# Events after which the complaint waits for the duty manager's acknowledgement: their
# message asks the desk to reply 1.
ACK_EVENTS = frozenset({EventName.ASSIGNED, EventName.HANDED_OVER, EventName.RETURNED})
DESK = frozenset({Audience.DUTY_MANAGER, Audience.SUPERVISOR})
# Summaries, alerts and answers to a reply: never held back into a digest (a digest
# line is about one complaint).
NEVER_DIGESTED = frozenset(
    {
        "staff_shift_handover",
        "staff_hot_issue",
        "staff_digest",
        "staff_ack_confirmed",
        "staff_ack_which",
        "staff_ack_none",
    }
)
# Which fact a notice's digest line shows in a few words.
DIGEST_DETAIL: Mapping[str, str] = {
    "staff_assigned": "description",
    "staff_handed_over": "description",
    "staff_returned": "return_reason",
    "staff_dispatched": "instructions",
    "staff_transferred": "reason",
    "staff_urged": "reason",
    "staff_urged_overdue": "stage",
    "staff_escalated": "reason",
    "staff_escalated_overdue": "stage",
    "staff_extension_requested": "until",
    "staff_extension_decided": "decision",
    "staff_replied": "resolution",
    "staff_pause_requested": "waiting_on",
    "staff_pause_decided": "decision",
    "staff_paused": "waiting_on",
    "staff_resumed": "due",
    "staff_merged": "master_reference",
    "staff_assist_dispatched": "instructions",
    "staff_assist_contributed": "assist_department",
    "staff_assist_declined": "reason",
    "staff_assist_released": "reason",
    "staff_assist_urged": "reason",
    "staff_assist_overdue": "due",
    "staff_reopened": "reason",
    "staff_reopened_unsatisfied": "reason",
    "staff_closure_blocked": "blocked",
    "staff_notice": "action",
    "staff_clerk_assigned": "description",
}
# What a compliment's customer hears instead of the complaint's wording.
COMPLIMENT = {
    "customer_received": "customer_received_compliment",
    "customer_replied": "customer_conveyed",
    "customer_closed": "customer_conveyed",
}


@dataclass(frozen=True)
class Notice:
    """One SMS to one person, before it is rendered in their language."""

    template: str
    phone: str
    audience: str
    fields: dict[str, Any] = field(default_factory=dict)
    staff_id: str | None = None
    urgent: bool = False
    reply_kind: str | None = None
    complaint_id: str | None = None
    reference: str | None = None
    department_id: str | None = None
    # The client it is written for, where not the event's own (planning.py).
    tenant: str | None = None

    @property
    def to_customer(self) -> bool:
        return self.audience == Audience.CUSTOMER


@dataclass(frozen=True)
class Customer:
    """What notify remembers of a complaint's customer (from `complaint.received`)."""

    phone: str | None
    imported: bool = False
    description: str | None = None
    textable: bool = True
    nature: str | None = None
    # A compliment's customer was already told it was passed on.
    conveyed: bool = False


def on_received(payload: ComplaintReceived) -> list[Notice]:
    if payload.imported or not payload.customer_phone or not payload.customer_textable:
        return []
    compliment = payload.nature == Nature.RECOGNITION
    return [
        Notice(
            template=COMPLIMENT["customer_received"] if compliment else "customer_received",
            phone=payload.customer_phone,
            audience=Audience.CUSTOMER,
            fields={"reference": payload.reference, "customer_name": payload.customer_name},
            complaint_id=payload.complaint_id,
            reference=payload.reference,
        )
    ]


def breached_stage(stage: str | None, state: str) -> Stage | None:
    """The stage a breach is about, as people name it: the resolution clock still at the
    duty desk is the desk's own handling time."""
    found = Stage.of(stage)
    if found == Stage.RESOLUTION and state == State.WITH_DUTY_MANAGER:
        return Stage.HANDLING
    return found


def _breach(details: Mapping[str, Any], state: str) -> dict[str, Any] | None:
    """The SLA timer's facts, if this event is its doing and they are complete."""
    breach = details.get("breach")
    if not isinstance(breach, Mapping):
        return None
    stage = breached_stage(breach.get("stage"), state)
    if stage is None or not breach.get("due_at"):
        return None
    return {"stage": stage, "due": breach["due_at"], "late": breach.get("late_minutes")}


def staff_template(event_type: str, p: LifecycleChanged) -> str:
    """The template for staff: the event's, or its variant for what caused it."""
    if event_type in OVERDUE_TEMPLATES and _breach(p.details, p.to_state) is not None:
        return OVERDUE_TEMPLATES[event_type]
    if event_type == EventName.REOPENED and p.details.get("via") == Action.FEEDBACK:
        return "staff_reopened_unsatisfied"
    if p.action == Action.URGE_ASSIST:
        # The part of an assisting department (协办): its own deadline, or the desk's words.
        return "staff_assist_overdue" if p.details.get("assist_breach") else "staff_assist_urged"
    return STAFF_TEMPLATES.get(event_type, "staff_notice")


def facts_of(p: LifecycleChanged, customer: Customer | None) -> dict[str, Any]:
    """What an SMS about this event may say, unworded: words, times, counts, texts."""
    details = p.details
    reopened_by_verdict = p.details.get("via") == Action.FEEDBACK
    facts: dict[str, Any] = {
        "reference": p.reference,
        "severity": p.severity,
        "category": p.category,
        "customer_phone": mask_phone(customer.phone) if customer and customer.phone else None,
        "description": customer.description if customer else None,
        "summary": p.summary,
        "resolution": p.resolution,
        # Reopened by the customer's verdict: what they said on the follow-up call.
        "reason": details.get("comment") if reopened_by_verdict else p.reason,
        "instructions": details.get("instructions"),
        # Old events name no department: its id is better than nothing.
        "department": p.department_name or p.department_id or details.get("department_id"),
        # A transfer: the department that sent it on (its name where escalation knew it).
        "from_department": details.get("from_department_name") or details.get("from_department_id"),
        "due": p.due_at,
        "until": (
            details.get("until")
            or details.get("requested_until")
            or details.get("paused_until")
            or details.get("resume_at")
            or details.get("assist_due_at")
        ),
        "assist_department": (
            details.get("assist_department_name") or details.get("assist_department_id")
        ),
        "contribution": details.get("contribution"),
        "waiting_on": details.get("waiting_on"),
        "master_reference": details.get("master_reference"),
        "decision": details.get("decision"),
        "return_reason": details.get("reason_code"),
        "blocked": details.get("closure_blocked_by"),
        "action": p.action,
        "state": p.to_state,
        "level": p.escalation_level,
        "reopen_count": p.reopen_count,
        # Live work brought over from an older system: the reader should know it is old.
        "imported": "yes" if details.get("imported") else None,
    }
    breach = _breach(details, p.to_state)
    if breach is not None:
        facts.update(breach)
    late_part = details.get("assist_breach")
    if isinstance(late_part, Mapping) and late_part.get("due_at"):
        facts.update(due=late_part["due_at"], late=late_part.get("late_minutes"))
    return facts


def on_lifecycle(event_type: str, p: LifecycleChanged, customer: Customer | None) -> list[Notice]:
    urgent = p.severity == Severity.URGENT or p.strong_emotion
    facts = facts_of(p, customer)
    common: dict[str, Any] = {
        "complaint_id": p.complaint_id,
        "reference": p.reference,
        "department_id": p.department_id,
    }
    textable = p.customer_textable and (customer is None or customer.textable)
    nature = p.nature or (customer.nature if customer else None)
    compliment = nature == Nature.RECOGNITION
    reply_template = COMPLIMENT["customer_replied"] if compliment else "customer_replied"
    notices: list[Notice] = []
    for recipient in p.recipients:
        if recipient.audience == Audience.DUPLICATE_CALLER:
            # Escalation named only callers whose number takes an SMS; the outcome of the
            # master is theirs too, under their own reference, and asks nothing of them.
            if event_type == EventName.REPLIED:
                notices.append(
                    Notice(
                        template="customer_merged_outcome",
                        phone=recipient.phone,
                        audience=Audience.CUSTOMER,
                        fields={
                            **facts,
                            "reference": recipient.reference or p.reference,
                            "master_reference": p.reference,
                            "customer_name": recipient.name,
                        },
                        **common,
                    )
                )
            continue
        if recipient.audience == Audience.CUSTOMER:
            if event_type == EventName.MERGED and textable:
                answered = p.details.get("master_resolution")
                notices.append(
                    Notice(
                        template="customer_merged_outcome" if answered else "customer_merged",
                        phone=recipient.phone,
                        audience=Audience.CUSTOMER,
                        fields={**facts, "resolution": answered, "customer_name": recipient.name},
                        **common,
                    )
                )
            if event_type == EventName.REPLIED and textable:
                notices.append(
                    Notice(
                        template=reply_template,
                        phone=recipient.phone,
                        audience=Audience.CUSTOMER,
                        fields={**facts, "customer_name": recipient.name},
                        # A compliment is not asked whether they are satisfied.
                        reply_kind=None if compliment else "feedback",
                        **common,
                    )
                )
            continue
        reply = "ack" if event_type in ACK_EVENTS and recipient.audience in DESK else None
        template = staff_template(event_type, p)
        if (
            event_type == EventName.DISPATCHED
            and recipient.audience == Audience.ASSISTING_DEPARTMENT
        ):
            template = "staff_assist_dispatched"  # 协办: its part, the lead named
        notices.append(
            Notice(
                template=template,
                phone=recipient.phone,
                audience=recipient.audience,
                fields={**facts, "staff_name": recipient.name},
                staff_id=recipient.staff_id,
                urgent=urgent,
                reply_kind=reply,
                **common,
            )
        )
    if (
        event_type == EventName.CLOSED
        and customer is not None
        and customer.phone
        and not customer.imported
        and textable
        # A compliment already told it was passed on hears nothing more.
        and not (compliment and customer.conveyed)
    ):
        notices.append(
            Notice(
                template=COMPLIMENT["customer_closed"] if compliment else "customer_closed",
                phone=customer.phone,
                audience=Audience.CUSTOMER,
                fields=facts,
                **common,
            )
        )
    return notices


def on_duty_handed_over(p: DutyHandedOver) -> list[Notice]:
    if not p.complaints:
        return []
    urgent = sum(1 for c in p.complaints if c.severity in (Severity.URGENT, Severity.HIGH))
    overdue = sum(1 for c in p.complaints if c.due_at is not None and c.due_at < p.at)
    facts = {
        "count": len(p.complaints),
        "urgent_count": urgent,
        "overdue_count": overdue,
        "references": [c.reference for c in p.complaints],
        "summary": p.summary,
        "at": p.at,
    }
    return [
        Notice(
            template="staff_shift_handover",
            phone=r.phone,
            audience=r.audience,
            fields={**facts, "staff_name": r.name},
            staff_id=r.staff_id,
        )
        for r in p.recipients
    ]


# Lifecycle events whose duty-manager recipient is the manager at the desk now: a new
# complaint goes to the manager on duty, and a shift change moves open complaints to the
# incoming one. A supervisor's reassignment, also published as a hand-over, goes to the
# manager chosen, on duty or not: it names nobody at the desk.
DESK_EVENTS = frozenset({EventName.ASSIGNED, EventName.HANDED_OVER})


def desk_named(event_type: str, p: LifecycleChanged | DutyHandedOver) -> Recipient | None:
    """The duty manager this event names as the one on duty now, if it names one."""
    if isinstance(p, LifecycleChanged) and (
        event_type not in DESK_EVENTS or p.action == Action.REASSIGN
    ):
        return None
    for r in p.recipients:
        if r.audience == Audience.DUTY_MANAGER and r.staff_id:
            return r
    return None


def department_desk(p: LifecycleChanged) -> list[Recipient]:
    """The department's own phones this event texted (all of them, as the directory lists
    them), not a clerk's: escalation names a person by staff id, the department's phones
    by none."""
    if not p.department_id:
        return []
    return [r for r in p.recipients if r.audience == Audience.DEPARTMENT and not r.staff_id]


def hot_issue_facts(p: HotIssueDetected) -> dict[str, Any]:
    """What the alert says: the issue's label as the dashboard shows it, how many callers
    and complaints, since when, and a few references to look up."""
    return {
        "label": p.label,
        "callers": p.callers,
        "complaints": p.complaints,
        "first_at": p.first_at,
        "references": list(p.references),
    }


def on_hot_issue(
    p: HotIssueDetected,
    desk: Recipient | None,
    departments: Mapping[str, Sequence[Recipient]],
) -> list[Notice]:
    """The alert to the duty manager on duty and to the contacts of each department the
    issue's complaints went to, each phone once. Like the hand-over summary it is never
    held for a digest and not urgent: `urgent` marks an urgent complaint (【紧急】, past
    the daily cap), and a staff SMS waits for no quiet hours anyway."""
    facts = hot_issue_facts(p)
    found: list[Notice] = []
    seen: set[str] = set()
    targets: list[tuple[Recipient, str | None]] = [(desk, None)] if desk is not None else []
    for department in p.department_ids:
        targets += [(r, department) for r in departments.get(department, ())]
    for r, department_id in targets:
        if r.phone in seen:
            continue
        seen.add(r.phone)
        found.append(
            Notice(
                template="staff_hot_issue",
                phone=r.phone,
                audience=r.audience,
                fields={**facts, "staff_name": r.name},
                staff_id=r.staff_id,
                department_id=department_id,
            )
        )
    return found


def local_time(value: datetime | str | None, tz: Any) -> str | None:
    """A time as a person at the centre reads it: month-day hour:minute in its zone."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if value.tzinfo is None:
        return f"{value:%m-%d %H:%M}"
    return f"{value.astimezone(tz):%m-%d %H:%M}"


def duration(minutes: object, language: str) -> str | None:
    """How late, in the reader's words: 35分钟 / 2小时5分钟, 35 min / 2 h 5 min."""
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 0:
        return None
    hours, rest = divmod(minutes, 60)
    if language.lower().startswith("en"):
        return f"{minutes} min" if not hours else f"{hours} h {rest} min" if rest else f"{hours} h"
    return f"{minutes}分钟" if not hours else f"{hours}小时{rest}分钟" if rest else f"{hours}小时"
