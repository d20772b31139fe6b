"""How each event changes a complaint's fact row: pure functions, no I/O and no clock.

A fact is a plain dict of the `complaint_facts` columns. Every value comes from the
events (their payloads and `occurred_at`), never from the time they are processed, so
replaying the topics from offset zero gives the same rows as the live consumer did.

Stages follow the escalation service's SLA clocks (vocabulary.STAGE_ON_ENTRY): a stage
starts when its state is entered, or, for the duty manager's own clock to resolve or
dispatch, when they acknowledge (here called `handling`). It ends at the next stage or
at closure: the time spent is added to the stage, and the visit met its deadline if it
ended by the `due_at` in force then (an approved extension included).

Analytics is about figures, causes and topics, never about who the customer is: the
texts it keeps (what the customer said, the answer, a return's reason) have the phone,
ID and card numbers, e-mail addresses and the customer's name masked (shared.privacy),
for every reader of its reports.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo
from typing import Any, NamedTuple

from shared.contracts import ComplaintReceived, LifecycleChanged, RootCauseRevised
from shared.events import Actor
from shared.privacy import mask_text
from shared.tenants import DEFAULT_TENANT
from shared.vocabulary import (
    STAGE_ON_ENTRY,
    Action,
    AssistStatus,
    Channel,
    ClosureReason,
    EventName,
    FeedbackResult,
    Nature,
    Severity,
    Stage,
    State,
)

Fact = dict[str, Any]
# What a customer can say of an answer; "not reached" is no verdict on it.
VERDICTS = (FeedbackResult.SATISFIED, FeedbackResult.UNSATISFIED)


def local_day_and_month(at: datetime, tz: tzinfo) -> tuple[Any, str]:
    local = at.astimezone(tz)
    return local.date(), f"{local.year:04d}-{local.month:02d}"


def new_fact(
    complaint_id: str, reference: str, at: datetime, tz: tzinfo, *, tenant: str = DEFAULT_TENANT
) -> Fact:
    """A complaint known only by its id until its `complaint.received` is read; of the
    client its first event named."""
    day, month = local_day_and_month(at, tz)
    fact: Fact = {
        "complaint_id": complaint_id,
        "tenant": tenant,
        "reference": reference,
        "customer_key": None,
        "customer_phone": None,
        "customer_name": None,
        "category": "other",
        "severity": Severity.NORMAL,
        "nature": Nature.GENUINE,
        "channel": Channel.PHONE,
        "strong_emotion": False,
        "imported": False,
        "description": None,
        "location": None,
        "registered_at": at,
        "registered_day": day,
        "registered_month": month,
        "registered_by": None,
        "registered_by_role": None,
        "state": State.RECEIVED,
        "department_id": None,
        "assigned_at": None,
        "acknowledged_at": None,
        "dispatched_at": None,
        "accepted_at": None,
        "replied_at": None,
        "closed_at": None,
        "reopened_at": None,
        "stage": None,
        "stage_entered_at": None,
        "due_at": None,
        "deadlines_missed": 0,
        "escalation_level": 0,
        "escalations": 0,
        "urges": 0,
        "returns": 0,
        "reopens": 0,
        "resolution": None,
        "root_cause_reported": None,
        "root_cause": None,
        "root_cause_revisions": 0,
        "feedback": None,
        "unsatisfied": 0,
        "first_verdict": None,
        "final_verdict": None,
        "closure_reason": None,
        "answered_from_article": None,
        "first_contact_resolved": False,
        "merged_into": None,
        "paused_seconds": 0,
        "paused_since": None,
        "stage_paused_from": 0,
        "last_seq": 0,
        "updated_at": at,
    }
    for stage in Stage:
        fact[f"{stage}_seconds"] = None
        fact[f"{stage}_met"] = None
    return fact


def _touched(fact: Fact, at: datetime) -> None:
    # The latest event time, whatever order two producers' events were read in.
    fact["updated_at"] = max(fact["updated_at"], at)


def received(
    fact: Fact | None,
    p: ComplaintReceived,
    at: datetime,
    tz: tzinfo,
    *,
    tenant: str = DEFAULT_TENANT,
    by: Actor | None = None,
) -> Fact:
    """What intake registered (`by`: who registered it, the event's actor); the
    lifecycle columns are left as they are."""
    if fact:
        fact = dict(fact)
    else:
        fact = new_fact(p.complaint_id, p.reference, p.registered_at, tz, tenant=tenant)
    day, month = local_day_and_month(p.registered_at, tz)
    customer_key = p.customer_phone or (f"ref:{p.customer_ref}" if p.customer_ref else None)
    fact.update(
        reference=p.reference,
        customer_key=customer_key,
        customer_phone=p.customer_phone,
        customer_name=p.customer_name,
        category=p.category,
        severity=p.severity,
        nature=p.nature,
        channel=p.channel,
        strong_emotion=p.strong_emotion,
        imported=p.imported,
        description=mask_text(p.description, names=(p.customer_name,)),
        location=(p.location or "").strip()[:200] or None,
        registered_at=p.registered_at,
        registered_day=day,
        registered_month=month,
        registered_by=by.id if by else None,
        registered_by_role=by.role if by else None,
        answered_from_article=p.answered_from_article,
    )
    _touched(fact, at)
    return fact


def stage_after(p: LifecycleChanged) -> str | None:
    """The stage this change starts ('' for none: closed, or an anonymous complaint's
    answer, which nobody follows up), or None if it starts none."""
    if p.to_state != p.from_state:
        if p.to_state == State.REPLIED and p.anonymous:
            return ""
        return STAGE_ON_ENTRY.get(p.to_state, "")
    if p.action == Action.ACKNOWLEDGE:
        return Stage.HANDLING
    if p.action == Action.TRANSFER:
        return Stage.ACCEPTANCE  # the new department's, even from not yet accepted
    return None


def _leave_stage(fact: Fact, at: datetime, p: LifecycleChanged) -> None:
    stage = fact["stage"]
    if not stage or fact["stage_entered_at"] is None:
        return
    # The clock stood still for part of it (挂起): that time is nobody's delay. A pause
    # this change ended was not yet given back to the deadline; the ones resumed were.
    stood = max(p.paused_seconds - fact["stage_paused_from"], 0)
    spent = max(int((at - fact["stage_entered_at"]).total_seconds()) - stood, 0)
    fact[f"{stage}_seconds"] = (fact[f"{stage}_seconds"] or 0) + spent
    due = fact["due_at"]
    ended_now = timedelta(seconds=int(p.details.get("pause_ended_seconds") or 0))
    met = due is None or at - ended_now <= due
    before = fact[f"{stage}_met"]
    fact[f"{stage}_met"] = met if before is None else (before and met)
    if not met:
        fact["deadlines_missed"] += 1


def lifecycle(
    fact: Fact | None,
    p: LifecycleChanged,
    event_type: str,
    at: datetime,
    tz: tzinfo,
    *,
    tenant: str = DEFAULT_TENANT,
) -> Fact | None:
    """Apply one lifecycle event; None if it is older than what the fact already holds.
    `tenant`: the event's client, the fact's when this event makes it."""
    if fact is not None and p.history_seq <= fact["last_seq"]:
        return None
    fact = dict(fact) if fact else new_fact(p.complaint_id, p.reference, at, tz, tenant=tenant)
    if fact["category"] == "other" and fact["description"] is None and p.category:
        fact.update(category=p.category, severity=p.severity or Severity.NORMAL)
        fact["nature"] = p.nature or Nature.GENUINE

    entered = stage_after(p)
    if entered is not None:
        _leave_stage(fact, at, p)
        fact.update(stage=entered or None, stage_entered_at=at if entered else None)
        fact["stage_paused_from"] = p.paused_seconds
    fact.update(paused_seconds=p.paused_seconds, paused_since=p.paused_since)
    fact["due_at"] = p.due_at if fact["stage"] else None
    fact["state"] = p.to_state
    fact["last_seq"] = p.history_seq
    fact["escalation_level"] = max(fact["escalation_level"], p.escalation_level)
    fact["urges"] = p.urge_count
    fact["returns"] = p.bounce_count
    fact["reopens"] = p.reopen_count

    kind = EventName(event_type)
    if kind == EventName.ASSIGNED:
        fact["assigned_at"] = fact["assigned_at"] or at
    elif kind == EventName.ACKNOWLEDGED:
        fact["acknowledged_at"] = at
    elif kind in (EventName.DISPATCHED, EventName.TRANSFERRED):
        # A transfer hands it to the new department as a dispatch does: its time to
        # accept starts now, and the report counts the complaint as that department's.
        fact.update(department_id=p.department_id, dispatched_at=at, accepted_at=None)
    elif kind == EventName.ACCEPTED:
        fact["accepted_at"] = at
    elif kind == EventName.RETURNED:
        fact["department_id"] = None
    elif kind == EventName.ESCALATED:
        fact["escalations"] += 1
    elif kind == EventName.REOPENED:
        fact["reopened_at"] = at
    elif kind == EventName.MERGED:
        fact["merged_into"] = p.details.get("master_id")
    # A compliment's answer closes it at once (conveyed), as does one given on the line
    # (当场解答): still answers.
    answered = p.action in (Action.REPLY, Action.RESOLVE, Action.RESOLVE_AT_FIRST_CONTACT)
    if kind == EventName.REPLIED or answered or (kind == EventName.CLOSED and p.root_cause):
        if answered:
            fact["replied_at"] = at
        if p.resolution:
            fact["resolution"] = mask_text(p.resolution, names=(fact["customer_name"],))
        if p.root_cause:
            fact["root_cause_reported"] = p.root_cause
            if not fact["root_cause_revisions"]:  # QA's word stands until QA changes it
                fact["root_cause"] = p.root_cause
    if p.action == Action.FEEDBACK:
        result = FeedbackResult.of(p.details.get("result"))
        if result is not None:
            fact["feedback"] = result
            fact["unsatisfied"] += result == FeedbackResult.UNSATISFIED
            if result in VERDICTS:
                fact["first_verdict"] = fact["first_verdict"] or result
                fact["final_verdict"] = result
    if p.to_state == State.CLOSED:
        fact.update(closed_at=_closed_at(p, at), closure_reason=p.closure_reason)
        fact["first_contact_resolved"] = p.closure_reason == ClosureReason.FIRST_CONTACT
    elif p.from_state == State.CLOSED:
        # Reopened: whatever the first answer was, it did not settle it.
        fact.update(closed_at=None, closure_reason=None, first_contact_resolved=False)
    _touched(fact, at)
    return fact


def _closed_at(p: LifecycleChanged, at: datetime) -> datetime:
    """When it closed: the event's time, but for history an import brings, the time the
    older system closed it (the file says), so the month and the time to close are real."""
    if p.action == Action.IMPORT and isinstance(p.details.get("closed_at"), str):
        try:
            then = datetime.fromisoformat(p.details["closed_at"])
        except ValueError:
            return at
        if then.tzinfo is not None and then <= at:
            return then
    return at


def event_row(
    p: LifecycleChanged,
    event_type: str,
    event_id: str,
    at: datetime,
    tz: tzinfo,
    *,
    tenant: str = DEFAULT_TENANT,
) -> dict[str, Any]:
    """The `fact_events` row for one lifecycle event."""
    day, month = local_day_and_month(at, tz)
    reason_code = p.details.get("reason_code") or p.details.get("decision")
    if p.action == Action.FEEDBACK:
        reason_code = p.details.get("result")
    return {
        "event_id": event_id,
        "complaint_id": p.complaint_id,
        "tenant": tenant,
        "event_type": event_type,
        "action": p.action[:32],
        "occurred_at": at,
        "day": day,
        "month": month,
        "department_id": p.department_id,
        "from_state": p.from_state,
        "to_state": p.to_state,
        "reason_code": str(reason_code)[:32] if reason_code else None,
        "reason": mask_text(p.reason) if p.reason else p.reason,
        "escalation_level": p.escalation_level,
    }


def revised(fact: Fact, p: RootCauseRevised, at: datetime) -> Fact:
    return _revise(fact, p.root_cause, at)


def with_revisions(fact: Fact, revisions: Iterable[tuple[str, datetime]]) -> Fact:
    """A fact just made, with the QA revisions of its complaint read before it: they come
    on analytics' own topic, in no order with the complaint's events, and count as they
    would have after them (QA's word stands against a later reported root cause)."""
    for root_cause, at in revisions:
        fact = _revise(fact, root_cause, at)
    return fact


def _revise(fact: Fact, root_cause: str, at: datetime) -> Fact:
    fact = dict(fact)
    fact["root_cause"] = root_cause
    fact["root_cause_revisions"] += 1
    _touched(fact, at)
    return fact


# --- joint handling (主办/协办) ---------------------------------------------------------

_PART_STATUS = {
    EventName.ASSIST_ACCEPTED: AssistStatus.ACCEPTED,
    EventName.ASSIST_CONTRIBUTED: AssistStatus.CONTRIBUTED,
    EventName.ASSIST_DECLINED: AssistStatus.DECLINED,
    EventName.ASSIST_RELEASED: AssistStatus.RELEASED,
}


class PartChange(NamedTuple):
    """What one event does to the assisting parts: `start` rows to write afresh; `status`
    for `department` (or, with None, for every part still owed: the joint case undone)."""

    start: list[dict[str, Any]]
    department: str | None = None
    status: AssistStatus | None = None


def assist_change(
    p: LifecycleChanged,
    event_type: str,
    at: datetime,
    tz: tzinfo,
    *,
    tenant: str = DEFAULT_TENANT,
) -> PartChange:
    kind = EventName(event_type)
    if kind == EventName.DISPATCHED and p.details.get("assisting"):
        _, month = local_day_and_month(at, tz)
        due = p.details.get("assist_due_at")
        rows = [
            {
                "complaint_id": p.complaint_id,
                "department_id": department,
                "tenant": tenant,
                "lead_department_id": p.department_id,
                "month": month,
                "dispatched_at": at,
                "due_at": datetime.fromisoformat(due) if isinstance(due, str) else None,
                "status": AssistStatus.DISPATCHED.value,
                "settled_at": None,
                "met": None,
            }
            for department in p.details["assisting"]
        ]
        return PartChange(rows)
    if kind in _PART_STATUS:
        return PartChange([], p.details.get("assist_department_id"), _PART_STATUS[kind])
    if kind in (EventName.RETURNED, EventName.MERGED):
        return PartChange([], None, AssistStatus.RELEASED)
    if kind == EventName.TRANSFERRED and p.department_id:
        return PartChange([], p.department_id, AssistStatus.RELEASED)  # it leads now
    return PartChange([])
