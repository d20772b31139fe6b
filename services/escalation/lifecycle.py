"""The complaint lifecycle as pure code: one table of what is allowed, one `decide`.

No I/O and no clock. The caller loads a `ComplaintState`, passes a `Command` and `now`,
then stores `Decision.new`, appends the history entry and writes the outbox row for
`Decision.event_type` / `Decision.payload`, all in one transaction of its own.

Checks run in a fixed order so that each refusal has one HTTP answer: the state (409,
`IllegalAction`), the actor's role and department (403, `Forbidden`), the payload (422,
`InvalidCommand`), then business rules (409, `GuardFailed`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cache
from typing import Any, NamedTuple

from shared.vocabulary import (
    ASSIST_OUTSTANDING,
    STAGE_ON_ENTRY,
    Action,
    AssistStatus,
    ClosureReason,
    EventName,
    ExtensionDecision,
    FeedbackResult,
    Nature,
    PauseFor,
    ReturnReason,
    Role,
    RootCause,
    Stage,
    State,
    Word,
)


class LifecycleError(Exception):
    """A refused command; the subclass tells the API which answer fits."""


class _Refused(LifecycleError):
    def __init__(
        self, state: State | str, action: Action | str, allowed: list[str], why: str
    ) -> None:
        self.state, self.action, self.allowed = State(state), parse_action(action), list(allowed)
        super().__init__(
            f"cannot {self.action.api_name} a complaint in state '{self.state}'{why}; "
            f"allowed actions: {', '.join(self.allowed) or 'none'}"
        )


class IllegalAction(_Refused):
    """The action is not possible in the complaint's current state (409)."""

    def __init__(self, state: State | str, action: Action | str, allowed: list[str]) -> None:
        super().__init__(state, action, allowed, "")


class Forbidden(LifecycleError):
    """The actor's role or department may not do this to this complaint (403); `details`
    name who may (the holder, the complaint's duty manager) where that is the reason."""

    def __init__(self, action: Action | str, role: str, reason: str, **details: str | None) -> None:
        self.action, self.role, self.reason = parse_action(action), role, reason
        self.details = details
        super().__init__(
            f"a {role or 'caller without role'} may not {self.action.api_name}: {reason}"
        )


class InvalidCommand(LifecycleError):
    """A payload field is missing or malformed (422)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")


class GuardFailed(_Refused):
    """The state and the actor fit, but a business rule blocks the action for now (409).
    `missing`: the facts that must be on record first, where that is what blocks it;
    `details`: who is in the way, where someone is (the clerk holding it)."""

    def __init__(
        self,
        state: State | str,
        action: Action | str,
        reason: str,
        allowed: list[str],
        missing: tuple[str, ...] = (),
        **details: str | None,
    ) -> None:
        self.reason, self.missing, self.details = reason, list(missing), details
        super().__init__(state, action, allowed, f": {reason}")


def parse_action(name: Action | str) -> Action:
    """Accept the API spelling (`request-extension`) as well as `request_extension`."""
    if isinstance(name, Action):
        return name
    try:
        return Action(str(name).strip().replace("_", "-"))
    except ValueError:
        known = ", ".join(action.api_name for action in Action)
        raise InvalidCommand("action", f"unknown action {name!r}; known: {known}") from None


@dataclass(frozen=True)
class Actor:
    staff_id: str
    role: str
    department_id: str | None = None
    # The department this person heads, as the directory says (the caller looks it up):
    # among a department's clerks, the head assigns complaints to the others.
    head_of: str | None = None
    # The client they work for; None: the centre's own staff (and the system), who serve
    # every client. Not judged here: another client's complaint is not found before any
    # rule is asked (complaints.flows.visible_to).
    tenant: str | None = None


@dataclass(frozen=True)
class ExtensionRequest:
    until: datetime
    reason: str
    requested_by: str


@dataclass(frozen=True)
class PauseRequest:
    waiting_on: PauseFor
    reason: str
    requested_by: str
    until: datetime | None = None  # resume then; None: at the centre's longest pause


@dataclass(frozen=True)
class AssistPart:
    """An assisting department's part of a joint complaint (协办)."""

    department_id: str
    status: AssistStatus = AssistStatus.DISPATCHED

    @property
    def outstanding(self) -> bool:
        return self.status in ASSIST_OUTSTANDING


@dataclass(frozen=True)
class ComplaintState:
    """Everything the rules need to know about one complaint."""

    state: State
    nature: Nature
    holder_staff_id: str | None = None
    holder_role: Role | None = None
    department_id: str | None = None
    # Kept apart from the holder: a returned or answered ticket goes back to this desk.
    duty_manager_id: str | None = None
    bounce_count: int = 0
    reopen_count: int = 0
    urge_count: int = 0
    escalation_level: int = 0
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    pending_extension: ExtensionRequest | None = None
    extended_until: datetime | None = None
    loss_verified: bool = False
    compensation_amount: Decimal | None = None
    # The duty desk decided that no compensation is due (a verified loss overrides it).
    compensation_declined: bool = False
    # No customer to call back: no follow-up clock, and the desk closes after the answer.
    anonymous: bool = False
    resolution: str | None = None
    root_cause: RootCause | None = None
    feedback: FeedbackResult | None = None  # for the current reply only
    follow_up_attempts: int = 0  # failed ones, for the current reply only
    last_follow_up_at: datetime | None = None  # the last failed attempt that counted
    closure_reason: ClosureReason | None = None
    with_compensation: bool = False
    pending_pause: PauseRequest | None = None
    # The clock stands still from `paused_at` until resumed, by hand or at `paused_until`.
    paused_at: datetime | None = None
    paused_until: datetime | None = None
    pause_count: int = 0  # pauses granted, for the centre's limit
    paused_seconds: int = 0  # the clock stood still this long in pauses that ended
    merged_into: str | None = None  # the master complaint's id, for a merged duplicate
    # Joint handling: the departments assisting the lead (department_id), each its part.
    assists: tuple[AssistPart, ...] = ()
    # As registered: the agent who took the call, and the knowledge base's article they
    # answered it from (intake's number), if any.
    registered_by: str | None = None
    answered_from_article: int | None = None

    def outstanding_assists(self) -> list[str]:
        return [part.department_id for part in self.assists if part.outstanding]

    @classmethod
    def new(cls, *, nature: Nature | str, anonymous: bool = False) -> ComplaintState:
        """A complaint as intake registered it, before anyone holds it."""
        return cls(state=State.RECEIVED, nature=Nature(nature), anonymous=anonymous)


@dataclass(frozen=True)
class Command:
    action: Action
    actor: Actor
    data: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", parse_action(self.action))


@dataclass(frozen=True)
class LifecycleConfig:
    max_returns: int = 2
    unreachable_attempts: int = 3
    max_escalation_level: int = 3
    # Failed follow-up calls count towards closing as unreached only this far apart:
    # three calls in as many minutes do not show that the customer cannot be reached.
    follow_up_interval: timedelta = timedelta(minutes=120)
    # A department may send a complaint straight on to another department (转办) only
    # where the centre's rulebook allows it; elsewhere it returns it to the duty desk.
    allow_transfer: bool = False
    # How often and how long a complaint's clock may stand still (挂起); a pause with no
    # time to resume set ends by itself after `max_pause`.
    max_pauses: int = 2
    max_pause: timedelta = timedelta(days=15)

    def __post_init__(self) -> None:
        if min(self.max_returns, self.unreachable_attempts, self.max_escalation_level) < 1:
            raise ValueError("lifecycle limits must be at least 1")
        if self.max_pauses < 0 or self.max_pause <= timedelta(0):
            raise ValueError("pauses need a limit of at least 0 and a positive longest pause")
        if self.follow_up_interval < timedelta(0):
            raise ValueError("the follow-up interval cannot be negative")


@dataclass(frozen=True)
class Decision:
    action: Action
    from_state: State
    to_state: State
    new: ComplaintState
    event_type: EventName
    payload: dict[str, Any]
    stage_entered: Stage | None


_Parser = Callable[[str, Any, datetime, LifecycleConfig], Any]


class _Field(NamedTuple):
    name: str
    parse: _Parser
    required: bool = True


def _text(name: str, raw: Any, now: datetime, config: LifecycleConfig) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidCommand(name, "must be non-empty text")
    return raw.strip()


class _OneOf:
    """A parser for one word of a vocabulary list (a root cause, a return reason, …)."""

    def __init__(self, words: type[Word]) -> None:
        self.words = words

    def __call__(self, name: str, raw: Any, now: datetime, config: LifecycleConfig) -> Word:
        word = self.words.of(raw)
        if word is not None:
            return word
        raise InvalidCommand(name, f"must be one of: {', '.join(self.words)} (got {raw!r})")


_one_of = _OneOf


def _flag(name: str, raw: Any, now: datetime, config: LifecycleConfig) -> bool:
    if not isinstance(raw, bool):
        raise InvalidCommand(name, "must be true or false")
    return raw


def _future_time(name: str, raw: Any, now: datetime, config: LifecycleConfig) -> datetime:
    if isinstance(raw, str):
        with suppress(ValueError):
            raw = datetime.fromisoformat(raw.strip())
    if not isinstance(raw, datetime) or raw.utcoffset() is None:
        raise InvalidCommand(name, "must be an ISO 8601 time with a zone: 2025-03-01T18:00+08:00")
    if raw <= now:
        raise InvalidCommand(name, f"must be later than now ({now.isoformat()})")
    return raw


_CENT = Decimal("0.01")
# What the history and the complaint can hold (ten digits before the point, two after).
MAX_AMOUNT = Decimal("9999999999.99")


def _amount(name: str, raw: Any, now: datetime, config: LifecycleConfig) -> Decimal:
    problem = f'must be a positive amount up to {MAX_AMOUNT}, at most two decimals: "120.50"'
    try:  # str() first: True, lists and the like then fail to parse instead of passing as 1
        value = Decimal(str(raw).strip())
        if value.is_finite() and 0 < value <= MAX_AMOUNT and value == value.quantize(_CENT):
            return value.quantize(_CENT)
    except InvalidOperation:
        pass
    raise InvalidCommand(name, problem)


def _past_time(name: str, raw: Any, now: datetime, config: LifecycleConfig) -> datetime:
    if isinstance(raw, str):
        with suppress(ValueError):
            raw = datetime.fromisoformat(raw.strip())
    if not isinstance(raw, datetime) or raw.utcoffset() is None:
        raise InvalidCommand(name, "must be an ISO 8601 time with a zone: 2020-03-18T17:30+08:00")
    if raw > now:
        raise InvalidCommand(name, f"must not be later than now ({now.isoformat()})")
    return raw


MAX_ASSISTING = 5


def _departments(name: str, raw: Any, now: datetime, config: LifecycleConfig) -> tuple[str, ...]:
    """Department ids, as a JSON list or one text with commas (a form's)."""
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise InvalidCommand(name, 'must be a list of department ids: ["network", "roads"]')
    found = tuple(dict.fromkeys(i.strip() for i in items if i.strip()))
    if len(found) > MAX_ASSISTING:
        raise InvalidCommand(name, f"at most {MAX_ASSISTING} assisting departments")
    return found


def _level(name: str, raw: Any, now: datetime, config: LifecycleConfig) -> int:
    top = config.max_escalation_level
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= top:
        raise InvalidCommand(name, f"must be a whole number from 1 to {top}")
    return raw


# What each parser accepts, as JSON Schema: the API documents every action's body from
# the same table that judges it (the judging stays here, after the state and role checks).
_SCHEMAS: Mapping[_Parser, Mapping[str, Any]] = {
    _text: {"type": "string", "minLength": 1},
    _flag: {"type": "boolean"},
    _future_time: {"type": "string", "format": "date-time"},
    _past_time: {"type": "string", "format": "date-time"},
    _amount: {
        "anyOf": [
            {"type": "string", "pattern": r"^\d{1,10}(\.\d{1,2})?$"},
            {"type": "number", "exclusiveMinimum": 0, "maximum": float(MAX_AMOUNT)},
        ],
        "examples": ["120.50"],
    },
    _level: {"type": "integer", "minimum": 1},
    _departments: {"type": "array", "items": {"type": "string"}, "maxItems": MAX_ASSISTING},
}


class FieldSpec(NamedTuple):
    name: str
    required: bool
    schema: Mapping[str, Any]


def fields_of(action: Action) -> tuple[FieldSpec, ...]:
    """The body fields `action` reads, each with its JSON Schema."""
    specs = []
    for f in RULES[action].fields:
        if isinstance(f.parse, _OneOf):
            schema: Mapping[str, Any] = {"type": "string", "enum": [w.value for w in f.parse.words]}
        else:
            schema = _SCHEMAS[f.parse]
        specs.append(FieldSpec(f.name, f.required, schema))
    return tuple(specs)


_REASON = _Field("reason", _text)
_RESOLUTION = (
    _Field("resolution", _text),
    _Field("root_cause", _one_of(RootCause)),
    _Field("with_compensation", _flag, required=False),
)


def _parse(
    fields: tuple[_Field, ...], data: Any, now: datetime, config: LifecycleConfig
) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise InvalidCommand("body", "must be a JSON object")
    parsed: dict[str, Any] = {}
    for name, parse, required in fields:
        raw = data.get(name)
        # Forms send "" for an untouched optional box: that means "not given".
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if required:
                raise InvalidCommand(name, "is required")
        else:
            parsed[name] = parse(name, raw, now, config)
    return parsed


# What each action does once the checks have passed: the new state and the event's extras.


@dataclass(frozen=True)
class _Ctx:
    current: ComplaintState
    actor: Actor
    action: Action
    data: dict[str, Any]
    now: datetime
    config: LifecycleConfig

    def refuse(
        self, reason: str, missing: tuple[str, ...] = (), **details: str | None
    ) -> GuardFailed:
        # Unlike IllegalAction, this caller may act here: tell them what they can do instead.
        allowed = allowed_actions(self.current, self.actor, self.config)
        return GuardFailed(self.current.state, self.action, reason, allowed, missing, **details)


class _Effect(NamedTuple):
    new: ComplaintState
    payload: Mapping[str, Any] = {}
    event_type: EventName | None = None  # only where one action publishes different events


_UNACKNOWLEDGED: Mapping[str, Any] = {"acknowledged_at": None, "acknowledged_by": None}
_DEPARTMENT_QUEUE: Mapping[str, Any] = {"holder_role": Role.DEPARTMENT, "holder_staff_id": None}
# Feedback, follow-ups and extensions belong to one round of answering; a new round resets them.
_NEW_ROUND: Mapping[str, Any] = dict.fromkeys(
    ("feedback", "closure_reason", "extended_until", "last_follow_up_at")
) | {"follow_up_attempts": 0}


def _desk(cur: ComplaintState, bounces: int, config: LifecycleConfig) -> dict[str, Any]:
    # Past the bounce limit the departments have had their chance and a supervisor decides:
    # from the supervisors' shared queue, unless one of them has already taken it.
    # Nobody on duty when it arrived (no duty manager of its own): the supervisors' too.
    if bounces >= config.max_returns or cur.duty_manager_id is None:
        keep = cur.holder_staff_id if cur.holder_role == Role.SUPERVISOR else None
        return {"holder_role": Role.SUPERVISOR, "holder_staff_id": keep}
    return {"holder_role": Role.DUTY_MANAGER, "holder_staff_id": cur.duty_manager_id}


class _Block(NamedTuple):
    reason: str
    missing: tuple[str, ...]


_UNVERIFIED = ("loss_verified", "compensation_amount")


def _compensation_block(cur: ComplaintState, with_compensation: bool) -> _Block | None:
    """What keeps a complaint from closing on its compensation, if anything.

    A compensation claim closes one of two ways, as a hotline settles claims: the loss
    verified with its amount (whether or not the answer pays it), or the duty desk's
    recorded decision that no compensation is due. Whatever the answer said about
    compensation, a claim never closes with neither on record."""
    verified = cur.loss_verified and cur.compensation_amount is not None
    if with_compensation and not verified:
        reason = (
            "a compensation resolution needs the loss verified and the amount recorded "
            f"first ({Action.VERIFY_LOSS.api_name})"
        )
        return _Block(reason, _UNVERIFIED)
    if cur.nature == Nature.COMPENSATION and not verified and not cur.compensation_declined:
        reason = (
            "a compensation claim closes only with the loss verified and its amount recorded "
            f"({Action.VERIFY_LOSS.api_name}) or the duty desk's recorded decision that no "
            f"compensation is due ({Action.DECLINE_COMPENSATION.api_name})"
        )
        return _Block(reason, (*_UNVERIFIED, "compensation_declined"))
    return None


def _closed(cur: ComplaintState, reason: ClosureReason, **changes: Any) -> ComplaintState:
    nobody: dict[str, Any] = {"holder_role": None, "holder_staff_id": None}
    return replace(cur, state=State.CLOSED, closure_reason=reason, **nobody, **changes)


def _reopened(c: _Ctx, via: str = "staff") -> _Effect:
    cur = c.current
    if cur.merged_into is not None:
        raise c.refuse(f"it was merged into complaint {cur.merged_into}; reopen that one")
    target: dict[str, Any]
    if cur.department_id is not None:  # 重办 goes back to the department that answered
        target = {"state": State.DISPATCHED, **_DEPARTMENT_QUEUE}
    else:
        target = {"state": State.WITH_DUTY_MANAGER, **_UNACKNOWLEDGED}
        target |= _desk(cur, cur.bounce_count, c.config)
    new = replace(cur, reopen_count=cur.reopen_count + 1, **_NEW_ROUND, **target)
    return _Effect(new, {"via": via}, EventName.REOPENED)


def _assign(c: _Ctx) -> _Effect:
    staff = c.data.get("staff_id")
    desk: dict[str, Any] = {
        "holder_role": Role.DUTY_MANAGER,
        "holder_staff_id": staff,
        "duty_manager_id": staff,
    }
    if staff is None:  # nobody on duty: the supervisors' shared queue
        desk = {"holder_role": Role.SUPERVISOR, "holder_staff_id": None, "duty_manager_id": None}
    new = replace(c.current, state=State.WITH_DUTY_MANAGER, **desk, **_UNACKNOWLEDGED)
    return _Effect(new, {"to_supervisor": staff is None})


def _import(c: _Ctx) -> _Effect:
    # Closed in the old system: it lands closed, as it stood there, without a round of
    # feedback (there was none here) and without a root cause nobody recorded.
    facts = {key: c.data[key] for key in ("resolution", "department_id") if key in c.data}
    return _Effect(_closed(c.current, ClosureReason.IMPORTED, **facts), {"imported": True})


def _hand_over(c: _Ctx) -> _Effect:
    cur, staff = c.current, c.data["staff_id"]
    if staff == cur.duty_manager_id:
        raise c.refuse(f"it is already with duty manager {staff}")
    changes: dict[str, Any] = {"duty_manager_id": staff}
    # Waiting in the supervisors' queue only because nobody was on duty: the manager now
    # on duty takes it. (One a supervisor must decide after returns stays with them.)
    unowned = cur.holder_role == Role.SUPERVISOR and cur.duty_manager_id is None
    if unowned and cur.bounce_count < c.config.max_returns and cur.holder_staff_id is None:
        changes["holder_role"] = Role.DUTY_MANAGER
    if cur.holder_role == Role.DUTY_MANAGER or "holder_role" in changes:
        changes["holder_staff_id"] = staff
        if cur.state == State.WITH_DUTY_MANAGER:
            # The incoming manager confirms they have it; the SLA clock runs on regardless.
            changes |= _UNACKNOWLEDGED
    return _Effect(replace(cur, **changes), {"previous_staff_id": cur.duty_manager_id})


def _reassign(c: _Ctx) -> _Effect:
    """A supervisor gives the complaint to another duty manager: the desk moves with it
    while it is at the desk, and it returns to them from a department."""
    cur, staff = c.current, c.data["staff_id"]
    at_desk = cur.holder_role in (Role.DUTY_MANAGER, Role.SUPERVISOR)
    if staff == cur.duty_manager_id and (not at_desk or cur.holder_staff_id == staff):
        raise c.refuse(f"it is already with duty manager {staff}")
    changes: dict[str, Any] = {"duty_manager_id": staff}
    if at_desk:
        changes |= {"holder_role": Role.DUTY_MANAGER, "holder_staff_id": staff}
        if cur.state == State.WITH_DUTY_MANAGER:
            changes |= _UNACKNOWLEDGED  # the new manager confirms they have it
    previous = {"previous_staff_id": cur.duty_manager_id, "previous_holder": cur.holder_staff_id}
    return _Effect(replace(cur, **changes), previous)


def _acknowledge(c: _Ctx) -> _Effect:
    cur, staff = c.current, c.actor.staff_id
    if cur.acknowledged_at is not None:
        when = cur.acknowledged_at.isoformat()
        raise c.refuse(f"already acknowledged by {cur.acknowledged_by} at {when}")
    changes: dict[str, Any] = {"acknowledged_at": c.now, "acknowledged_by": staff}
    if cur.holder_role == Role.SUPERVISOR and cur.holder_staff_id is None:
        changes["holder_staff_id"] = staff  # a supervisor takes it from the shared queue
    return _Effect(replace(cur, **changes), changes)


def _dispatch(c: _Ctx) -> _Effect:
    department, assisting = c.data["department_id"], c.data.get("assisting", ())
    if department in assisting:
        raise InvalidCommand("assisting", f"the lead department {department!r} cannot also assist")
    parts = tuple(AssistPart(d) for d in assisting)
    new = replace(c.current, state=State.DISPATCHED, department_id=department, assists=parts)
    return _Effect(replace(new, **_DEPARTMENT_QUEUE), {"assisting": list(assisting)})


def _released(cur: ComplaintState, *departments: str) -> tuple[AssistPart, ...]:
    """The parts, those of `departments` (all outstanding ones if none named) released."""
    gone = set(departments) or set(cur.outstanding_assists())
    return tuple(
        replace(p, status=AssistStatus.RELEASED) if p.department_id in gone and p.outstanding else p
        for p in cur.assists
    )


def _answer(kind: str) -> Callable[[_Ctx], _Effect]:
    def effect(c: _Ctx) -> _Effect:
        cur, with_compensation = c.current, c.data.get("with_compensation", False)
        waiting = cur.outstanding_assists()
        if waiting:
            raise c.refuse(
                f"the lead replies for all once every assisting part is in; waiting for "
                f"{', '.join(waiting)} ({Action.CONTRIBUTE.api_name}, or the desk's "
                f"{Action.RELEASE_ASSIST.api_name})",
                tuple(f"assist:{d}" for d in waiting),
            )
        if with_compensation and cur.nature != Nature.COMPENSATION:
            raise c.refuse(f"a '{cur.nature}' complaint cannot be resolved with compensation")
        if with_compensation and cur.compensation_declined:
            raise c.refuse(
                "the duty desk decided that no compensation is due; a verified loss "
                f"({Action.VERIFY_LOSS.api_name}) would change that"
            )
        answer = {key: c.data[key] for key in ("resolution", "root_cause")}
        desk = _desk(cur, cur.bounce_count, c.config)
        new = replace(cur, state=State.REPLIED, pending_extension=None, **answer, **desk)
        new = replace(new, with_compensation=with_compensation, **_NEW_ROUND)
        extras = {"kind": kind, "with_compensation": with_compensation}
        if cur.nature == Nature.RECOGNITION:
            # A compliment is done once it reaches whom it praises: nobody asks the caller
            # whether they are satisfied with their own praise.
            return _Effect(_closed(new, ClosureReason.CONVEYED), extras, EventName.CLOSED)
        if cur.anonymous:
            # Nobody to follow up with: no follow-up clock, so no lateness to carry over.
            new = replace(new, escalation_level=0)
        return _Effect(new, extras)

    return effect


def _accept(c: _Ctx) -> _Effect:
    # Accepting an unowned complaint makes it the clerk's; a colleague covering for the
    # clerk who owns it accepts on their behalf, and it stays theirs.
    owner = c.current.holder_staff_id or c.actor.staff_id
    return _Effect(replace(c.current, state=State.IN_PROGRESS, holder_staff_id=owner))


def _return(c: _Ctx) -> _Effect:
    cur, bounces = c.current, c.current.bounce_count + 1
    gone: dict[str, Any] = {
        "department_id": None,
        "pending_extension": None,
        "extended_until": None,
    }
    desk = _desk(cur, bounces, c.config)
    # Back at the desk, the joint case is undone: a new dispatch names its helpers anew.
    gone["assists"] = _released(cur)
    new = replace(cur, state=State.WITH_DUTY_MANAGER, bounce_count=bounces, **gone, **desk)
    new = replace(new, **_UNACKNOWLEDGED)
    return _Effect(new, {"to_supervisor": new.holder_role == Role.SUPERVISOR})


def _transfer(c: _Ctx) -> _Effect:
    """The holding department passes the complaint to another one: it waits for the new
    department's acceptance as after a dispatch, and no return is counted (nobody sent
    it back to the desk)."""
    cur, department = c.current, c.data["department_id"]
    if department == cur.department_id:
        raise InvalidCommand("department_id", f"the complaint is already with {department!r}")
    gone: dict[str, Any] = {"pending_extension": None, "extended_until": None}
    if department in {p.department_id for p in cur.assists}:
        gone["assists"] = _released(cur, department)  # it leads now: its part is the whole
    new = replace(cur, state=State.DISPATCHED, department_id=department, **gone)
    return _Effect(replace(new, **_DEPARTMENT_QUEUE), {"from_department_id": cur.department_id})


def _request_extension(c: _Ctx) -> _Effect:
    cur, until = c.current, c.data["until"]
    if cur.pending_extension is not None:
        pending = cur.pending_extension.until.isoformat()
        raise c.refuse(f"a request for more time (until {pending}) is waiting for a decision")
    if cur.extended_until is not None and until <= cur.extended_until:
        already = cur.extended_until.isoformat()
        raise c.refuse(f"until must be later than the deadline already extended to {already}")
    request = ExtensionRequest(until=until, reason=c.data["reason"], requested_by=c.actor.staff_id)
    return _Effect(replace(cur, pending_extension=request), {"requested_by": c.actor.staff_id})


def _decide_extension(c: _Ctx) -> _Effect:
    cur, request = c.current, c.current.pending_extension
    if request is None:
        raise c.refuse("no request for more time is waiting for a decision")
    approved = c.data["decision"] == ExtensionDecision.APPROVE
    if approved and request.until <= c.now:
        raise c.refuse("the requested deadline has passed; deny it and ask for a new request")
    new_due = request.until if approved else None
    new = replace(cur, pending_extension=None, extended_until=new_due or cur.extended_until)
    stage = STAGE_ON_ENTRY[cur.state]  # the SLA stage whose deadline moves
    asked = {"requested_until": request.until, "requested_by": request.requested_by}
    return _Effect(new, asked | {"new_due_at": new_due, "stage": stage})


_PAUSE_FIELDS = (
    _Field("waiting_on", _one_of(PauseFor)),
    _REASON,
    _Field("resume_at", _future_time, required=False),
)


def _pause_blocked(c: _Ctx) -> None:
    cur, limit = c.current, c.config.max_pauses
    if cur.paused_at is not None:
        since = cur.paused_at.isoformat()
        raise c.refuse(f"the clock is already paused (since {since})")
    if cur.pending_pause is not None:
        raise c.refuse("a request to pause the clock is waiting for a decision")
    if cur.pause_count >= limit:
        raise c.refuse(
            f"the clock was already paused {cur.pause_count} times (the limit is {limit})"
        )
    until = c.data.get("resume_at")
    if until is not None and until > c.now + c.config.max_pause:
        days = c.config.max_pause / timedelta(days=1)
        raise InvalidCommand("resume_at", f"a pause may last at most {days:g} days")


def _paused(c: _Ctx, until: datetime | None) -> dict[str, Any]:
    return {
        "paused_at": c.now,
        "paused_until": until or c.now + c.config.max_pause,
        "pause_count": c.current.pause_count + 1,
    }


def _request_pause(c: _Ctx) -> _Effect:
    _pause_blocked(c)
    request = PauseRequest(
        waiting_on=c.data["waiting_on"],
        reason=c.data["reason"],
        requested_by=c.actor.staff_id,
        until=c.data.get("resume_at"),
    )
    return _Effect(replace(c.current, pending_pause=request), {"requested_by": c.actor.staff_id})


def _decide_pause(c: _Ctx) -> _Effect:
    cur, request = c.current, c.current.pending_pause
    if request is None:
        raise c.refuse("no request to pause the clock is waiting for a decision")
    asked = {
        "requested_by": request.requested_by,
        "waiting_on": request.waiting_on,
        "requested_reason": request.reason,
        "resume_at": request.until,
    }
    if c.data["decision"] != ExtensionDecision.APPROVE:
        return _Effect(replace(cur, pending_pause=None), asked)
    if request.until is not None and request.until <= c.now:
        raise c.refuse("the requested time to resume has passed; deny it and ask for a new request")
    paused = _paused(c, request.until)
    new = replace(cur, pending_pause=None, **paused)
    return _Effect(new, asked | {"paused_until": paused["paused_until"]})


def _pause(c: _Ctx) -> _Effect:
    _pause_blocked(c)
    paused = _paused(c, c.data.get("resume_at"))
    return _Effect(replace(c.current, **paused), {"paused_until": paused["paused_until"]})


def pause_seconds(cur: ComplaintState, now: datetime) -> int:
    """How long the current pause has stood the clock still, in whole seconds."""
    if cur.paused_at is None:
        return 0
    return max(int((now - cur.paused_at).total_seconds()), 0)


def _resume(c: _Ctx) -> _Effect:
    cur = c.current
    if cur.paused_at is None:
        raise c.refuse("the clock is not paused")
    seconds = pause_seconds(cur, c.now)
    ran_out = cur.paused_until is not None and cur.paused_until < c.now
    if c.actor.role == Role.SYSTEM and ran_out and cur.paused_until is not None:
        # A timer that comes late (its worker was down) ends the pause when it was set to
        # end: the time after that was the holder's again.
        seconds = pause_seconds(cur, cur.paused_until)
    new = replace(
        cur, paused_at=None, paused_until=None, paused_seconds=cur.paused_seconds + seconds
    )
    via = "timer" if c.actor.role == Role.SYSTEM else "staff"
    return _Effect(new, {"paused_from": cur.paused_at, "pause_seconds": seconds, "via": via})


def _merge(c: _Ctx) -> _Effect:
    """A duplicate closes into its master: the master is answered for both, and this
    caller is told its outcome (the service checks the master exists and is no duplicate)."""
    cur = c.current
    gone: dict[str, Any] = {"pending_extension": None, "pending_pause": None}
    gone["assists"] = _released(cur)
    new = _closed(cur, ClosureReason.MERGED, merged_into=c.data["master"], **gone)
    return _Effect(new, {"master_id": c.data["master"]})


def _part_of(c: _Ctx, department: str) -> AssistPart:
    for part in c.current.assists:
        if part.department_id == department:
            return part
    raise InvalidCommand("department_id", f"{department!r} does not assist on this complaint")


def _set_part(c: _Ctx, department: str, status: AssistStatus) -> _Effect:
    parts = tuple(
        replace(p, status=status) if p.department_id == department else p for p in c.current.assists
    )
    return _Effect(replace(c.current, assists=parts), {"assist_department_id": department})


def _assist_step(
    allowed_from: frozenset[AssistStatus], to: AssistStatus
) -> Callable[[_Ctx], _Effect]:
    """An assisting department moves its own part on (the clerk's department is checked
    against the parts before this runs)."""

    def effect(c: _Ctx) -> _Effect:
        department = c.actor.department_id or ""
        part = _part_of(c, department)
        if part.status not in allowed_from:
            raise c.refuse(f"the part of {department} is {part.status.en.lower()}")
        return _set_part(c, department, to)

    return effect


def _desk_on_part(to: AssistStatus | None) -> Callable[[_Ctx], _Effect]:
    """The desk releases an outstanding part, or urges it (`to` None: nothing moves)."""

    def effect(c: _Ctx) -> _Effect:
        department = c.data["department_id"]
        part = _part_of(c, department)
        if not part.outstanding:
            raise c.refuse(f"the part of {department} is {part.status.en.lower()}: nothing is due")
        if to is None:
            return _Effect(c.current, {"assist_department_id": department})
        return _set_part(c, department, to)

    return effect


_OPEN_PART = frozenset(ASSIST_OUTSTANDING)


def _verify_loss(c: _Ctx) -> _Effect:
    cur = c.current
    if cur.nature != Nature.COMPENSATION:
        raise c.refuse(f"loss is verified only for compensation complaints, not '{cur.nature}'")
    amount = c.data["compensation_amount"]
    # What was verified outweighs an earlier decision that nothing was due.
    new = replace(cur, loss_verified=True, compensation_amount=amount, compensation_declined=False)
    return _Effect(new, {"overrides_decline": cur.compensation_declined})


def _decline_compensation(c: _Ctx) -> _Effect:
    cur = c.current
    if cur.nature != Nature.COMPENSATION:
        raise c.refuse(f"compensation is decided only for compensation claims, not '{cur.nature}'")
    if cur.loss_verified:
        raise c.refuse(f"the loss is verified at {cur.compensation_amount}; it is not declined now")
    if cur.compensation_declined:
        raise c.refuse("the duty desk has already decided that no compensation is due")
    if cur.with_compensation:
        raise c.refuse("the answer on record pays compensation; reopen it for another answer")
    return _Effect(replace(cur, compensation_declined=True))


def _feedback(c: _Ctx) -> _Effect:
    cur, result = c.current, c.data["result"]
    if result == FeedbackResult.UNSATISFIED:
        return _reopened(c, via="feedback")
    if result == FeedbackResult.SATISFIED:
        new = replace(cur, feedback=FeedbackResult.SATISFIED)
        blocked = _compensation_block(cur, cur.with_compensation)
        if blocked:  # keep the customer's word so a manager can close once it is settled
            extras = {"closure_blocked": blocked.reason, "missing": list(blocked.missing)}
            return _Effect(new, extras, EventName.FEEDBACK_RECORDED)
        return _Effect(_closed(new, ClosureReason.SATISFIED), {}, EventName.CLOSED)
    return _follow_up_failed(c)


def _follow_up_failed(c: _Ctx) -> _Effect:
    """A call that did not reach the customer. It counts towards closing as unreached
    only once the interval since the last counted one has passed; an earlier one is on
    record (the caller did try) but counts for nothing, and says when the next will."""
    cur, interval = c.current, c.config.follow_up_interval
    last = cur.last_follow_up_at
    if last is not None and cur.follow_up_attempts and c.now < last + interval:
        new = replace(cur, feedback=FeedbackResult.UNREACHABLE)
        return _Effect(
            new,
            {
                "counted": False,
                "follow_up_attempts": cur.follow_up_attempts,
                "attempts_left": max(c.config.unreachable_attempts - cur.follow_up_attempts, 0),
                "next_attempt_counts_from": (last + interval).isoformat(),
            },
            EventName.FOLLOW_UP_FAILED,
        )
    attempts = cur.follow_up_attempts + 1
    new = replace(
        cur,
        feedback=FeedbackResult.UNREACHABLE,
        follow_up_attempts=attempts,
        last_follow_up_at=c.now,
    )
    payload: dict[str, Any] = {"counted": True, "follow_up_attempts": attempts}
    if attempts >= c.config.unreachable_attempts:
        blocked = _compensation_block(cur, cur.with_compensation)
        if not blocked:
            return _Effect(_closed(new, ClosureReason.UNREACHED), payload, EventName.CLOSED)
        payload |= {"closure_blocked": blocked.reason, "missing": list(blocked.missing)}
    payload["attempts_left"] = max(c.config.unreachable_attempts - attempts, 0)
    if attempts < c.config.unreachable_attempts:
        payload["next_attempt_counts_from"] = (c.now + interval).isoformat()
    return _Effect(new, payload, EventName.FOLLOW_UP_FAILED)


def _close(c: _Ctx) -> _Effect:
    cur = c.current
    unasked = cur.feedback is None and cur.follow_up_attempts == 0
    if unasked and not cur.anonymous:
        raise c.refuse(
            "the customer's feedback on this reply is not on record and no follow-up attempt "
            "has failed yet"
        )
    asked = c.data.get("with_compensation", False)
    if asked and cur.nature != Nature.COMPENSATION:
        raise c.refuse(f"a '{cur.nature}' complaint cannot be closed with compensation")
    with_compensation = asked or cur.with_compensation  # a proposed payout is not dropped here
    blocked = _compensation_block(cur, with_compensation)
    if blocked:
        raise c.refuse(blocked.reason, blocked.missing)
    reason = ClosureReason.UNREACHED
    if cur.feedback == FeedbackResult.SATISFIED:
        reason = ClosureReason.SATISFIED
    elif unasked:  # anonymous: nobody could be asked
        reason = ClosureReason.ANONYMOUS
    final = {key: c.data[key] for key in ("resolution", "root_cause")}
    new = _closed(cur, reason, with_compensation=with_compensation, **final)
    extras = {"with_compensation": with_compensation, "feedback": cur.feedback}
    return _Effect(new, extras | {"compensation_amount": cur.compensation_amount})


def _first_contact(c: _Ctx) -> _Effect:
    """The caller's question answered on the line and the caller content with it: closed
    before it goes anywhere (当场解答), with the answer given as its resolution."""
    cur = c.current
    if c.data["customer_confirmed"] is not True:
        raise InvalidCommand(
            "customer_confirmed",
            "must be true: close at first contact only once the caller confirms the answer "
            "settles it; otherwise leave it to the duty desk",
        )
    if not never_dispatched(cur):
        raise c.refuse(
            "it has been with a department or reopened since it was registered; the desk "
            f"answers it ({Action.RESOLVE.api_name})"
        )
    if cur.nature == Nature.COMPENSATION:
        raise c.refuse(
            "a compensation claim is not settled on the line: its loss is verified "
            f"({Action.VERIFY_LOSS.api_name}) or declined by the duty desk first"
        )
    answer = {key: c.data.get(key) for key in ("resolution", "root_cause")}
    new = _closed(cur, ClosureReason.FIRST_CONTACT, **answer)
    extras = {"customer_confirmed": True, "answered_from_article": cur.answered_from_article}
    return _Effect(new, extras)


def never_dispatched(current: ComplaintState) -> bool:
    """Nobody has sent it anywhere yet: at the desk, no department returned it and nobody
    reopened it after an answer."""
    return current.bounce_count == 0 and current.reopen_count == 0


def _may_answer_at_first_contact(current: ComplaintState, actor: Actor) -> str | None:
    """The agent on the line closes what they registered; the desk what it answers for
    (judged as for any desk action), but what waits for a supervisor after its returns
    only a supervisor."""
    if actor.role == Role.AGENT and current.registered_by != actor.staff_id:
        who = current.registered_by or "another agent"
        return (
            f"it was registered by {who}: only the agent who took the call, its duty manager "
            "or a supervisor closes it at first contact"
        )
    bounced = current.holder_role == Role.SUPERVISOR and current.bounce_count > 0
    if bounced and actor.role != Role.SUPERVISOR:
        return f"returned {current.bounce_count} times, it waits for a supervisor's decision"
    return None


def _urge(c: _Ctx) -> _Effect:
    cur, level = c.current, c.data.get("level")
    new = replace(cur, urge_count=cur.urge_count + 1)
    if level is not None:
        # The SLA timer's first notice on a breach is an urge to the holder: escalation
        # level 1. People raise levels by escalating.
        if c.actor.role != Role.SYSTEM:
            raise c.refuse("only the SLA timer urges at a level; a supervisor escalates")
        new = replace(new, escalation_level=max(cur.escalation_level, level))
        return _Effect(new, {"previous_level": cur.escalation_level})
    return _Effect(new)


def _escalate(c: _Ctx) -> _Effect:
    cur, top = c.current, c.config.max_escalation_level
    if "level" not in c.data and cur.escalation_level >= top:
        raise c.refuse(f"already at the highest escalation level ({top})")
    level = c.data.get("level", cur.escalation_level + 1)
    if level <= cur.escalation_level:
        raise c.refuse(f"level {level} is not above the current level {cur.escalation_level}")
    return _Effect(replace(cur, escalation_level=level), {"previous_level": cur.escalation_level})


# --- a department's clerks: who owns a complaint while the department holds it ---------


def owner_clerk(current: ComplaintState) -> str | None:
    """The clerk who owns the complaint at its department (its holder there), if any."""
    at_department = current.state in (State.DISPATCHED, State.IN_PROGRESS)
    if at_department and current.holder_role == Role.DEPARTMENT:
        return current.holder_staff_id
    return None


def _take(c: _Ctx) -> _Effect:
    owner, me = owner_clerk(c.current), c.actor.staff_id
    if owner == me:
        raise c.refuse("you already hold it", holder_staff_id=owner)
    if owner is not None:
        raise c.refuse(
            f"clerk {owner} holds it; they or the department's head may give it back to the "
            f"queue ({Action.RELEASE.api_name}), or the head assign it",
            holder_staff_id=owner,
        )
    return _Effect(replace(c.current, holder_staff_id=me), {"clerk": me})


def _assign_clerk(c: _Ctx) -> _Effect:
    owner, clerk = owner_clerk(c.current), c.data["clerk"]
    if clerk == owner:
        raise c.refuse(f"clerk {clerk} already holds it", holder_staff_id=owner)
    return _Effect(replace(c.current, holder_staff_id=clerk), {"previous_clerk": owner})


def _release(c: _Ctx) -> _Effect:
    owner = owner_clerk(c.current)
    if owner is None:
        raise c.refuse("no clerk holds it: it waits in the department's queue")
    return _Effect(replace(c.current, holder_staff_id=None), {"clerk": owner})


def _clerk_may_release(current: ComplaintState, actor: Actor) -> str | None:
    owner = owner_clerk(current)
    if actor.role != Role.DEPARTMENT or (owner is not None and owner == actor.staff_id):
        return None
    if actor.head_of is not None and actor.head_of == current.department_id:
        return None
    if owner is None:
        return "no clerk owns it: it is in the department's queue already"
    return f"clerk {owner} holds it; only they or the department's head may release it"


def _clerk_may_assign(current: ComplaintState, actor: Actor) -> str | None:
    if actor.role != Role.DEPARTMENT:
        return None
    if actor.head_of is not None and actor.head_of == current.department_id:
        return None
    return "among the department's clerks only its head assigns complaints to the others"


class Rule(NamedTuple):
    """What one action needs and where it may lead.

    `stays`: the action may leave the state as it is. `department_scoped`: a department
    clerk must belong to the complaint's department. `assist_scoped`: to one of the
    departments assisting on it. `holder_bound`: once a supervisor
    holds the complaint, only a supervisor may do this.
    """

    from_states: frozenset[State]
    roles: frozenset[Role]
    event_type: EventName
    effect: Callable[[_Ctx], _Effect]
    to_states: frozenset[State] = frozenset()
    stays: bool = False
    fields: tuple[_Field, ...] = ()
    department_scoped: bool = False
    holder_bound: bool = False
    assist_scoped: bool = False
    # A further check of the actor against this complaint (403 with its reason).
    permits: Callable[[ComplaintState, Actor], str | None] | None = None


_S, _R = State, Role
_ACTIVE = frozenset({_S.WITH_DUTY_MANAGER, _S.DISPATCHED, _S.IN_PROGRESS, _S.REPLIED})
_AT_DEPARTMENT = frozenset({_S.DISPATCHED, _S.IN_PROGRESS})
# An answer waits for the customer's verdict; a compliment's closes it (conveyed).
_ANSWERED = frozenset({_S.REPLIED, _S.CLOSED})
_DESK = frozenset({_R.DUTY_MANAGER, _R.SUPERVISOR})
_CLERK = frozenset({_R.DEPARTMENT})
_SYSTEM = frozenset({_R.SYSTEM})

# Dict order is the order of allowed-action lists: roughly the life of a complaint.
# fmt: off
RULES: Mapping[Action, Rule] = {
    Action.ASSIGN: Rule(
        frozenset({_S.RECEIVED}), _SYSTEM, EventName.ASSIGNED, _assign,
        to_states=frozenset({_S.WITH_DUTY_MANAGER}),
        fields=(_Field("staff_id", _text, required=False),)),
    Action.IMPORT: Rule(
        frozenset({_S.RECEIVED}), _SYSTEM, EventName.CLOSED, _import,
        to_states=frozenset({_S.CLOSED}),
        fields=(_Field("resolution", _text, False), _Field("department_id", _text, False),
                _Field("closed_at", _past_time, False))),
    Action.HAND_OVER: Rule(
        _ACTIVE, _SYSTEM, EventName.HANDED_OVER, _hand_over,
        stays=True, fields=(_Field("staff_id", _text),)),
    Action.ACKNOWLEDGE: Rule(
        frozenset({_S.WITH_DUTY_MANAGER}), _DESK, EventName.ACKNOWLEDGED, _acknowledge,
        stays=True, holder_bound=True),
    Action.DISPATCH: Rule(
        frozenset({_S.WITH_DUTY_MANAGER}), _DESK, EventName.DISPATCHED, _dispatch,
        to_states=frozenset({_S.DISPATCHED}), holder_bound=True,
        fields=(_Field("department_id", _text), _Field("instructions", _text),
                _Field("assisting", _departments, required=False))),
    Action.RESOLVE: Rule(
        frozenset({_S.WITH_DUTY_MANAGER}), _DESK, EventName.REPLIED, _answer("resolve"),
        to_states=_ANSWERED, holder_bound=True, fields=_RESOLUTION),
    # 当场解答: only while nobody has dispatched it. (Escalation takes a complaint in and
    # gives it to the duty desk at once: the agent's first look finds it there.)
    Action.RESOLVE_AT_FIRST_CONTACT: Rule(
        frozenset({_S.WITH_DUTY_MANAGER}), _DESK | {_R.AGENT}, EventName.CLOSED,
        _first_contact, to_states=frozenset({_S.CLOSED}), permits=_may_answer_at_first_contact,
        fields=(_Field("resolution", _text), _Field("customer_confirmed", _flag),
                _Field("root_cause", _one_of(RootCause), required=False))),
    Action.ACCEPT: Rule(
        frozenset({_S.DISPATCHED}), _CLERK, EventName.ACCEPTED, _accept,
        to_states=frozenset({_S.IN_PROGRESS}), department_scoped=True),
    Action.RETURN: Rule(
        _AT_DEPARTMENT, _CLERK, EventName.RETURNED, _return,
        to_states=frozenset({_S.WITH_DUTY_MANAGER}), department_scoped=True,
        fields=(_Field("reason_code", _one_of(ReturnReason)), _REASON)),
    # Only where the centre allows it (LifecycleConfig.allow_transfer).
    Action.TRANSFER: Rule(
        _AT_DEPARTMENT, _CLERK | _DESK, EventName.TRANSFERRED, _transfer,
        to_states=frozenset({_S.DISPATCHED}), department_scoped=True,
        fields=(_Field("department_id", _text), _REASON)),
    Action.REQUEST_EXTENSION: Rule(
        _AT_DEPARTMENT, _CLERK, EventName.EXTENSION_REQUESTED, _request_extension,
        stays=True, department_scoped=True, fields=(_Field("until", _future_time), _REASON)),
    Action.DECIDE_EXTENSION: Rule(
        _AT_DEPARTMENT, _DESK, EventName.EXTENSION_DECIDED, _decide_extension,
        stays=True,
        fields=(_Field("decision", _one_of(ExtensionDecision)), _Field("reason", _text, False))),
    Action.REPLY: Rule(
        frozenset({_S.IN_PROGRESS}), _CLERK, EventName.REPLIED, _answer("reply"),
        to_states=_ANSWERED, department_scoped=True, fields=_RESOLUTION),
    Action.VERIFY_LOSS: Rule(
        _ACTIVE | {_S.RECEIVED}, _DESK | _CLERK, EventName.LOSS_VERIFIED, _verify_loss,
        stays=True, department_scoped=True, fields=(_Field("compensation_amount", _amount),)),
    Action.DECLINE_COMPENSATION: Rule(
        _ACTIVE, _DESK, EventName.COMPENSATION_DECLINED, _decline_compensation,
        stays=True, fields=(_REASON,)),
    Action.FEEDBACK: Rule(
        frozenset({_S.REPLIED}), _SYSTEM, EventName.FOLLOW_UP_FAILED, _feedback,
        to_states=frozenset({_S.CLOSED, _S.DISPATCHED, _S.WITH_DUTY_MANAGER}), stays=True,
        fields=(_Field("result", _one_of(FeedbackResult)), _Field("comment", _text, False))),
    Action.CLOSE: Rule(
        frozenset({_S.REPLIED}), _DESK, EventName.CLOSED, _close,
        to_states=frozenset({_S.CLOSED}), fields=_RESOLUTION),
    Action.REOPEN: Rule(
        frozenset({_S.REPLIED, _S.CLOSED}), _DESK, EventName.REOPENED, _reopened,
        to_states=frozenset({_S.DISPATCHED, _S.WITH_DUTY_MANAGER}), fields=(_REASON,)),
    Action.URGE: Rule(
        _ACTIVE, _DESK | _SYSTEM, EventName.URGED, _urge,
        stays=True, fields=(_REASON, _Field("level", _level, False))),
    Action.ESCALATE: Rule(
        _ACTIVE, frozenset({_R.SUPERVISOR, _R.SYSTEM}), EventName.ESCALATED, _escalate,
        stays=True, fields=(_REASON, _Field("level", _level, False))),
    Action.REQUEST_PAUSE: Rule(
        _AT_DEPARTMENT, _CLERK, EventName.PAUSE_REQUESTED, _request_pause,
        stays=True, department_scoped=True, fields=_PAUSE_FIELDS),
    Action.DECIDE_PAUSE: Rule(
        _AT_DEPARTMENT, _DESK, EventName.PAUSE_DECIDED, _decide_pause,
        stays=True,
        fields=(_Field("decision", _one_of(ExtensionDecision)), _Field("reason", _text, False))),
    Action.PAUSE: Rule(
        _ACTIVE, _DESK, EventName.PAUSED, _pause,
        stays=True, holder_bound=True, fields=_PAUSE_FIELDS),
    Action.RESUME: Rule(
        _ACTIVE, _DESK | _CLERK | _SYSTEM, EventName.RESUMED, _resume,
        stays=True, department_scoped=True, holder_bound=True,
        fields=(_Field("reason", _text, False),)),
    Action.ACCEPT_ASSIST: Rule(
        _AT_DEPARTMENT, _CLERK, EventName.ASSIST_ACCEPTED,
        _assist_step(frozenset({AssistStatus.DISPATCHED}), AssistStatus.ACCEPTED),
        stays=True, assist_scoped=True),
    Action.CONTRIBUTE: Rule(
        _AT_DEPARTMENT, _CLERK, EventName.ASSIST_CONTRIBUTED,
        _assist_step(_OPEN_PART, AssistStatus.CONTRIBUTED),
        stays=True, assist_scoped=True, fields=(_Field("contribution", _text),)),
    Action.DECLINE_ASSIST: Rule(
        _AT_DEPARTMENT, _CLERK, EventName.ASSIST_DECLINED,
        _assist_step(_OPEN_PART, AssistStatus.DECLINED),
        stays=True, assist_scoped=True, fields=(_REASON,)),
    Action.RELEASE_ASSIST: Rule(
        _AT_DEPARTMENT, _DESK, EventName.ASSIST_RELEASED, _desk_on_part(AssistStatus.RELEASED),
        stays=True, fields=(_Field("department_id", _text), _REASON)),
    # Published as an urge, to the assisting department rather than the holder.
    Action.URGE_ASSIST: Rule(
        _AT_DEPARTMENT, _DESK | _SYSTEM, EventName.URGED, _desk_on_part(None),
        stays=True, fields=(_Field("department_id", _text), _REASON)),
    Action.MERGE: Rule(
        _ACTIVE - {_S.REPLIED}, _DESK, EventName.MERGED, _merge,
        to_states=frozenset({_S.CLOSED}), holder_bound=True,
        fields=(_Field("master", _text), _Field("reason", _text, False))),
    # Published as a hand-over: for everyone downstream the complaint changed desks.
    Action.REASSIGN: Rule(
        _ACTIVE, frozenset({_R.SUPERVISOR}), EventName.HANDED_OVER, _reassign,
        stays=True, fields=(_Field("staff_id", _text), _Field("reason", _text, False))),
    # Within the holding department: any of its clerks may act on its complaints (a
    # colleague covers); owning one says whose it is to see through.
    Action.TAKE: Rule(
        _AT_DEPARTMENT, _CLERK, EventName.CLERK_ASSIGNED, _take,
        stays=True, department_scoped=True),
    Action.ASSIGN_CLERK: Rule(
        _AT_DEPARTMENT, _CLERK | _DESK | _SYSTEM, EventName.CLERK_ASSIGNED, _assign_clerk,
        stays=True, department_scoped=True, permits=_clerk_may_assign,
        fields=(_Field("clerk", _text), _Field("reason", _text, False))),
    Action.RELEASE: Rule(
        _AT_DEPARTMENT, _CLERK | _DESK | _SYSTEM, EventName.CLERK_RELEASED, _release,
        stays=True, department_scoped=True, permits=_clerk_may_release,
        fields=(_Field("reason", _text, False),)),
}
# fmt: on

# Every (from, action, to) the table permits; `decide` never returns anything else.
TRANSITIONS: frozenset[tuple[State, Action, State]] = frozenset(
    (source, action, target)
    for action, rule in RULES.items()
    for source in rule.from_states
    for target in rule.to_states | ({source} if rule.stays else set())
)


@cache  # allowed_actions asks for every rule and every actor
def _names(roles: frozenset[Role]) -> str:
    return " or ".join(role for role in Role if role in roles)


def holder_of(current: ComplaintState) -> str:
    """Who holds the complaint, in words: a person, a department or a shared queue."""
    staff = current.holder_staff_id
    if current.holder_role == Role.DEPARTMENT:
        return f"department {current.department_id}" + (f", clerk {staff}" if staff else "")
    if staff:
        role = Role.of(current.holder_role) or Role.DUTY_MANAGER
        return f"{role.en.lower()} {staff}"
    if current.holder_role == Role.SUPERVISOR:
        return "the supervisors' queue"
    return "nobody"


def _not_theirs(current: ComplaintState, actor: Actor) -> str | None:
    """A duty manager acts on the complaints they answer for (they hold them, or a
    department holds them on their behalf); a colleague on another shift does not. A
    closed complaint is nobody's: whoever is on duty may reopen it."""
    if actor.role != Role.DUTY_MANAGER or current.state == State.CLOSED:
        return None
    manager = current.duty_manager_id
    if manager == actor.staff_id:
        return None
    held = holder_of(current)
    if manager is None:
        return f"it has no duty manager (held by {held}); only a supervisor may act on it"
    if current.holder_role == Role.DUTY_MANAGER and current.holder_staff_id == manager:
        whose = f"it is held by duty manager {manager}"
    else:
        whose = f"duty manager {manager} answers for it (held by {held})"
    return f"{whose}; only they or a supervisor may act on it"


def _permission_problem(rule: Rule, current: ComplaintState, actor: Actor) -> str | None:
    if actor.role not in rule.roles:
        return f"only {_names(rule.roles)} may do this"
    outsider = actor.department_id is None or actor.department_id != current.department_id
    if rule.department_scoped and actor.role == Role.DEPARTMENT and outsider:
        return "the complaint is not with your department"
    helpers = {part.department_id for part in current.assists}
    if rule.assist_scoped and actor.role == Role.DEPARTMENT and actor.department_id not in helpers:
        return "your department does not assist on this complaint"
    waits = current.holder_role == Role.SUPERVISOR and actor.role != Role.SUPERVISOR
    if rule.holder_bound and waits:
        return f"returned {current.bounce_count} times, it waits for a supervisor's decision"
    further = rule.permits(current, actor) if rule.permits is not None else None
    return further or _not_theirs(current, actor)


_DEFAULTS = LifecycleConfig()


def _offered(action: Action, config: LifecycleConfig) -> bool:
    """Whether the centre's rulebook has this action at all."""
    return action != Action.TRANSFER or config.allow_transfer


def actions_allowed_in(state: State | str, config: LifecycleConfig = _DEFAULTS) -> list[str]:
    """API names of the actions someone could take in this state."""
    return [
        action.api_name
        for action, rule in RULES.items()
        if state in rule.from_states and _offered(action, config)
    ]


def allowed_actions(
    current: ComplaintState, actor: Actor, config: LifecycleConfig = _DEFAULTS
) -> list[str]:
    """API names of the actions this actor may attempt now; the payload is not judged."""
    return [
        action.api_name
        for action, rule in RULES.items()
        if current.state in rule.from_states
        and _offered(action, config)
        and _permission_problem(rule, current, actor) is None
    ]


# Consumers (SMS, SLA timers, analytics) get these on every event, whatever the action.
_FACTS = ("holder_staff_id", "holder_role", "department_id", "closure_reason")
_COUNTERS = ("bounce_count", "reopen_count", "urge_count", "escalation_level")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, StrEnum):
        return value.value
    return value


def decide(
    current: ComplaintState,
    command: Command,
    *,
    now: datetime,
    config: LifecycleConfig = LifecycleConfig(),
) -> Decision:
    """Judge one command against the table: return what changes or raise a LifecycleError."""
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    action, actor, rule = command.action, command.actor, RULES[command.action]
    if current.state not in rule.from_states or not _offered(action, config):
        raise IllegalAction(current.state, action, actions_allowed_in(current.state, config))
    problem = _permission_problem(rule, current, actor)
    if problem is not None:
        holder = {
            "holder_staff_id": current.holder_staff_id,
            "holder_role": current.holder_role,
            "duty_manager_id": current.duty_manager_id,
        }
        raise Forbidden(action, actor.role, problem, **holder)
    data = _parse(rule.fields, command.data, now, config)
    effect = rule.effect(_Ctx(current, actor, action, data, now, config))
    new, extras = effect.new, dict(effect.payload)
    if new.state != current.state:
        # A complaint moving on is no longer waiting: a pause ends with it, and a request
        # for one lapses.
        new = replace(new, pending_pause=None)
        if current.paused_at is not None:
            stood = pause_seconds(current, now)
            new = replace(
                new,
                paused_at=None,
                paused_until=None,
                paused_seconds=current.paused_seconds + stood,
            )
            extras["pause_ended_seconds"] = stood
    stage_entered = stage_entered_by(current, action, new)
    if stage_entered is not None:
        # Escalation is about the lateness of one stage: a new stage starts at level 0.
        new = replace(new, escalation_level=0)
    if (current.state, action, new.state) not in TRANSITIONS:
        raise RuntimeError(f"{action} led {current.state} -> {new.state}, which is not in RULES")
    facts = {name: getattr(new, name) for name in _FACTS + _COUNTERS}
    facts["department_id"] = new.department_id or current.department_id  # returned from, too
    payload = {key: _jsonable(value) for key, value in {**data, **facts, **extras}.items()}
    return Decision(
        action=action,
        from_state=current.state,
        to_state=new.state,
        new=new,
        event_type=effect.event_type or rule.event_type,
        payload=payload,
        stage_entered=stage_entered,
    )


def stage_entered_by(current: ComplaintState, action: Action, new: ComplaintState) -> Stage | None:
    """The SLA stage whose clock this change starts, if any: the stage of a state entered,
    once a duty manager acknowledges in time, their own clock to resolve or dispatch, and
    on a transfer, the new department's clock to accept."""
    if new.state != current.state:
        if new.state == State.REPLIED and new.anonymous:
            return None  # nobody to follow up with: no clock runs
        return STAGE_ON_ENTRY.get(new.state)
    if action == Action.ACKNOWLEDGE:
        return Stage.RESOLUTION
    if action == Action.TRANSFER:
        return Stage.ACCEPTANCE  # the new department's clock, even from not yet accepted
    return None
