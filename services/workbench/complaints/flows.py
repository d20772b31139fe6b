"""What the complaint pages gather from the services and send to them: the pieces of a
complaint's page, a form turned into an action's body, the caller's file and possible
duplicates while the agent types."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from services.workbench.access.flows import User
from services.workbench.apis import Apis, Refused
from services.workbench.config import WorkbenchConfig
from shared.phones import InvalidPhone, parse_phone
from shared.privacy import sight
from shared.taxonomy import taxonomy
from shared.tenants import tenants
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
    "customer_confirmed",
)
# Fields a form sends several of (checkboxes): a JSON list.
LIST_FIELDS = ("assisting",)
# Check boxes: ticked or not.
FLAG_FIELDS = ("with_compensation", "customer_confirmed")
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
        if name in FLAG_FIELDS:
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
    # The knowledge base's article the caller was answered from, for the answer given on
    # the line (当场解答).
    article: dict[str, Any] | None = None

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
        if action == Action.RESOLVE_AT_FIRST_CONTACT:
            # The lifecycle refuses it, with the reason, once a department had it.
            return not (self.state.get("bounce_count") or self.state.get("reopen_count"))
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
    article_id = state.get("answered_from_article")
    if article_id and page.can(Action.RESOLVE_AT_FIRST_CONTACT):
        page.article = _quiet(
            lambda: apis.get("intake", f"/knowledge/articles/{article_id}", token)
        )
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


def clients_of(apis: Apis, user: User) -> list[dict[str, Any]]:
    """The clients this person may register for (intake's GET /tenants, which answers
    as their token allows): one for a client's own agent, every client for the
    centre's."""
    found = _quiet(lambda: apis.get("intake", "/tenants", user.token))
    if isinstance(found, list) and found:
        return found
    return [t.public() for t in tenants().all()]


def client_chosen(
    clients: list[dict[str, Any]], tenant: str | None, dialled_number: str | None
) -> str | None:
    """The client a registration is for: asked, or whose line was dialled (a telephony
    system opens /register?dialled_number=…), or the only one the agent serves."""
    ids = [c["id"] for c in clients]
    if tenant in ids:
        return tenant
    by_number = tenants().by_number(dialled_number) if dialled_number else None
    if by_number is not None and by_number.id in ids:
        return by_number.id
    return ids[0] if len(ids) == 1 else None


def categories_for(clients: list[dict[str, Any]], chosen: str | None) -> list[Any]:
    """The categories to offer: the chosen client's, else every offered client's."""
    ids = [chosen] if chosen else [c["id"] for c in clients]
    found: dict[str, Any] = {}
    for tenant_id in ids:
        client = tenants().get(tenant_id)
        for category in (client.taxonomy() if client else taxonomy()).categories:
            found.setdefault(category.id, category)
    return list(found.values())


def caller_file(
    apis: Apis, user: User, raw_phone: str | None, tenant: str | None = None
) -> dict[str, Any] | None:
    """The caller's file from intake (with the client being registered for, when one is
    chosen), None for a first call (or no number yet)."""
    phone = phone_or_none(raw_phone)
    if phone is None:
        return None
    try:
        found: dict[str, Any] = apis.get(
            "intake", f"/customers/{phone}", user.token, limit=10, tenant=tenant or None
        )
        return found
    except Refused as exc:
        if exc.status == 404:
            return {"phone": phone, "new": True}
        raise


def possible_duplicates(
    apis: Apis,
    user: User,
    raw_phone: str | None,
    description: str | None,
    location: str | None = None,
    tenant: str | None = None,
) -> list[dict[str, Any]]:
    """Intake's likely duplicates of the complaint being typed (重复件): the caller's,
    and those from the same place or with similar text lately, each with why."""
    phone = phone_or_none(raw_phone)
    if phone is None and not (description or "").strip() and not (location or "").strip():
        return []
    page = _quiet(
        lambda: apis.get(
            "intake",
            "/complaints/similar",
            user.token,
            phone=phone,
            location=(location or "").strip()[:200] or None,
            description=(description or "").strip()[:2000] or None,
            tenant=tenant or None,
        )
    )
    items: list[dict[str, Any]] = (page or {}).get("items", [])
    return items


def matching_articles(
    apis: Apis,
    user: User,
    description: str | None,
    category: str | None = None,
    tenant: str | None = None,
) -> list[dict[str, Any]]:
    """The knowledge base's approved articles that may answer what the caller is saying
    (intake's suggestions for the client whose line was rung), each with why."""
    text = (description or "").strip()
    if len(text) < 2:
        return []
    page = _quiet(
        lambda: apis.get(
            "intake",
            "/knowledge/suggest",
            user.token,
            description=text[:2000],
            category=(category or "").strip() or None,
            tenant=tenant or None,
        )
    )
    items: list[dict[str, Any]] = (page or {}).get("items", [])
    return items


REGISTRATION_FIELDS = (
    "customer_phone",
    "customer_name",
    "channel",
    "category",
    "severity",
    "nature",
    "description",
    "location",
    "tenant",
    "dialled_number",
)


def registration_body(form: Any) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name in REGISTRATION_FIELDS:
        raw = form.get(name)
        if isinstance(raw, str) and raw.strip():
            body[name] = raw.strip() if name != "description" else raw
    body["strong_emotion"] = form.get("strong_emotion") in ("on", "true", "1")
    article = form.get("answered_from_article")
    if isinstance(article, str) and article.strip():
        # A number as intake takes it; anything else passed on, for intake to name.
        value = article.strip()
        body["answered_from_article"] = int(value) if value.isdigit() else value
    if form.get("anonymous") in ("on", "true", "1"):
        # The caller would not give a number: intake refuses a phone with the flag.
        body["anonymous"] = True
        body.pop("customer_phone", None)
    return body


@dataclass(frozen=True)
class Search:
    """What the search page asks: words (or a phone, or a reference) and the filters,
    dates as typed in the centre's zone."""

    q: str = ""
    status: str = ""
    department: str = ""
    category: str = ""
    since: str = ""  # a day, 2026-12-01: from its start
    until: str = ""  # a day: to its end
    cursor: str = ""
    tenant: str = ""  # one client's complaints only

    def params(self, config: WorkbenchConfig) -> dict[str, Any] | None:
        """The API's query parameters; None when nothing is asked."""
        q = self.q.strip()
        if not q:
            return None
        params: dict[str, Any] = {
            "limit": 50,
            "status": self.status or None,
            "department": self.department or None,
            "category": self.category or None,
            "tenant": self.tenant or None,
            "cursor": self.cursor or None,
            "from": _day_start(self.since, config),
            "to": _day_start(self.until, config, next_day=True),
        }
        phone = phone_or_none(q) if re.fullmatch(r"[\d\s+\-()]{7,20}", q) else None
        if phone is not None:
            params["phone"] = phone
        else:
            params["q"] = q
        return params


def _day_start(day: str, config: WorkbenchConfig, *, next_day: bool = False) -> str | None:
    try:
        start = datetime.combine(date.fromisoformat(day.strip()), time(), tzinfo=config.tz())
    except ValueError:
        return None
    return (start + timedelta(days=1 if next_day else 0)).isoformat()


def search(apis: Apis, user: User, asked: Search, config: WorkbenchConfig) -> dict[str, Any]:
    """By phone (newest first), by reference, or by words of the text, notes and replies
    (most relevant first, each with where the words are); filtered as asked."""
    params = asked.params(config)
    if params is None:
        return {"items": [], "next_cursor": None}
    found: dict[str, Any] = apis.get("intake", "/complaints", user.token, **params)
    for item in found["items"]:
        item["pieces"] = marked(item.get("snippet"))
    return found


def marked(snippet: dict[str, Any] | None) -> list[tuple[str, bool]]:
    """A snippet as pieces of text, each marked or not, for the page to escape and mark."""
    if not snippet:
        return []
    text, at, pieces = snippet["text"], 0, []
    for start, end in snippet.get("marks", []):
        if start < at or end > len(text):
            continue
        if start > at:
            pieces.append((text[at:start], False))
        pieces.append((text[start:end], True))
        at = end
    if at < len(text):
        pieces.append((text[at:], False))
    return pieces
