"""What the complaint pages gather from the services and send to them: the pieces of a
complaint's page, a form turned into an action's body, the caller's file and possible
duplicates while the agent types."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.workbench.access.flows import User
from services.workbench.apis import Apis, Refused
from services.workbench.config import WorkbenchConfig
from shared.phones import InvalidPhone, parse_phone
from shared.privacy import sight
from shared.vocabulary import (
    ASSIST_OUTSTANDING,
    STAFF_ROLES,
    Action,
    AssistStatus,
    AttachmentSource,
    Role,
    State,
)

# The fields an action form may carry, as the lifecycle names them.
ACTION_FIELDS = (
    "department_id",
    "instructions",
    "resolution",
    "root_cause",
    "with_compensation",
    "reason_code",
    "reason",
    "until",
    "decision",
    "compensation_amount",
    "staff_id",
    "waiting_on",
    "resume_at",
    "master",
    "contribution",
    "clerk",
)
# Fields a form sends several of (checkboxes): a JSON list.
LIST_FIELDS = ("assisting",)
# Times typed in a form, in the centre's zone.
TIME_FIELDS = ("until", "resume_at")
# What the workbench offers as a form: the lifecycle's own and the worker's are not.
OFFERED = tuple(a for a in Action if a not in (Action.ASSIGN, Action.HAND_OVER, Action.FEEDBACK))
# The actions whose form carries a resolution and its root cause.
WITH_RESOLUTION = (Action.RESOLVE, Action.REPLY, Action.CLOSE)


def action_body(action: Action, form: Any, config: WorkbenchConfig) -> dict[str, Any]:
    """A form's fields as the action's JSON body; times typed in the centre's zone."""
    body: dict[str, Any] = {}
    for name in LIST_FIELDS:
        chosen = [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]
        if chosen:
            body[name] = chosen
    for name in ACTION_FIELDS:
        raw = form.get(name)
        if name == "with_compensation":
            if raw is not None:
                body[name] = raw in ("on", "true", "1")
            continue
        if not isinstance(raw, str) or not raw.strip():
            continue
        value = raw.strip()
        if name in TIME_FIELDS:
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                body[name] = value  # the API names what is wrong with it
                continue
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=config.tz())
            body[name] = moment.isoformat()
        else:
            body[name] = value
    return body


@dataclass
class ComplaintPage:
    """Everything one complaint's page shows."""

    state: dict[str, Any]
    registered: dict[str, Any] | None
    history: list[dict[str, Any]]
    notes: list[dict[str, Any]]
    feedback: list[dict[str, Any]]
    departments: list[dict[str, Any]] = field(default_factory=list)
    duty_managers: list[dict[str, Any]] = field(default_factory=list)
    # Where a department may transfer it: the active departments but its own.
    transfer_to: list[dict[str, Any]] = field(default_factory=list)
    # The reader's department, for the parts of a joint complaint that are theirs.
    reader_department: str | None = None
    suggestion: dict[str, Any] | None = None  # root_cause, probability, because_of
    # Why analytics named no cause, when the replier asked from their draft.
    suggestion_reason: str | None = None
    # The resolution being written, kept when the page comes back with a suggestion.
    draft_resolution: str | None = None
    root_cause: dict[str, Any] | None = None
    instructions: str | None = None
    # The holding department's active clerks with their loads, to give it to one.
    clerks: list[dict[str, Any]] = field(default_factory=list)
    # Photos and documents (intake): their list for all who see the complaint; the files
    # for those who may see its customer's personal data; the form for those who attach.
    attachments: list[dict[str, Any]] = field(default_factory=list)
    opens_attachments: bool = False
    attaches: bool = False

    @property
    def actions(self) -> list[Action]:
        allowed = set(self.state.get("allowed_actions", []))
        return [a for a in OFFERED if a.api_name in allowed and self._fits(a)]

    def _fits(self, action: Action) -> bool:
        """The lifecycle lists what the reader may do in this state; the page offers only
        what fits: taking what nobody owns, giving back what someone does, a pause's
        forms where there is one to decide, resume or ask for, a part's where one is owed."""
        # The lifecycle judges ownership when someone acts.
        owned = self.state.get("holder_staff_id") is not None
        if action == (Action.TAKE if owned else Action.RELEASE):
            return False
        paused = self.state.get("paused_at") is not None
        asked = self.state.get("pending_pause") is not None
        if action == Action.RESUME:
            return paused
        if action == Action.DECIDE_PAUSE:
            return asked
        if action in (Action.PAUSE, Action.REQUEST_PAUSE):
            return not paused and not asked
        parts = self.state.get("assists") or []
        owed = [p for p in parts if p["status"] in _OWED]
        mine = [p for p in owed if p["department_id"] == self.reader_department]
        if action == Action.ACCEPT_ASSIST:
            return any(p["status"] == AssistStatus.DISPATCHED for p in mine)
        if action in (Action.CONTRIBUTE, Action.DECLINE_ASSIST):
            return bool(mine)
        if action in (Action.RELEASE_ASSIST, Action.URGE_ASSIST):
            return bool(owed)
        return True

    @property
    def owed_parts(self) -> list[dict[str, Any]]:
        """The assisting parts still due, for the desk's release and urge forms."""
        return [p for p in self.state.get("assists") or [] if p["status"] in _OWED]

    def can(self, action: Action) -> bool:
        return action in self.actions


_OWED = frozenset(status.value for status in ASSIST_OUTSTANDING)


def _quiet(call: Any, default: Any = None) -> Any:
    """A part of the page that may be missing (a service down, a role not allowed)."""
    try:
        return call()
    except Refused:
        return default


def _as_registered(registered: dict[str, Any]) -> dict[str, Any]:
    """A complaint intake has registered and the escalation service has not taken in yet
    (a moment after registration): what intake knows, and nothing to do on it yet."""
    return {
        **registered,
        "state": registered["status"],
        "allowed_actions": [],
        "pending": True,
        "overdue": False,
        "escalation_level": 0,
        "bounce_count": 0,
        "reopen_count": 0,
        "urge_count": 0,
    }


def complaint_page(apis: Apis, user: User, complaint_id: str) -> ComplaintPage:
    token = user.token
    try:
        state = apis.get("escalation", f"/complaints/{complaint_id}", token)
    except Refused as exc:
        if exc.status != 404:
            raise
        # Not there yet, or not theirs: only a complaint still waiting to be taken in is
        # shown from intake's copy (404 ends the page).
        registered = apis.get("intake", f"/complaints/{complaint_id}", token)
        if registered["status"] == State.RECEIVED:
            state = _as_registered(registered)
        else:
            # Taken in between the two reads (intake heard of it first): escalation has
            # it now; a complaint that is not theirs is still 404 there.
            state = apis.get("escalation", f"/complaints/{complaint_id}", token)
    cid = state["id"]
    history = _quiet(lambda: apis.get("escalation", f"/complaints/{cid}/history", token), [])
    page = ComplaintPage(
        state=state,
        registered=_quiet(lambda: apis.get("intake", f"/complaints/{cid}", token)),
        history=history,
        notes=_quiet(lambda: apis.get("intake", f"/complaints/{cid}/notes", token), []),
        feedback=_quiet(lambda: apis.get("intake", f"/complaints/{cid}/feedback", token), []),
        reader_department=user.department_id if user.role == Role.DEPARTMENT else None,
    )
    page.attachments = _quiet(
        lambda: apis.get("intake", f"/complaints/{cid}/attachments", token), []
    )
    page.opens_attachments = sight(user.role).text
    page.attaches = may_attach(user, state)
    dispatches = [e for e in history if e["action"] == Action.DISPATCH.api_name]
    if dispatches and state.get("department_id"):
        page.instructions = dispatches[-1]["payload"].get("instructions")
    if page.can(Action.DISPATCH):
        page.departments = _quiet(lambda: apis.get("escalation", "/queues/departments", token), [])
    if page.can(Action.TRANSFER):
        # Offered only where the centre allows transfers: escalation lists the action
        # then. The directory, not the desk's loads: a clerk may read the one only.
        active = _quiet(lambda: apis.get("escalation", "/departments", token, active="true"), [])
        page.transfer_to = [d for d in active if d["id"] != state.get("department_id")]
    department = state.get("department_id")
    if page.can(Action.ASSIGN_CLERK) and department:
        loads = _quiet(lambda: apis.get("escalation", f"/departments/{department}/workload", token))
        page.clerks = (loads or {}).get("clerks", [])
    if page.can(Action.REASSIGN):
        page.duty_managers = _quiet(
            lambda: apis.get(
                "escalation", "/staff", token, role=Role.DUTY_MANAGER.value, active="true"
            ),
            [],
        )
    if page.can(Action.REPLY) or page.can(Action.RESOLVE):
        answer = _quiet(
            lambda: apis.get(
                "analytics", f"/analytics/complaints/{cid}/root-cause/suggestion", token
            )
        )
        # Analytics names a cause only when the complaint has a resolution, it is
        # confident and its suggestions beat guessing on the centre's own history;
        # otherwise nothing is preselected.
        page.suggestion = (answer or {}).get("suggestion")
    if user.role in (Role.QA, Role.ADMIN):
        page.root_cause = _quiet(
            lambda: apis.get("analytics", f"/analytics/complaints/{cid}/root-cause", token)
        )
    return page


# The centre's staff attach to any complaint they see; a clerk while their department
# holds it (intake decides, and says why not).
ATTACHERS = (Role.AGENT, Role.DUTY_MANAGER, Role.SUPERVISOR, Role.DEPARTMENT)
# Who opens the files: those who may see the customer's personal data (shared.privacy).
OPENERS = tuple(role for role in STAFF_ROLES if sight(role).text)
_HELD_BY_DEPARTMENT = (State.DISPATCHED, State.IN_PROGRESS, State.REPLIED)
# Where the centre's staff say a file came from; a clerk's is their department's reply.
CENTRE_SOURCES = (AttachmentSource.AGENT, AttachmentSource.WEB, AttachmentSource.MMS)


def may_attach(user: User, state: dict[str, Any]) -> bool:
    if user.role not in ATTACHERS:
        return False
    return user.role != Role.DEPARTMENT or state.get("state") in _HELD_BY_DEPARTMENT


def suggest_from_draft(apis: Apis, user: User, page: ComplaintPage, resolution: str) -> None:
    """Analytics' root cause for the resolution the replier is writing, on the page with
    the draft kept (nothing is stored); why there is none when it names none."""
    page.draft_resolution = resolution
    if not resolution.strip():
        page.suggestion = None
        page.suggestion_reason = "write the resolution first: the suggestion reads it"
        return
    cid = page.state["id"]
    try:
        answer = apis.post(
            "analytics",
            f"/analytics/complaints/{cid}/root-cause/suggestion",
            user.token,
            {"resolution": resolution},
        )
    except Refused as exc:
        page.suggestion, page.suggestion_reason = None, exc.message
        return
    page.suggestion = answer.get("suggestion")
    page.suggestion_reason = None if page.suggestion else answer.get("reason")


# --- registration ---------------------------------------------------------------------


def phone_or_none(raw: str | None) -> str | None:
    try:
        return parse_phone(raw or "").e164
    except InvalidPhone:
        return None


def caller_file(apis: Apis, user: User, raw_phone: str | None) -> dict[str, Any] | None:
    """The caller's file from intake, None for a first call (or no number yet)."""
    phone = phone_or_none(raw_phone)
    if phone is None:
        return None
    try:
        found: dict[str, Any] = apis.get("intake", f"/customers/{phone}", user.token, limit=10)
        return found
    except Refused as exc:
        if exc.status == 404:
            return {"phone": phone, "new": True}
        raise


_SPLIT = re.compile(r"[\s，。！？、；：,.!?;:（）()“”\"'《》【】\[\]]+")


def keywords(text: str, *, most: int = 2) -> list[str]:
    """The longest runs of text between punctuation, cut to a few characters: what a
    similar complaint would likely share."""
    runs = sorted({r for r in _SPLIT.split(text or "") if len(r) >= 4}, key=len, reverse=True)
    return [run[:8] for run in runs[:most]]


def possible_duplicates(
    apis: Apis,
    user: User,
    raw_phone: str | None,
    description: str | None,
    *,
    now: datetime,
    days: int = 7,
) -> dict[str, list[dict[str, Any]]]:
    """The same caller's open complaints, and complaints with similar text lately."""
    found: dict[str, list[dict[str, Any]]] = {"same_caller": [], "similar": []}
    phone = phone_or_none(raw_phone)
    if phone is not None:
        page = _quiet(lambda: apis.get("intake", "/complaints", user.token, phone=phone, limit=20))
        if page:
            found["same_caller"] = [c for c in page["items"] if c["status"] != State.CLOSED]
    seen = {c["id"] for c in found["same_caller"]}
    since = (now - timedelta(days=days)).isoformat()
    for word in keywords(description or ""):
        page = _quiet(
            lambda w=word: apis.get(
                "intake", "/complaints", user.token, q=w, limit=5, **{"from": since}
            )
        )
        for item in (page or {}).get("items", []):
            if item["id"] not in seen:
                seen.add(item["id"])
                found["similar"].append(item)
    return found


REGISTRATION_FIELDS = (
    "customer_phone",
    "customer_name",
    "channel",
    "category",
    "severity",
    "nature",
    "description",
    "location",
)


def registration_body(form: Any) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name in REGISTRATION_FIELDS:
        raw = form.get(name)
        if isinstance(raw, str) and raw.strip():
            body[name] = raw.strip() if name != "description" else raw
    body["strong_emotion"] = form.get("strong_emotion") in ("on", "true", "1")
    if form.get("anonymous") in ("on", "true", "1"):
        # The caller would not give a number: intake refuses a phone with the flag.
        body["anonymous"] = True
        body.pop("customer_phone", None)
    return body


def search(apis: Apis, user: User, q: str, *, status: str | None = None) -> list[dict[str, Any]]:
    """By phone, by reference, or by words of the text."""
    q = q.strip()
    if not q:
        return []
    params: dict[str, Any] = {"limit": 50, "status": status}
    phone = phone_or_none(q) if re.fullmatch(r"[\d\s+\-()]{7,20}", q) else None
    if phone is not None:
        params["phone"] = phone
    else:
        params["q"] = q
    items: list[dict[str, Any]] = apis.get("intake", "/complaints", user.token, **params)["items"]
    return items
