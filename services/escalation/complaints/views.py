"""The lifecycle API: a complaint and what the caller may do, actions, history, queues."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request

from services.escalation.clients import TenantQuery, scoped
from services.escalation.complaints import assists, flows, service
from services.escalation.complaints.models import (
    ACTION_BODIES,
    ActionResult,
    AssistRead,
    ChainCheck,
    ComplaintRead,
    DepartmentLoad,
    ExtensionRequestRead,
    HistoryEntryRead,
    PauseRequestRead,
    Queue,
    QueueItem,
)
from services.escalation.config import ConfigDep
from services.escalation.db import access_log
from services.escalation.directory import service as directory
from services.escalation.lifecycle import (
    RULES,
    Actor,
    Command,
    GuardFailed,
    IllegalAction,
    InvalidCommand,
    LifecycleConfig,
    LifecycleError,
    allowed_actions,
    parse_action,
)
from services.escalation.lifecycle import Forbidden as LifecycleForbidden
from services.escalation.workload import service as workload
from shared.access_log import seen_in
from shared.auth.deps import CurrentPrincipal, require_roles
from shared.auth.principal import Principal, Role
from shared.clock import utcnow
from shared.deps import Db, OutboxDep
from shared.errors import ApiError, Conflict, Forbidden, NotFound, Unprocessable
from shared.privacy import sight
from shared.tenants import may_see
from shared.vocabulary import ASSIST_OUTSTANDING, Action, Awaiting

router = APIRouter(tags=["complaints"])

_SEES_ANY_DEPARTMENT = (Role.DUTY_MANAGER, Role.SUPERVISOR, Role.ADMIN, Role.QA, Role.DEPARTMENT)

_REFUSALS: dict[int | str, dict[str, Any]] = {
    409: {
        "description": "not possible in the complaint's state: names the state and the "
        "allowed actions"
    },
    403: {"description": "the caller's role may not take this action"},
    404: {
        "description": "no such complaint, or not one the caller's department holds, or one "
        "of another client than the caller's"
    },
    422: {"description": "a field is missing or invalid: names the field"},
}


class IllegalActionError(Conflict):
    code = "illegal_action"


class RuleRefused(Conflict):
    code = "rule_refused"


def actor_of(principal: Principal) -> Actor:
    return Actor(
        principal.staff_id, principal.role.value, principal.department_id, tenant=principal.tenant
    )


def refusal(exc: LifecycleError) -> ApiError:
    """The HTTP answer for a refused command."""
    if isinstance(exc, IllegalAction):
        return IllegalActionError(
            str(exc), state=exc.state.value, action=exc.action.api_name, allowed_actions=exc.allowed
        )
    if isinstance(exc, GuardFailed):
        missing = {"missing": exc.missing} if exc.missing else {}
        return RuleRefused(
            str(exc),
            state=exc.state.value,
            action=exc.action.api_name,
            reason=exc.reason,
            allowed_actions=exc.allowed,
            **missing,
            **exc.details,
        )
    if isinstance(exc, LifecycleForbidden):
        return Forbidden(str(exc), action=exc.action.api_name, role=exc.role, **exc.details)
    if isinstance(exc, InvalidCommand):
        return Unprocessable(exc.field, exc.reason)
    raise exc


# What people wrote about a complaint, beside the customer's own words.
_TEXTS = ("description", "resolution", "extension_reason", "pause_reason")
_OWED = frozenset(status.value for status in ASSIST_OUTSTANDING)


def merges_of(session: Any, row: Any, principal: Principal, now: datetime) -> dict[str, Any]:
    """The references of the master a duplicate went into, and of the duplicates merged
    into a master: both pages point to each other. And each assisting department's part
    (协办), with what it contributed as this reader may read it."""
    master = service.get_complaint(session, row.merged_into) if row.merged_into else None
    sees, names = sight(principal.role), (row.customer_name,)
    parts = [
        AssistRead(
            department_id=part.department_id,
            department_name=getattr(
                directory.get_department(session, part.department_id), "name", None
            ),
            status=part.status,
            due_at=part.due_at,
            overdue=part.status in _OWED and part.due_at is not None and part.due_at < now,
            contribution=sees.text_of(part.contribution, names=names),
            reason=sees.text_of(part.reason, names=names),
            settled_at=part.settled_at,
        )
        for part in assists.parts_of(session, row.id)
    ]
    return {
        "merged_into_reference": master.reference if master is not None else None,
        "merged_duplicates": service.duplicates_of(session, row.id),
        "assists": parts,
    }


def complaint_read(
    row: Any,
    principal: Principal,
    *,
    now: datetime,
    config: LifecycleConfig,
    merges: dict[str, Any] | None = None,
    actor: Actor | None = None,
) -> ComplaintRead:
    """The complaint as this caller may see it (shared.privacy); `actor`: the caller as
    the rules see them, where the directory was asked (a clerk heading the department)."""
    values = sight(principal.role).complaint(row._mapping, text=_TEXTS)
    values["pending_pause"] = None
    if values["pause_waiting_on"] is not None:
        values["pending_pause"] = PauseRequestRead(
            waiting_on=values["pause_waiting_on"],
            reason=values["pause_reason"],
            requested_by=values["pause_requested_by"],
            resume_at=values["pause_resume_at"],
        )
    values.update(merges or {})
    pending = None
    if values["extension_until"] is not None:
        pending = ExtensionRequestRead(
            until=values["extension_until"],
            reason=values["extension_reason"],
            requested_by=values["extension_requested_by"],
        )
    amount = values["compensation_amount"]
    values.update(
        pending_extension=pending,
        overdue=flows.overdue(row, now),
        compensation_amount=None if amount is None else f"{amount:.2f}",
        allowed_actions=allowed_actions(
            service.lifecycle_state(row), actor or actor_of(principal), config
        ),
    )
    return ComplaintRead.model_validate(values)


def _looks_like_id(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _visible(session: Any, complaint_id: str, principal: Principal) -> Any:
    row = service.find_complaint(session, complaint_id)
    if row is None or not flows.visible_to(row, actor_of(principal)):
        # Not 403: whether another department's (or client's) complaint exists is none of
        # their business.
        raise flows.not_found(complaint_id)
    return row


@router.get("/complaints/{complaint_id}", response_model=ComplaintRead, responses=_REFUSALS)
def get_complaint(
    request: Request, db: Db, config: ConfigDep, complaint_id: str, principal: CurrentPrincipal
) -> Any:
    """Where a complaint is in its life: state, holder, department, deadline, escalation
    level, and the actions the caller may take now. A reference works in place of the id."""
    with db.read() as session:
        row = _visible(session, complaint_id, principal)
        merges = merges_of(session, row, principal, utcnow())
        actor = workload.with_head(session, actor_of(principal))
    answer = complaint_read(
        row, principal, now=utcnow(), config=config.lifecycle(), merges=merges, actor=actor
    )
    if sight(principal.role).phone and row.customer_phone:
        access_log.record(db, principal, request, seen_in([(row.customer_phone, row.id)]))
    return answer


def take_action(
    db: Db,
    outbox: OutboxDep,
    config: ConfigDep,
    complaint_id: str,
    action: str,
    principal: Principal,
    data: dict[str, Any],
) -> ActionResult:
    """Take one lifecycle action; the change, its history entry and its event are stored
    together."""
    now = utcnow()
    try:
        command = Command(parse_action(action), actor_of(principal), data)
        target = complaint_id
        if not _looks_like_id(complaint_id):
            # The reference people read out works here too; the lock is taken on the id.
            with db.read() as session:
                target = _visible(session, complaint_id, principal).id
        # One transaction: lock, judge, store; visibility is checked on the locked row.
        applied = flows.apply(db, outbox, target, command, now=now, config=config)
    except LifecycleError as exc:
        raise refusal(exc) from None
    after = service.RowView(applied.complaint)
    return ActionResult(
        action=applied.decision.action.api_name,
        event_type=applied.decision.event_type,
        from_state=applied.decision.from_state.value,
        to_state=applied.decision.to_state.value,
        history_seq=applied.entry["seq"],
        complaint=complaint_read(
            after,
            principal,
            now=now,
            config=config.lifecycle(),
            merges={"merged_into_reference": applied.decision.payload.get("master_reference")},
            actor=applied.actor,
        ),
    )


_PURPOSE: Mapping[Action, str] = {
    Action.ASSIGN: "The worker gives a new complaint to the duty manager on duty.",
    Action.IMPORT: "The import command brings in a complaint closed in an older system.",
    Action.HAND_OVER: "At a shift change the worker moves a complaint to the incoming manager.",
    Action.ACKNOWLEDGE: "The duty manager confirms they have the complaint (确认).",
    Action.DISPATCH: "Send the complaint to a business department with instructions (派单).",
    Action.RESOLVE: "The duty desk answers the complaint itself.",
    Action.RESOLVE_AT_FIRST_CONTACT: (
        "The agent who took the call (or its duty manager, a supervisor) closes a complaint "
        "nobody has dispatched yet with the answer given on the line (当场解答, from the "
        "knowledge base, say), once the caller confirms it settles the matter "
        "(`customer_confirmed`: true). No follow-up survey: the caller has said so."
    ),
    Action.ACCEPT: "The department takes the complaint on (签收).",
    Action.RETURN: "The department sends it back to the duty desk with a reason (退单).",
    Action.TRANSFER: (
        "Where the centre allows it (ESCALATION_ALLOW_TRANSFER), the department sends it "
        "straight on to another department with a reason (转办)."
    ),
    Action.REQUEST_EXTENSION: "The department asks for more time (申请延期).",
    Action.DECIDE_EXTENSION: "The duty desk approves or denies a request for more time.",
    Action.REPLY: "The department answers with the resolution (答复).",
    Action.VERIFY_LOSS: "Record the verified loss of a compensation claim.",
    Action.DECLINE_COMPENSATION: (
        "The duty desk records its decision that no compensation is due on a compensation "
        "claim (with the reason), so it may close without a payout."
    ),
    Action.FEEDBACK: "The customer's verdict, taken from intake's events.",
    Action.CLOSE: "The duty desk closes an answered complaint (办结).",
    Action.REOPEN: "The duty desk reopens it for another round (重办).",
    Action.URGE: "Press the holder to act (催办).",
    Action.ESCALATE: "Raise the escalation level (升级).",
    Action.REASSIGN: "A supervisor gives the complaint to another duty manager (改派).",
    Action.REQUEST_PAUSE: (
        "The department asks to stop the clock while it waits on the customer or a third "
        "party (申请挂起), within the centre's limits (ESCALATION_MAX_PAUSES, "
        "ESCALATION_MAX_PAUSE_HOURS)."
    ),
    Action.DECIDE_PAUSE: "The duty desk approves or denies a request to pause the clock.",
    Action.PAUSE: (
        "The duty desk stops the clock itself while the complaint waits on the customer or a "
        "third party (挂起); it starts again at `resume_at` or after the longest pause."
    ),
    Action.RESUME: (
        "Start the clock again (恢复计时): every deadline moves by exactly the time it stood "
        "still. The worker does this when a pause runs out."
    ),
    Action.MERGE: (
        "The duty desk closes a duplicate into its master complaint (重复件并案): its caller "
        "is told, and hears the master's outcome when it is answered."
    ),
    Action.ACCEPT_ASSIST: (
        "An assisting department takes on its part of a joint complaint (协办签收); the "
        "dispatch named it in `assisting`."
    ),
    Action.CONTRIBUTE: (
        "An assisting department contributes its part (`contribution`); the lead replies "
        "for all once every part is in."
    ),
    Action.DECLINE_ASSIST: "An assisting department declines its part, with a reason (协办退回).",
    Action.RELEASE_ASSIST: (
        "The duty desk releases an assisting department from its part (撤回协办), so the "
        "lead may answer without it."
    ),
    Action.URGE_ASSIST: (
        "Press an assisting department for its part (协办督办); the worker does this when "
        "a part passes its deadline."
    ),
    Action.TAKE: (
        "A clerk of the holding department takes an unowned complaint from its queue (领取); "
        "409 naming the clerk who holds it, if one does. Also `POST /complaints/{id}/take`."
    ),
    Action.ASSIGN_CLERK: (
        "The department's head, the duty manager answering for it or a supervisor gives "
        "the complaint to a clerk of the holding department. Also "
        "`POST /complaints/{id}/assign-clerk`."
    ),
    Action.RELEASE: (
        "The clerk who owns the complaint (or the department's head, the desk) gives it "
        "back to the department's queue. Also `POST /complaints/{id}/release`."
    ),
}


def _action_route(action: Action) -> None:
    """`POST /complaints/{id}/actions/<action>`, its body documented by its own model."""
    body_model = ACTION_BODIES[action]

    def endpoint(
        db: Db,
        outbox: OutboxDep,
        config: ConfigDep,
        complaint_id: str,
        principal: CurrentPrincipal,
        body: Any = None,
    ) -> Any:
        data = body.model_dump(exclude_none=True) if body is not None else {}
        return take_action(db, outbox, config, complaint_id, action, principal, data)

    endpoint.__annotations__["body"] = Annotated[body_model | None, Body()]
    router.add_api_route(
        f"/complaints/{{complaint_id}}/actions/{action.api_name}",
        endpoint,
        methods=["POST"],
        name=f"action_{action.name.lower()}",
        summary=f"{action.en} ({action.zh})",
        description=(
            f"{_PURPOSE[action]} Who: {', '.join(sorted(RULES[action].roles))}; in state "
            f"{', '.join(sorted(RULES[action].from_states))}. A reference works in place of "
            "the id."
        ),
        response_model=ActionResult,
        responses=_REFUSALS,
    )


for _action in Action:
    _action_route(_action)


@router.post("/complaints/{complaint_id}/actions/{action}", include_in_schema=False)
def unknown_action(complaint_id: str, action: str, principal: CurrentPrincipal) -> Any:
    """Any other name: 422 naming the actions there are."""
    try:
        parse_action(action)
    except LifecycleError as exc:
        raise refusal(exc) from None
    raise NotFound(f"no action {action}")  # pragma: no cover - every action has its route


@router.get(
    "/complaints/{complaint_id}/history",
    response_model=list[HistoryEntryRead],
    responses={404: _REFUSALS[404]},
)
def get_history(db: Db, complaint_id: str, principal: CurrentPrincipal) -> Any:
    """Every accepted action on the complaint, in order, with the hashes that chain them.
    For those who may not read what people wrote (QA, the outsourcing client), the
    payload's words have their personal data masked; check the chain with `verify`."""
    with db.read() as session:
        row = _visible(session, complaint_id, principal)
        entries = service.history_of(session, row.id)
    sees = sight(principal.role)
    names = (row.customer_name,)
    # Masked for those who may not read the words: the hashes then stand for what was
    # written, which `verify` checks on the entries as stored.
    return [
        HistoryEntryRead.model_validate(
            {**entry._mapping, "payload": sees.values_of(entry.payload, names=names)}
        )
        for entry in entries
    ]


@router.get(
    "/complaints/{complaint_id}/history/verify",
    response_model=ChainCheck,
    responses={404: _REFUSALS[404]},
)
def verify_history(db: Db, complaint_id: str, principal: CurrentPrincipal) -> Any:
    """Recompute the chain: `valid`, or the first entry that was altered or removed."""
    with db.read() as session:
        row = _visible(session, complaint_id, principal)
        report = flows.verify(session, row)
    return ChainCheck(
        valid=report.valid,
        first_bad_seq=report.first_bad_seq,
        entries=report.entries,
        problem=report.problem,
    )


_Limit = Annotated[int, Query(ge=1, le=500, description="At most this many, most urgent first")]


def _queue(
    rows: list[Any],
    now: datetime,
    principal: Principal,
    *,
    detail: dict[str, str] | None = None,
    department: str | None = None,
) -> Queue:
    items = []
    sees = sight(principal.role)
    reader = principal.department_id if principal.role == Role.DEPARTMENT else department
    for row in rows:
        awaiting = flows.awaiting(row, principal.role.value)
        parts = row.assists or []
        assisting = reader is not None and row.department_id != reader
        if assisting:
            awaiting = Awaiting.ASSIST  # its part, on a complaint another department leads
        elif awaiting == Awaiting.ANSWER and any(p["status"] in _OWED for p in parts):
            awaiting = Awaiting.ASSISTS
        values = {
            **row._mapping,
            "overdue": flows.overdue(row, now),
            "pending_extension": row.extension_until is not None,
            "pending_pause": row.pause_waiting_on is not None,
            "paused": row.paused_at is not None,
            "assisting": assisting,
            "awaiting": awaiting,
            "awaiting_zh": awaiting.zh if awaiting else None,
            "awaiting_en": awaiting.en if awaiting else None,
        }
        # The complaint's text only where a department reads its queue.
        values.pop("description", None)
        if detail is not None:
            names = (getattr(row, "customer_name", None),)
            values |= {
                "description": sees.text_of(row.description, names=names),
                "instructions": sees.text_of(detail.get(row.id), names=names),
            }
        items.append(QueueItem.model_validate(values))
    return Queue(items=items, overdue=sum(item.overdue for item in items))


@router.get("/queues/mine", response_model=Queue, tags=["queues"])
def my_queue(
    db: Db, principal: CurrentPrincipal, limit: _Limit = 100, tenant: TenantQuery = None
) -> Any:
    """What the caller holds, overdue first: a duty manager's complaints (and requests
    for more time on those a department holds for them), a clerk's and their department's
    untaken tickets, a supervisor's and the supervisors' shared queue. Each item says
    what it waits for from the caller (`awaiting`)."""
    client = scoped(principal, tenant)
    now = utcnow()
    with db.read() as session:
        rows = service.queue_for(
            session,
            staff_id=principal.staff_id,
            role=principal.role.value,
            department_id=principal.department_id,
            now=now,
            limit=limit,
            tenant=client,
        )
    return _queue(rows, now, principal)


@router.get(
    "/departments/{department_id}/queue",
    response_model=Queue,
    tags=["queues"],
    responses={
        403: {"description": "a department user asking for another department"},
        404: {"description": "no such department, or one of another client than the caller's"},
    },
)
def department_queue(
    db: Db,
    department_id: str,
    principal: Annotated[Principal, require_roles(*_SEES_ANY_DEPARTMENT)],
    limit: _Limit = 100,
) -> Any:
    """What a department has to act on (dispatched to it, or in progress there), overdue
    first, each with its description and the duty manager's instructions."""
    if principal.role == Role.DEPARTMENT and principal.department_id != department_id:
        raise Forbidden(
            f"a department user sees only their own department's queue "
            f"({principal.department_id}), not {department_id!r}",
            department_id=department_id,
        )
    now = utcnow()
    with db.read() as session:
        department = directory.get_department(session, department_id)
        if department is None or not may_see(principal, department.tenant):
            raise NotFound(f"no department {department_id!r}", department_id=department_id)
        rows = service.department_queue(
            session, department_id=department_id, now=now, limit=limit, tenant=department.tenant
        )
        instructions = service.instructions_for(session, [row.id for row in rows])
    return _queue(rows, now, principal, detail=instructions, department=department_id)


_Desk = Annotated[Principal, require_roles(Role.DUTY_MANAGER, Role.SUPERVISOR)]


@router.get("/queues/decisions", response_model=Queue, tags=["queues"])
def decisions_queue(
    db: Db, principal: _Desk, limit: _Limit = 100, tenant: TenantQuery = None
) -> Any:
    """What waits for the caller's decision: departments' requests for more time on the
    complaints they dispatched (decide-extension) and complaints returned to them (退单),
    overdue first. A supervisor sees every request and the supervisors' returns."""
    client = scoped(principal, tenant)
    now = utcnow()
    with db.read() as session:
        rows = service.decisions_for(
            session,
            staff_id=principal.staff_id,
            role=principal.role.value,
            now=now,
            limit=limit,
            tenant=client,
        )
    return _queue(rows, now, principal)


@router.get("/queues/escalated", response_model=Queue, tags=["queues"])
def escalated_queue(
    db: Db,
    principal: Annotated[Principal, require_roles(Role.SUPERVISOR, Role.ADMIN)],
    limit: _Limit = 100,
    tenant: TenantQuery = None,
) -> Any:
    """Open complaints that were escalated or returned by a department, overdue first:
    what a supervisor watches."""
    client = scoped(principal, tenant)
    now = utcnow()
    with db.read() as session:
        rows = service.escalated(session, now=now, limit=limit, tenant=client)
    return _queue(rows, now, principal)


@router.get("/queues/departments", response_model=list[DepartmentLoad], tags=["queues"])
def department_loads(
    db: Db,
    principal: Annotated[Principal, require_roles(Role.DUTY_MANAGER, Role.SUPERVISOR, Role.ADMIN)],
    tenant: TenantQuery = None,
) -> Any:
    """Each active department with its open load, for choosing where to dispatch: a
    complaint goes to a department of its own client (`tenant` narrows to one)."""
    client = scoped(principal, tenant)
    now = utcnow()
    with db.read() as session:
        loads = service.department_loads(session, now=now)
        departments = directory.list_departments(session, active=True, tenant=client)
    return [
        DepartmentLoad(
            department_id=d.id,
            name=d.name,
            tenant=d.tenant,
            open=loads.get(d.id, (0, 0, 0))[0],
            waiting=loads.get(d.id, (0, 0, 0))[1],
            overdue=loads.get(d.id, (0, 0, 0))[2],
        )
        for d in departments
    ]
