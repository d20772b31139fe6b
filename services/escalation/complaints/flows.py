"""What the escalation service does with a complaint, each step in one transaction: take
it in from intake, apply a lifecycle action (state, history entry and event together),
and check its history.

`apply_in` works inside the caller's transaction, so a consumer can apply an action in
the same transaction that records the event it came from (the inbox).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from services.escalation.complaints import assists, notices, service
from services.escalation.complaints.history import GENESIS, ChainReport, entry_hash, verify_chain
from services.escalation.config import EscalationConfig
from services.escalation.directory import service as directory
from services.escalation.lifecycle import (
    Actor,
    Command,
    Decision,
    InvalidCommand,
    LifecycleError,
    decide,
)
from services.escalation.roster.duty import on_duty
from services.escalation.workload import service as workload
from shared.consumer import Refused
from shared.contracts import (
    ATTACHMENT_ADDED,
    AttachmentAdded,
    ComplaintReceived,
    FeedbackReceived,
    SmsInbound,
    UrgeRequested,
)
from shared.db import Database
from shared.errors import NotFound
from shared.events import Actor as EventActor
from shared.events import Envelope, registry
from shared.outbox import Outbox
from shared.tenants import DEFAULT_TENANT
from shared.vocabulary import Action, Awaiting, Channel, Nature, Record, Role, SmsIntent, State

log = logging.getLogger(__name__)

SOURCE = "escalation"
SYSTEM = Actor("system", Role.SYSTEM.value)


@dataclass(frozen=True)
class Applied:
    decision: Decision
    complaint: dict[str, Any]  # the row after the change
    entry: dict[str, Any]
    event: Envelope
    values: dict[str, Any]  # the columns the change sets
    actor: Actor = SYSTEM  # who acted, as the rules saw them (a clerk's headship looked up)


def visible_to(complaint: Any, actor: Actor) -> bool:
    """Someone who works for one client sees only that client's complaints; a department
    user only what is with their department, or what it assists on (协办); the centre's
    own staff see all."""
    if actor.tenant is not None and actor.tenant != complaint.tenant:
        return False
    if actor.role != Role.DEPARTMENT or actor.department_id is None:
        return actor.role != Role.DEPARTMENT
    if complaint.department_id == actor.department_id:
        return True
    helpers = getattr(complaint, "assists", None) or []
    return any(part.get("department_id") == actor.department_id for part in helpers)


def not_found(complaint_id: str) -> NotFound:
    return NotFound(f"no complaint {complaint_id}", complaint_id=complaint_id)


def apply(
    db: Database,
    outbox: Outbox,
    complaint_id: str,
    command: Command,
    *,
    now: datetime,
    config: EscalationConfig,
) -> Applied:
    """Apply one action in a transaction of its own."""
    with db.transaction() as session:
        return apply_in(session, outbox, complaint_id, command, now=now, config=config)


def apply_in(
    session: Session,
    outbox: Outbox,
    complaint_id: str,
    command: Command,
    *,
    now: datetime,
    config: EscalationConfig,
    context: Mapping[str, Any] | None = None,
    locked: Any = None,
    defer: list[Applied] | None = None,
) -> Applied:
    """Lock the complaint, judge the command, then store the new state, the history entry
    and the event; `context` adds facts to the entry and the event (where it came from).

    A caller acting on many complaints at once (the SLA sweep) passes the row it has
    already `locked` and a `defer` list: the writes are then left to it, to batch
    (`write_deferred`)."""
    row = (
        locked
        if locked is not None
        else service.get_complaint(session, complaint_id, for_update=True)
    )
    if row is None or not visible_to(row, command.actor):
        raise not_found(complaint_id)
    command = replace(command, actor=workload.with_head(session, command.actor))
    decision = decide(service.lifecycle_state(row), command, now=now, config=config.lifecycle())
    if decision.action == Action.MERGE:
        # Judged by the table first (state, rights, fields), then the master it names.
        master = _master_for(session, row, command.data.get("master"), command.actor)
        merged = replace(decision.new, merged_into=master.id)
        facts = {"master": master.id, "master_id": master.id, **_master_facts(master)}
        decision = replace(decision, new=merged, payload={**decision.payload, **facts})
    if context:
        decision = replace(decision, payload={**decision.payload, **context})
    _check_directory(session, decision, row.tenant)
    before: dict[str, Any] = dict(row._mapping)
    tenant = before["tenant"]
    part_due = None
    if decision.action == Action.DISPATCH and decision.new.assists:
        part_due = assists.due_for(config, before["severity"], now, tenant)
        decision = replace(
            decision, payload={**decision.payload, "assist_due_at": part_due.isoformat()}
        )
    stage, due_at = _deadline(before, decision, now=now, config=config)
    seq = before["history_seq"] + 1
    timers: dict[str, Any] = {}
    if decision.action == Action.RESUME:
        # The same ladder of breaches, each step as much later as the clock stood still.
        timers = {
            "next_breach_at": next_breach(
                due_at,
                before["breach_step"],
                timedelta(seconds=before["breach_interval_seconds"] or 0),
                config.max_escalation_level,
            )
        }
    elif stage != before["stage"] or due_at != before["due_at"]:
        # A new deadline: its breaches start again from the urge (sla.py).
        step = config.escalation_step(stage, before["severity"], tenant) if stage else None
        timers = {
            "breach_step": 0,
            "next_breach_at": due_at,
            "breach_interval_seconds": int(step.total_seconds()) if step else None,
        }
    if decision.new.paused_at is not None:
        # The clock stands still: no breach falls due while it does, only its end.
        timers["next_breach_at"] = decision.new.paused_until
    event_id = uuid.uuid4()
    entry: dict[str, Any] = {
        "complaint_id": complaint_id,
        "tenant": tenant,
        "seq": seq,
        "at": now,
        "actor_id": command.actor.staff_id,
        "actor_role": command.actor.role,
        "action": decision.action.api_name,
        "from_state": decision.from_state.value,
        "to_state": decision.to_state.value,
        "event_type": decision.event_type,
        "event_id": str(event_id),
        "payload": decision.payload,
        "prev_hash": before["history_head"] or GENESIS,
    }
    entry["hash"] = entry_hash(entry)
    entered = (
        {"entered_by": decision.action.api_name} if decision.to_state != decision.from_state else {}
    )
    values = {
        **service.state_columns(decision.new),
        **entered,
        "stage": stage,
        "due_at": due_at,
        "history_seq": seq,
        "history_head": entry["hash"],
        "updated_at": now,
        **timers,
    }
    before_parts = service.lifecycle_state(row).assists
    if decision.new.assists != before_parts:
        assists.sync(
            session, complaint_id, before_parts, decision, now=now, due_at=part_due, tenant=tenant
        )
    if defer is None:
        service.update_complaint(session, complaint_id=complaint_id, values=values)
        service.append_history(session, entry=entry)
    after = {**before, **values}
    payload = notices.lifecycle_payload(
        session,
        after,
        decision,
        seq=seq,
        actor_id=command.actor.staff_id,
        centre_managers=config.centre_managers,
    )
    event = registry.new(
        decision.event_type,
        payload,
        source=SOURCE,
        tenant=tenant,
        actor=EventActor(id=command.actor.staff_id, role=command.actor.role),
        complaint_id=complaint_id,
        occurred_at=now,
        event_id=event_id,
    )
    applied = Applied(
        decision=decision,
        complaint=after,
        entry=entry,
        event=event,
        values=values,
        actor=command.actor,
    )
    if defer is None:
        outbox.add(session, event)
        workload.record(session, before, after, decision, actor_id=command.actor.staff_id, now=now)
        applied = _to_a_clerk_on_arrival(session, outbox, before, applied, now=now, config=config)
    else:
        defer.append(applied)
    return applied


def _to_a_clerk_on_arrival(
    session: Session,
    outbox: Outbox,
    before: Mapping[str, Any],
    applied: Applied,
    *,
    now: datetime,
    config: EscalationConfig,
) -> Applied:
    """A complaint that has just reached a department (dispatched, transferred, reopened
    there) goes at once to the clerk the department's rota chooses, if it has one: an
    entry and an event of its own, in the same transaction. `applied` then carries the
    complaint as it ends up."""
    after = applied.complaint
    arrived = after["department_id"] != before["department_id"] or (
        before["state"] not in service.AT_DEPARTMENT
    )
    waiting = after["holder_role"] == Role.DEPARTMENT and after["holder_staff_id"] is None
    if not (arrived and waiting and after["state"] in service.AT_DEPARTMENT):
        return applied
    choice = workload.next_clerk(session, after["department_id"])
    if choice is None:
        return applied
    command = Command(Action.ASSIGN_CLERK, SYSTEM, {"clerk": choice.staff_id})
    given = apply_in(
        session, outbox, after["id"], command, now=now, config=config, context={"via": choice.via}
    )
    return replace(applied, complaint=given.complaint)


def write_deferred(
    session: Session,
    outbox: Outbox,
    applied: list[Applied],
    extra: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Store what `apply_in(..., defer=...)` decided: every entry and event, and each
    complaint's final columns (merged in order, then `extra`), a statement each."""
    changes: dict[str, dict[str, Any]] = {}
    for one in applied:
        changes.setdefault(one.entry["complaint_id"], {}).update(one.values)
    for complaint_id, values in (extra or {}).items():
        changes.setdefault(complaint_id, {}).update(values)
    service.update_many(session, changes)
    service.append_history_many(session, [one.entry for one in applied])
    outbox.add_many(session, [one.event for one in applied])


def _other_client(department_id: str, tenant: str) -> str:
    return (
        f"department {department_id!r} belongs to another client; this complaint is "
        f"{tenant}'s: see GET /departments?tenant={tenant}"
    )


def _check_directory(session: Session, decision: Decision, tenant: str) -> None:
    """The people and departments a decision names exist, are active, and work for the
    complaint's client (`tenant`)."""
    if decision.action == Action.REASSIGN:
        staff_id = decision.new.duty_manager_id or ""
        person = directory.get_staff(session, staff_id)
        if person is None or not person.active or person.role != Role.DUTY_MANAGER:
            raise InvalidCommand(
                "staff_id", f"no active duty manager {staff_id!r}; see GET /staff?role=duty_manager"
            )
        if person.tenant is not None and person.tenant != tenant:
            raise InvalidCommand(
                "staff_id",
                f"duty manager {staff_id!r} works for another client; this complaint is {tenant}'s",
            )
    if decision.action == Action.ASSIGN_CLERK:
        clerk = decision.new.holder_staff_id or ""
        department_id = decision.new.department_id
        person = directory.get_staff(session, clerk)
        if (
            person is None
            or not person.active
            or person.role != Role.DEPARTMENT
            or person.department_id != department_id
        ):
            raise InvalidCommand(
                "clerk",
                f"no active clerk {clerk!r} in department {department_id!r}; see "
                f"GET /departments/{department_id}/workload",
            )
    if decision.action in (Action.DISPATCH, Action.TRANSFER):
        department_id = decision.new.department_id or ""
        department = directory.get_department(session, department_id)
        if department is None or not department.active:
            raise InvalidCommand(
                "department_id", f"no active department {department_id!r}; see GET /departments"
            )
        if department.tenant != tenant:
            raise InvalidCommand("department_id", _other_client(department_id, tenant))
    if decision.action == Action.DISPATCH:
        for helper in decision.new.assists:
            department = directory.get_department(session, helper.department_id)
            if department is None or not department.active:
                raise InvalidCommand(
                    "assisting",
                    f"no active department {helper.department_id!r}; see GET /departments",
                )
            if department.tenant != tenant:
                raise InvalidCommand("assisting", _other_client(helper.department_id, tenant))


def next_breach(
    due_at: datetime | None, step: int, interval: timedelta, top: int
) -> datetime | None:
    """When the breach after `step` (0: none yet) falls due, or None after the top level."""
    if due_at is None or step >= top:
        return None
    return due_at + interval * step


def _master_for(session: Session, duplicate: Any, named: Any, actor: Actor) -> Any:
    """The complaint a duplicate merges into, as the desk named it (reference or id):
    one of the same client's."""
    if not isinstance(named, str) or not named.strip():
        raise InvalidCommand("master", "is required: the master complaint's reference or id")
    master = service.find_complaint(session, named.strip())
    if master is None or (actor.tenant is not None and master.tenant != actor.tenant):
        raise InvalidCommand("master", f"no complaint {named.strip()!r}")
    if master.tenant != duplicate.tenant:
        raise InvalidCommand(
            "master",
            f"{master.reference} belongs to another client; a complaint merges only into "
            f"one of its own client's ({duplicate.tenant})",
        )
    if master.id == duplicate.id:
        raise InvalidCommand("master", "a complaint cannot be merged into itself")
    if master.merged_into is not None:
        root = service.get_complaint(session, master.merged_into)
        where = root.reference if root is not None else master.merged_into
        raise InvalidCommand(
            "master", f"{master.reference} is itself merged into {where}; merge into that one"
        )
    return master


def _master_facts(master: Any) -> dict[str, Any]:
    """What the duplicate's caller is told of the master: its reference and, when it was
    already answered, the answer."""
    facts: dict[str, Any] = {"master_reference": master.reference, "master_state": master.state}
    if master.state in (State.REPLIED, State.CLOSED) and master.resolution:
        facts["master_resolution"] = master.resolution
    return facts


def _deadline(
    before: Mapping[str, Any], decision: Decision, *, now: datetime, config: EscalationConfig
) -> tuple[str | None, datetime | None]:
    """The SLA stage and due time after the decision."""
    new = decision.new
    if new.state == State.CLOSED:
        return None, None

    def due(stage: str) -> tuple[str, datetime]:
        allowed = config.sla(stage, before["severity"], before["tenant"])
        calendar = config.calendar if stage == "resolution" else None
        at = calendar.add(now, allowed) if calendar else now + allowed
        # An extension granted for this round is never taken back by a new stage.
        if new.extended_until is not None and new.extended_until > at:
            at = new.extended_until
        return stage, at

    if decision.stage_entered is not None:
        # Stamped now, from the policy of now: a later policy edit changes no deadline
        # already set. (An acknowledgement starts the duty manager's own clock to
        # resolve or dispatch.)
        return due(decision.stage_entered)
    if decision.to_state != decision.from_state:
        return None, None  # a state without a clock (an anonymous complaint answered)
    if decision.action == Action.DECIDE_EXTENSION and decision.payload.get("new_due_at"):
        return before["stage"], new.extended_until
    if decision.action == Action.RESUME and before["due_at"] is not None:
        # The paused time is given back to the deadline, to the second.
        stood = timedelta(seconds=int(decision.payload.get("pause_seconds") or 0))
        return before["stage"], before["due_at"] + stood
    return before["stage"], before["due_at"]


# --- from intake ----------------------------------------------------------------------


def refuse_another_client(complaint: Any, tenant: str, what: str) -> None:
    """An event about a complaint must name the complaint's client: one that names
    another is not believed, and nothing of it is applied (shared.consumer.Refused)."""
    if complaint is not None and complaint.tenant != tenant:
        raise Refused(
            f"{what} for complaint {complaint.reference} names client {tenant!r}, but the "
            f"complaint is {complaint.tenant!r}'s",
            error_class="tenant",
        )


def check_client(session: Session, complaint_id: str | None, envelope: Envelope) -> None:
    """Refuse an event naming another client than its complaint's (one not here yet has
    nothing to compare with: its handler says what it does with it)."""
    if complaint_id:
        row = service.get_complaint(session, complaint_id)
        refuse_another_client(row, envelope.tenant, envelope.type)


def receive(
    session: Session,
    outbox: Outbox,
    received: ComplaintReceived,
    *,
    now: datetime,
    config: EscalationConfig,
    tenant: str = DEFAULT_TENANT,
) -> Applied | None:
    """Take a complaint registered for client `tenant` in and give it to the manager on
    duty for that client (or, with nobody on duty, to the supervisors' queue); None if it
    was already here."""
    # One statement stores it and says whether it was new; a second registration (the
    # same event published twice by a relay that died before marking it sent) is not.
    row = service.insert_new_complaint(
        session,
        values={
            "id": received.complaint_id,
            "reference": received.reference,
            "tenant": tenant,
            "customer_phone": received.customer_phone,
            "customer_name": received.customer_name,
            "customer_textable": received.customer_textable,
            "channel": received.channel,
            "category": received.category,
            "severity": received.severity,
            "nature": received.nature,
            "strong_emotion": received.strong_emotion,
            "description": received.description,
            "imported": received.imported,
            "anonymous": received.anonymous,
            "registered_at": received.registered_at,
            "registered_by": received.registered_by,
            "answered_from_article": received.answered_from_article,
            "received_at": now,
            "state": State.RECEIVED.value,
            "updated_at": now,
        },
    )
    if row is None:
        known = service.get_complaint(session, received.complaint_id)
        refuse_another_client(known, tenant, "a second registration")
        log.info("complaint %s is already known; nothing to do", received.reference)
        return None
    if received.imported and received.imported_state == State.CLOSED:
        return _import_closed(session, outbox, received, now=now, config=config, tenant=tenant)
    # The manager on duty for its client when it arrives; with nobody on duty, the
    # supervisors' queue.
    choice = on_duty(session, now, config, tenant)
    if choice.staff_id is None:
        log.warning(
            "nobody on duty for complaint %s: it waits in the supervisors' queue",
            received.reference,
        )
    data = {"staff_id": choice.staff_id} if choice.staff_id else {}
    command = Command(Action.ASSIGN, SYSTEM, data)
    context: dict[str, Any] = {"assigned_via": choice.via}
    if choice.roster is not None:
        context["roster"] = choice.roster
    if choice.fallback is not None:
        context["roster_fallback"] = choice.fallback
    if received.imported:
        # Still open in the older system: live work from now on (its SLA clock starts
        # now, not when it first came in), and the duty manager is told where it is from.
        context |= {"imported": True, "registered_at": received.registered_at.isoformat()}
        if received.imported_department:
            context["imported_department"] = received.imported_department
    return apply_in(
        session,
        outbox,
        received.complaint_id,
        command,
        now=now,
        config=config,
        context=context,
        locked=row,
    )


def _import_closed(
    session: Session,
    outbox: Outbox,
    received: ComplaintReceived,
    *,
    now: datetime,
    config: EscalationConfig,
    tenant: str,
) -> Applied:
    """A complaint the older system had closed lands closed, as one history entry with
    what the file said: no duty manager, no SLA clock, no SMS."""
    department_id = _department_known_as(session, received.imported_department, tenant)
    data: dict[str, Any] = {
        "resolution": received.imported_resolution,
        "department_id": department_id,
        "closed_at": received.imported_closed_at,
    }
    data = {key: value for key, value in data.items() if value is not None}
    context: dict[str, Any] = {}
    if received.imported_department and received.imported_department != department_id:
        # Not a department of this directory: kept as the file wrote it.
        context["imported_department"] = received.imported_department
    command = Command(Action.IMPORT, SYSTEM, data)
    try:
        return apply_in(
            session, outbox, received.complaint_id, command, now=now, config=config, context=context
        )
    except InvalidCommand as exc:
        # A closing time this clock sees as still to come: the complaint is closed all
        # the same, and the time is kept as written.
        log.warning("import of %s: %s; stored without it", received.reference, exc)
        context[f"imported_{exc.field}"] = str(data.pop(exc.field, ""))
        command = Command(Action.IMPORT, SYSTEM, data)
        return apply_in(
            session, outbox, received.complaint_id, command, now=now, config=config, context=context
        )


def _department_known_as(session: Session, name: str | None, tenant: str) -> str | None:
    """The directory's id for a department of the client an older system named by id or
    by name."""
    if not name:
        return None
    named = directory.get_department(session, name)
    if named is not None and named.tenant == tenant:
        return name
    wanted = name.strip().casefold()
    for department in directory.list_departments(session, tenant=tenant):
        if department.name.strip().casefold() == wanted:
            return str(department.id)
    return None


def record_feedback(
    session: Session,
    outbox: Outbox,
    feedback: FeedbackReceived,
    *,
    now: datetime,
    config: EscalationConfig,
) -> Applied | None:
    """Apply the customer's feedback; None when the lifecycle refuses it (a second
    answer to the same reply, say), which is logged rather than retried."""
    command = Command(
        Action.FEEDBACK, SYSTEM, {"result": feedback.result, "comment": feedback.comment}
    )
    context = {"source": feedback.source, "recorded_by": feedback.recorded_by}
    try:
        return apply_in(
            session, outbox, feedback.complaint_id, command, now=now, config=config, context=context
        )
    except LifecycleError as exc:
        log.warning("feedback on %s not applied: %s", feedback.reference, exc)
        return None


# The urge's reason as the holder reads it in the SMS, before the caller's own words
# ("客户电话催办："), from the shared labels.
CALLER_URGED = f"{Role.CUSTOMER.zh}{Channel.PHONE.zh}{Action.URGE.zh}："


def urge_for_caller(
    session: Session,
    outbox: Outbox,
    urge: UrgeRequested,
    *,
    now: datetime,
    config: EscalationConfig,
) -> Applied | None:
    """The caller called again about an open complaint (催办): urge whoever holds it, as
    the system, with the agent who took the call and the caller's words in the entry and
    the event. None when the lifecycle refuses it (closed meanwhile), which is logged
    rather than retried: intake already told the caller what to do about a closed one."""
    command = Command(Action.URGE, SYSTEM, {"reason": CALLER_URGED + urge.text})
    context = {"via": "caller", "requested_by": urge.requested_by, "caller_words": urge.text}
    try:
        return apply_in(
            session, outbox, urge.complaint_id, command, now=now, config=config, context=context
        )
    except (LifecycleError, NotFound) as exc:
        log.warning("caller's urge on %s not applied: %s", urge.reference, exc)
        return None


def acknowledge_by_sms(
    session: Session,
    outbox: Outbox,
    message: SmsInbound,
    *,
    now: datetime,
    config: EscalationConfig,
) -> Applied | None:
    """A duty manager's "1"/"OK"/"收到" reply acknowledges the complaint it answers."""
    if message.intent != SmsIntent.ACK or not message.complaint_id or not message.staff_id:
        return None
    staff = directory.get_staff(session, message.staff_id)
    if staff is None or not staff.active:
        log.warning("acknowledgement by SMS from unknown staff %s ignored", message.staff_id)
        return None
    actor = Actor(staff.id, staff.role, staff.department_id)
    command = Command(Action.ACKNOWLEDGE, actor)
    try:
        return apply_in(
            session,
            outbox,
            message.complaint_id,
            command,
            now=now,
            config=config,
            context={"via": "sms"},
        )
    except (LifecycleError, NotFound) as exc:
        log.warning("acknowledgement by SMS on %s not applied: %s", message.complaint_id, exc)
        return None


def record_attachment(
    session: Session,
    attached: AttachmentAdded,
    envelope: Envelope,
    *,
    now: datetime,
) -> dict[str, Any] | None:
    """A file attached at intake, listed in the complaint's history as a fact beside its
    actions: an entry of its own in the chain (who attached what, where from, its size
    and sha256), naming intake's event, that changes neither the state nor a deadline, and
    announces nothing. None when the complaint is not here (logged)."""
    row = service.get_complaint(session, attached.complaint_id, for_update=True)
    if row is None:
        log.warning("attachment on unknown complaint %s not listed", attached.reference)
        return None
    seq = row.history_seq + 1
    payload = attached.model_dump(mode="json", exclude={"complaint_id", "reference"})
    # The history's times follow its order; when the file came in is kept beside.
    payload["attached_at"] = envelope.occurred_at.isoformat()
    entry: dict[str, Any] = {
        "complaint_id": row.id,
        "tenant": row.tenant,
        "seq": seq,
        "at": now,
        "actor_id": envelope.actor.id,
        "actor_role": envelope.actor.role,
        "action": Record.ATTACHMENT.value,
        "from_state": row.state,
        "to_state": row.state,
        "event_type": ATTACHMENT_ADDED.name,
        "event_id": str(envelope.event_id),
        "payload": payload,
        "prev_hash": row.history_head or GENESIS,
    }
    entry["hash"] = entry_hash(entry)
    service.update_complaint(
        session,
        complaint_id=row.id,
        values={"history_seq": seq, "history_head": entry["hash"], "updated_at": now},
    )
    service.append_history(session, entry=entry)
    return entry


# --- history --------------------------------------------------------------------------


def verify(session: Session, complaint: Any) -> ChainReport:
    """Recompute a complaint's chain from what is stored."""
    entries = [dict(row._mapping) for row in service.history_of(session, complaint.id)]
    return verify_chain(entries, last_seq=complaint.history_seq, head=complaint.history_head)


def overdue(complaint: Any, now: datetime) -> bool:
    return complaint.due_at is not None and complaint.due_at < now


_REOPENING = frozenset({Action.REOPEN.api_name, Action.FEEDBACK.api_name})


def awaiting(complaint: Any, role: str) -> Awaiting | None:
    """What the complaint waits for from the desk or the department looking at it: the
    decision a queue item asks of its reader (None: nothing, it is closed)."""
    state = complaint.state
    if state == State.WITH_DUTY_MANAGER:
        if complaint.entered_by == Action.RETURN.api_name:
            return Awaiting.RETURNED
        if complaint.entered_by in _REOPENING:
            return Awaiting.REOPENED
        return Awaiting.ACKNOWLEDGE if complaint.acknowledged_at is None else Awaiting.ROUTE
    if complaint.paused_at is not None:
        return Awaiting.PAUSED
    if state in (State.DISPATCHED, State.IN_PROGRESS):
        if complaint.extension_until is not None and role != Role.DEPARTMENT:
            return Awaiting.EXTENSION
        if complaint.pause_waiting_on is not None and role != Role.DEPARTMENT:
            return Awaiting.PAUSE
        return Awaiting.ACCEPT if state == State.DISPATCHED else Awaiting.ANSWER
    if state == State.REPLIED:
        settled = (
            complaint.nature != Nature.COMPENSATION
            or complaint.compensation_declined
            or (complaint.loss_verified and complaint.compensation_amount is not None)
        )
        if not settled:
            return Awaiting.SETTLE_COMPENSATION
        asked = complaint.feedback is not None or complaint.follow_up_attempts > 0
        return Awaiting.CLOSE if asked or complaint.anonymous else Awaiting.FOLLOW_UP
    return None
