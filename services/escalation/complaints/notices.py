"""What each lifecycle event tells notify: who must know, at which phone, in one line.

Recipients come from the directory at the moment of the change, so an SMS goes to the
phone a person had when the event happened, even if notify reads the event much later.
Nobody is told about their own action.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.escalation.complaints import service
from services.escalation.directory import service as directory
from services.escalation.lifecycle import Decision
from shared.contracts import LifecycleChanged, Recipient
from shared.vocabulary import Action, Audience, ClosureBlock, EventName, ExtensionDecision, Role

# Who hears of each event: `holder` is whoever holds the complaint after the change
# (a person, or a department's or the supervisors' shared queue).
AUDIENCES: Mapping[str, tuple[str, ...]] = {
    EventName.ASSIGNED: ("holder", "customer"),
    EventName.HANDED_OVER: ("holder",),
    EventName.ACKNOWLEDGED: (),
    # The lead department, and each department assisting it (协办), with its own words.
    EventName.DISPATCHED: ("department", "assisting"),
    EventName.ACCEPTED: (),
    EventName.RETURNED: ("holder",),
    # The department it goes to, like a dispatch; the one that gave it up is not told.
    EventName.TRANSFERRED: ("department",),
    EventName.EXTENSION_REQUESTED: ("duty_manager",),
    EventName.EXTENSION_DECIDED: ("requester", "department"),
    # The pause (挂起): the desk decides a department's request; whoever holds it hears
    # that its clock stopped, or started again when the pause ran out.
    EventName.PAUSE_REQUESTED: ("duty_manager",),
    EventName.PAUSE_DECIDED: ("requester",),
    EventName.PAUSED: ("holder",),
    EventName.RESUMED: ("holder",),
    # The duplicate's caller, and the department that had it, if one did.
    EventName.MERGED: ("customer", "department"),
    # Joint handling: the lead hears of each part contributed; the desk and the lead of
    # a part declined; a department released from its part is told it is no longer due.
    EventName.ASSIST_ACCEPTED: (),
    EventName.ASSIST_CONTRIBUTED: ("department",),
    EventName.ASSIST_DECLINED: ("duty_manager", "department"),
    EventName.ASSIST_RELEASED: ("assist_department",),
    # The callers of duplicates merged into it hear the same outcome, never surveyed.
    EventName.REPLIED: ("customer", "duty_manager", "duplicate_callers"),
    EventName.LOSS_VERIFIED: (),
    EventName.COMPENSATION_DECLINED: ("holder",),
    EventName.FOLLOW_UP_FAILED: (),
    EventName.FEEDBACK_RECORDED: ("holder",),
    EventName.URGED: ("holder",),
    EventName.ESCALATED: ("escalation_chain",),
    EventName.REOPENED: ("holder",),
    EventName.CLOSED: (),
    # The clerk it now belongs to (not when they took it themselves: nobody is told of
    # their own action); giving one back tells nobody.
    EventName.CLERK_ASSIGNED: ("holder",),
    EventName.CLERK_RELEASED: (),
}

_AUDIENCE_OF_ROLE = {
    Role.DUTY_MANAGER: Audience.DUTY_MANAGER,
    Role.SUPERVISOR: Audience.SUPERVISOR,
    Role.DEPARTMENT: Audience.DEPARTMENT,
}

SUMMARY_MAX = 140


def recipients(
    session: Session,
    complaint: Mapping[str, Any],
    decision: Decision,
    actor_id: str,
    centre_managers: Sequence[str] = (),
) -> list[Recipient]:
    """The people and desks to tell about this decision, each phone once."""
    department = (
        directory.get_department(session, complaint["department_id"])
        if complaint["department_id"]
        else None
    )
    found: list[Recipient] = []

    def person(staff_id: str | None, audience: Audience) -> None:
        row = directory.get_staff(session, staff_id) if staff_id else None
        if row is not None and row.active:
            found.append(
                Recipient(audience=audience, phone=row.phone, staff_id=row.id, name=row.name)
            )

    def desk() -> None:
        if department is not None and department.active:
            for phone in department.contact_phones:
                found.append(
                    Recipient(audience=Audience.DEPARTMENT, phone=phone, name=department.name)
                )

    def role_queue(role: Role) -> None:
        # Those of another client never hear of this client's complaints.
        serving = complaint["tenant"]
        for row in directory.list_staff(session, role=role.value, active=True, serving=serving):
            found.append(
                Recipient(
                    audience=_AUDIENCE_OF_ROLE[role],
                    phone=row.phone,
                    staff_id=row.id,
                    name=row.name,
                )
            )

    def holder() -> None:
        role = Role(complaint["holder_role"]) if complaint["holder_role"] else None
        if role is None:
            return
        if complaint["holder_staff_id"]:
            person(complaint["holder_staff_id"], _AUDIENCE_OF_ROLE.get(role, Audience.DUTY_MANAGER))
        elif role == Role.DEPARTMENT:
            desk()
        elif role == Role.SUPERVISOR:
            role_queue(Role.SUPERVISOR)

    def customer() -> None:
        # A landline (not textable) is called back by people, never texted.
        textable = complaint["customer_textable"]
        if complaint["customer_phone"] and textable and not complaint["imported"]:
            found.append(
                Recipient(
                    audience=Audience.CUSTOMER,
                    phone=complaint["customer_phone"],
                    name=complaint["customer_name"],
                )
            )

    audiences: dict[str, Callable[[], None]] = {
        "holder": holder,
        "customer": customer,
        "department": desk,
        "duty_manager": lambda: person(complaint["duty_manager_id"], Audience.DUTY_MANAGER),
        "requester": lambda: person(decision.payload.get("requested_by"), Audience.DEPARTMENT),
        "supervisors": lambda: role_queue(Role.SUPERVISOR),
        "department_head": lambda: person(
            department.head_staff_id if department else None, Audience.DEPARTMENT_HEAD
        ),
    }

    def escalation_chain() -> None:
        # Level 2: whoever is above the holder — the department's head for a complaint
        # at a department, the supervisors otherwise. Level 3: the centre managers.
        level = complaint["escalation_level"]
        if level >= 3:
            for staff_id in centre_managers:
                person(staff_id, Audience.SUPERVISOR)
            if not centre_managers:
                role_queue(Role.SUPERVISOR)
        elif complaint["holder_role"] == Role.DEPARTMENT and department is not None:
            person(department.head_staff_id, Audience.DEPARTMENT_HEAD)
            if not department.head_staff_id:
                role_queue(Role.SUPERVISOR)
        else:
            role_queue(Role.SUPERVISOR)

    def duplicate_callers() -> None:
        for row in textable_duplicates(session, complaint["id"]):
            found.append(
                Recipient(
                    audience=Audience.DUPLICATE_CALLER,
                    phone=row.customer_phone,
                    name=row.customer_name,
                    reference=row.reference,
                )
            )

    def desk_of(department_id: str | None, audience: Audience) -> None:
        helper = directory.get_department(session, department_id) if department_id else None
        if helper is not None and helper.active:
            for phone in helper.contact_phones:
                found.append(Recipient(audience=audience, phone=phone, name=helper.name))

    def assisting() -> None:
        for part in decision.new.assists:
            if part.outstanding:
                desk_of(part.department_id, Audience.ASSISTING_DEPARTMENT)

    audiences["escalation_chain"] = escalation_chain
    audiences["duplicate_callers"] = duplicate_callers
    audiences["assisting"] = assisting
    audiences["assist_department"] = lambda: desk_of(
        decision.payload.get("assist_department_id"), Audience.ASSISTING_DEPARTMENT
    )
    wanted = AUDIENCES.get(decision.event_type, ())
    if decision.action == Action.URGE_ASSIST:
        wanted = ("assist_department",)  # the late part's department, not the lead
    if decision.action == Action.RESUME and decision.payload.get("via") != "timer":
        wanted = ()  # whoever resumed it by hand knows, and so does the holder they are
    if decision.action == Action.REASSIGN:
        wanted = ("duty_manager",)  # the manager it now belongs to, wherever it is
    if decision.payload.get("shift_change"):
        wanted = ()  # the incoming manager gets one summary (duty.handed_over) instead
    for audience in wanted:
        audiences[audience]()
    seen: set[str] = set()
    unique = []
    for recipient in found:
        if recipient.phone in seen or (recipient.staff_id and recipient.staff_id == actor_id):
            continue
        seen.add(recipient.phone)
        unique.append(recipient)
    return unique


def textable_duplicates(session: Session, master_id: str) -> list[Any]:
    """The complaints merged into `master_id` whose callers can take an SMS."""
    c = service.complaints
    query = select(c.c.reference, c.c.customer_phone, c.c.customer_name, c.c.received_at).where(
        c.c.merged_into == master_id,
        c.c.customer_phone.is_not(None),
        c.c.customer_textable.is_(True),
        c.c.imported.is_(False),
        c.c.anonymous.is_(False),
    )
    return list(session.execute(query.order_by(c.c.received_at)))


def _clip(text: Any, size: int = 60) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= size else line[: size - 1] + "…"


def _what(event_type: str, complaint: Mapping[str, Any], p: Mapping[str, Any], actor: str) -> str:
    department = complaint["department_id"] or p.get("department_id") or "-"
    texts: dict[str, Callable[[], str]] = {
        EventName.ASSIGNED: lambda: (
            ("complaint imported still open" if p.get("imported") else "new complaint")
            + f" for duty manager {p.get('staff_id')}"
        ),
        EventName.HANDED_OVER: lambda: f"handed over to duty manager {p.get('staff_id')}",
        EventName.ACKNOWLEDGED: lambda: f"acknowledged by {actor}",
        EventName.DISPATCHED: lambda: (
            f"dispatched to {department} by {actor}: {_clip(p.get('instructions'))}"
        ),
        EventName.ACCEPTED: lambda: f"accepted by {actor} ({department})",
        EventName.RETURNED: lambda: (
            f"returned by {department} ({p.get('reason_code')}): {_clip(p.get('reason'))}"
            + ("; a supervisor decides" if p.get("to_supervisor") else "")
        ),
        EventName.TRANSFERRED: lambda: (
            f"transferred from {p.get('from_department_id')} to {department} by {actor}: "
            f"{_clip(p.get('reason'))}"
        ),
        EventName.EXTENSION_REQUESTED: lambda: (
            f"{department} asks for time until {p.get('until')}: {_clip(p.get('reason'))}"
        ),
        EventName.EXTENSION_DECIDED: lambda: (
            f"more time until {p.get('requested_until')} "
            + ("approved" if p.get("decision") == ExtensionDecision.APPROVE else "denied")
        ),
        EventName.PAUSE_REQUESTED: lambda: (
            f"{department} asks to pause the clock ({p.get('waiting_on')}): "
            f"{_clip(p.get('reason'))}"
        ),
        EventName.PAUSE_DECIDED: lambda: (
            "pause "
            + ("approved" if p.get("decision") == ExtensionDecision.APPROVE else "denied")
            + (f" until {p.get('paused_until')}" if p.get("paused_until") else "")
        ),
        EventName.PAUSED: lambda: (
            f"clock paused by {actor} until {p.get('paused_until')} ({p.get('waiting_on')})"
        ),
        EventName.RESUMED: lambda: (
            f"clock resumed after {int(p.get('pause_seconds') or 0) // 60} min"
            + (" (pause ran out)" if p.get("via") == "timer" else f" by {actor}")
        ),
        EventName.MERGED: lambda: f"merged into {p.get('master_reference')} by {actor}",
        EventName.ASSIST_ACCEPTED: lambda: f"{p.get('assist_department_id')} accepts its part",
        EventName.ASSIST_CONTRIBUTED: lambda: (
            f"{p.get('assist_department_id')} contributed: {_clip(p.get('contribution'))}"
        ),
        EventName.ASSIST_DECLINED: lambda: (
            f"{p.get('assist_department_id')} declines its part: {_clip(p.get('reason'))}"
        ),
        EventName.ASSIST_RELEASED: lambda: (
            f"{p.get('assist_department_id')} released by {actor}: {_clip(p.get('reason'))}"
        ),
        EventName.REPLIED: lambda: f"answered: {_clip(p.get('resolution'))}",
        EventName.LOSS_VERIFIED: lambda: f"loss verified, {p.get('compensation_amount')}",
        EventName.COMPENSATION_DECLINED: lambda: f"no compensation due: {_clip(p.get('reason'))}",
        EventName.FOLLOW_UP_FAILED: lambda: (
            f"customer not reached (attempt {p.get('follow_up_attempts')})"
            if p.get("counted", True)
            else f"customer not reached again; counts from {p.get('next_attempt_counts_from')}"
        ),
        EventName.FEEDBACK_RECORDED: lambda: (
            f"customer satisfied, not closed: {_clip(p.get('closure_blocked'))}"
        ),
        EventName.URGED: lambda: (
            (f"part of {p['assist_department_id']} " if p.get("assist_department_id") else "")
            + f"urged by {actor}: {_clip(p.get('reason'))}"
        ),
        EventName.ESCALATED: lambda: (
            f"escalated to level {p.get('escalation_level')}: {_clip(p.get('reason'))}"
        ),
        EventName.REOPENED: lambda: (
            f"reopened (time {p.get('reopen_count')})"
            + (f": {_clip(p.get('reason'))}" if p.get("reason") else " after customer feedback")
        ),
        EventName.CLOSED: lambda: f"closed ({p.get('closure_reason')})",
        EventName.CLERK_ASSIGNED: lambda: (
            f"now with clerk {p.get('clerk')} ({department})"
            + (f", by turns ({p.get('via')})" if p.get("via") else f", by {actor}")
        ),
        EventName.CLERK_RELEASED: lambda: (
            f"clerk {p.get('clerk')} gave it back to the queue of {department}"
        ),
    }
    make = texts.get(event_type)
    return make() if make else event_type.removeprefix("complaint.").replace("_", " ")


def summary(
    event_type: str, complaint: Mapping[str, Any], payload: Mapping[str, Any], actor: str
) -> str:
    """One line for an SMS: reference, category and severity, what happened."""
    flags = f"{complaint['category']}/{complaint['severity']}"
    if complaint["strong_emotion"]:
        flags += "/strong emotion"
    line = f"{complaint['reference']} [{flags}] {_what(event_type, complaint, payload, actor)}"
    return line if len(line) <= SUMMARY_MAX else line[: SUMMARY_MAX - 1] + "…"


# The payload fields LifecycleChanged carries at its top level; the rest go in `details`.
_TOP_LEVEL = frozenset(LifecycleChanged.model_fields)


def closure_block(complaint: Mapping[str, Any]) -> ClosureBlock | None:
    """Why a complaint the customer is satisfied with cannot close yet, as a word notify
    can put in any language (the lifecycle's own sentence is English)."""
    verified = complaint["loss_verified"] and complaint["compensation_amount"] is not None
    if complaint["with_compensation"] and not verified:
        return ClosureBlock.LOSS_NOT_VERIFIED
    return None


def _department_name(session: Session, department_id: Any) -> str | None:
    row = directory.get_department(session, department_id) if department_id else None
    return row.name if row is not None else None


def lifecycle_payload(
    session: Session,
    complaint: Mapping[str, Any],
    decision: Decision,
    *,
    seq: int,
    actor_id: str,
    centre_managers: Sequence[str] = (),
) -> LifecycleChanged:
    """The event payload for one accepted decision; `complaint` is the row after it."""
    p = decision.payload
    details = {k: v for k, v in p.items() if k not in _TOP_LEVEL}
    if p.get("from_department_id"):
        # Notify words where a transferred complaint comes from, and keeps no directory.
        details["from_department_name"] = _department_name(session, p["from_department_id"])
    if p.get("assist_department_id"):
        details["assist_department_name"] = _department_name(session, p["assist_department_id"])
    if "closure_blocked" in p:
        blocked = closure_block(complaint)
        details["closure_blocked_by"] = blocked.value if blocked else None
    return LifecycleChanged(
        complaint_id=complaint["id"],
        reference=complaint["reference"],
        action=decision.action.api_name,
        from_state=decision.from_state.value,
        to_state=decision.to_state.value,
        history_seq=seq,
        holder_staff_id=complaint["holder_staff_id"],
        holder_role=complaint["holder_role"],
        department_id=p.get("department_id"),
        department_name=_department_name(session, p.get("department_id")),
        closure_reason=complaint["closure_reason"],
        bounce_count=complaint["bounce_count"],
        reopen_count=complaint["reopen_count"],
        urge_count=complaint["urge_count"],
        escalation_level=complaint["escalation_level"],
        category=complaint["category"],
        severity=complaint["severity"],
        strong_emotion=complaint["strong_emotion"],
        nature=complaint["nature"],
        anonymous=complaint["anonymous"],
        due_at=complaint["due_at"],
        paused_since=complaint["paused_at"],
        paused_seconds=complaint["paused_seconds"] or 0,
        assisting=[part.department_id for part in decision.new.assists],
        resolution=complaint["resolution"],
        root_cause=complaint["root_cause"],
        reason=p.get("reason"),
        details=details,
        recipients=recipients(session, complaint, decision, actor_id, centre_managers),
        summary=summary(decision.event_type, complaint, p, actor_id),
        customer_textable=complaint["customer_textable"],
    )
