"""Who gets which SMS for each event, with which template and facts. Pure code: planning
(planning.py) looks up contacts and opt-outs, renders and stores.

- Duty managers (and supervisors holding a complaint) hear of assignments, hand-overs,
  returns, escalations and extension requests, with the reference, severity, category,
  the customer's masked phone, one line about the complaint and how to reply.
- Department contacts hear of dispatches and urges.
- The customer hears on registration (the reference), on the reply (the resolution and
  the satisfaction question) and on closure. The acknowledgement goes out on intake's
  `complaint.received`, not on the lifecycle's assignment, so it does not wait for the
  lifecycle to take the complaint in; the customer entry of `complaint.assigned` is
  therefore not acted on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.contracts import ComplaintReceived, DutyHandedOver, LifecycleChanged
from shared.logs import mask_phone
from shared.vocabulary import Audience, EventName, Severity

STAFF_TEMPLATES: Mapping[str, str] = {
    EventName.ASSIGNED: "staff_assigned",
    EventName.HANDED_OVER: "staff_handed_over",
    EventName.RETURNED: "staff_returned",
    EventName.DISPATCHED: "staff_dispatched",
    EventName.URGED: "staff_urged",
    EventName.ESCALATED: "staff_escalated",
    EventName.EXTENSION_REQUESTED: "staff_extension_requested",
    EventName.EXTENSION_DECIDED: "staff_extension_decided",
    EventName.REPLIED: "staff_replied",
    EventName.REOPENED: "staff_reopened",
}
# Events after which the complaint waits for the duty manager's acknowledgement: their
# message asks the desk to reply 1.
ACK_EVENTS = frozenset({EventName.ASSIGNED, EventName.HANDED_OVER, EventName.RETURNED})
DESK = frozenset({Audience.DUTY_MANAGER, Audience.SUPERVISOR})
# Summaries themselves: never held back into a digest.
NEVER_DIGESTED = frozenset({"staff_shift_handover", "staff_digest"})


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

    @property
    def to_customer(self) -> bool:
        return self.audience == "customer"


@dataclass(frozen=True)
class Customer:
    """What notify remembers of a complaint's customer (from `complaint.received`)."""

    phone: str | None
    imported: bool = False
    description: str | None = None


def on_received(payload: ComplaintReceived) -> list[Notice]:
    if payload.imported or not payload.customer_phone:
        return []
    return [
        Notice(
            template="customer_received",
            phone=payload.customer_phone,
            audience="customer",
            fields={"reference": payload.reference, "customer_name": payload.customer_name},
            complaint_id=payload.complaint_id,
            reference=payload.reference,
        )
    ]


def on_lifecycle(event_type: str, p: LifecycleChanged, customer: Customer | None) -> list[Notice]:
    urgent = p.severity == Severity.URGENT or p.strong_emotion
    details = p.details
    facts: dict[str, Any] = {
        "reference": p.reference,
        "severity": p.severity,
        "category": p.category,
        "customer_phone": mask_phone(customer.phone) if customer and customer.phone else "-",
        "description": (customer.description if customer else None) or p.summary,
        "summary": p.summary,
        "resolution": p.resolution,
        "reason": p.reason or details.get("reason") or "-",
        "instructions": details.get("instructions") or "-",
        "department": p.department_id or details.get("department_id") or "-",
        "due": p.due_at,
        "until": details.get("until") or details.get("requested_until"),
        "decision": details.get("decision"),
        "level": p.escalation_level,
        "reopen_count": p.reopen_count,
    }
    common: dict[str, Any] = {
        "complaint_id": p.complaint_id,
        "reference": p.reference,
        "department_id": p.department_id,
    }
    notices: list[Notice] = []
    for recipient in p.recipients:
        if recipient.audience == "customer":
            if event_type == EventName.REPLIED:
                notices.append(
                    Notice(
                        template="customer_replied",
                        phone=recipient.phone,
                        audience="customer",
                        fields={**facts, "customer_name": recipient.name},
                        reply_kind="feedback",
                        **common,
                    )
                )
            continue
        reply = "ack" if event_type in ACK_EVENTS and recipient.audience in DESK else None
        notices.append(
            Notice(
                template=STAFF_TEMPLATES.get(event_type, "staff_notice"),
                phone=recipient.phone,
                audience=recipient.audience,
                fields={**facts, "staff_name": recipient.name},
                staff_id=recipient.staff_id,
                urgent=urgent,
                reply_kind=reply,
                **common,
            )
        )
    if event_type == EventName.CLOSED and customer and customer.phone and not customer.imported:
        notices.append(
            Notice(
                template="customer_closed",
                phone=customer.phone,
                audience="customer",
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
        "references": ", ".join(c.reference for c in p.complaints),
        "summary": p.summary,
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


def local_time(value: datetime | str | None, tz: Any) -> str | None:
    """A deadline as a person reads it: month-day hour:minute in the centre's zone."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if value.tzinfo is None:
        return f"{value:%m-%d %H:%M}"
    return f"{value.astimezone(tz):%m-%d %H:%M}"
