"""Who may call what: every endpoint of every service, the roles that succeed, and what
the user of another department hears. test_access_matrix.py holds every app's routes to
this table, so a new endpoint fails the suite until it is entered here.

Each entry also says how to make a request that succeeds for an allowed caller (fresh
ids where the call creates something), and where the customer's phone shows in the
answer, so the matrix checks who sees it in full.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.vocabulary import Audience
from tests.robustness.conftest import ROLES, Running

PUBLIC = frozenset({"*"})  # no token needed: every caller gets the success status
ANY = frozenset(ROLES)
# Who sees a customer's phone in full (shared.privacy); the others see it masked.
SEES_CUSTOMER_PHONE = frozenset({"agent", "duty_manager", "supervisor", "department", "admin"})
# Staff phones: for those who assign work, keep the directory, or call the desk.
SEES_STAFF_PHONE = frozenset({"agent", "duty_manager", "supervisor", "admin"})
# Who reads the access log of who read a customer's data.
AUDITORS = frozenset({"admin"})

_counter = itertools.count(1)


@dataclass(frozen=True)
class Call:
    """One request: method, path, and TestClient keyword arguments."""

    method: str
    path: str
    kwargs: dict[str, Any] = field(default_factory=dict)


Builder = Callable[[Running, str], Call]


@dataclass(frozen=True)
class Endpoint:
    allowed: frozenset[str]
    make: Builder
    ok: int = 200
    # What the network clerk (another department than the billing data) gets; None: the
    # same as the billing clerk.
    other_department: int | None = None
    # Where phones show in a successful answer, and who may see them in full; and where
    # staff members' phones show beside them (the SMS log), seen by SEES_STAFF_PHONE.
    phones: Callable[[Any], list[str]] | None = None
    sees_phone: frozenset[str] = SEES_CUSTOMER_PHONE
    staff_phones: Callable[[Any], list[str]] | None = None
    # Webhooks are signed by the SMS provider, not called with a bearer token.
    signed: bool = False
    # What a caller of another client (shared.tenants) gets, whose role is allowed; None:
    # 404 where the request names something of the seeded client (a complaint, its
    # reference, the customer's phone, a department), else what their role gets.
    other_client: int | None = None

    def expected(self, caller: str) -> int:
        if self.signed:
            return 401
        if self.allowed is PUBLIC:
            return self.ok
        if caller == "other_department":
            if self.other_department is not None:
                return self.other_department
            caller = "department"
        return self.ok if caller in self.allowed else 403


def expected_of_other_client(endpoint: Endpoint, role: str, names_seeded: bool) -> set[int]:
    """What `role` of another client than the seeded one may get from `endpoint`: where
    the request names something of the seeded client, 404 (a role the route refuses may
    hear 403 first, a clerk what another department's clerk hears); else what the role
    gets."""
    if endpoint.signed:
        return {401}
    if endpoint.allowed is PUBLIC:
        return {endpoint.ok}
    if endpoint.other_client is not None:
        return {endpoint.other_client} if role in endpoint.allowed else {403}
    allowed = role in endpoint.allowed
    if names_seeded:
        found = {404} if allowed else {403, 404}
        if role == "department" and endpoint.other_department is not None:
            found.add(endpoint.other_department)
        return found
    return {endpoint.ok} if allowed else {403}


def get(path: str, **params: Any) -> Builder:
    def make(service: Running, caller: str) -> Call:
        asked = {k: v.format(**service.ids) if isinstance(v, str) else v for k, v in params.items()}
        return Call("GET", path.format(**service.ids), {"params": asked} if asked else {})

    return make


def send(method: str, path: str, body: Callable[[Running], Any] | dict[str, Any]) -> Builder:
    def make(service: Running, caller: str) -> Call:
        data = body(service) if callable(body) else body
        return Call(method, path.format(**service.ids), {"json": data})

    return make


def unique(prefix: str) -> str:
    return f"{prefix}{next(_counter)}{uuid.uuid4().hex[:6]}"


# --- where phones show ------------------------------------------------------------------


def _one(key: str) -> Callable[[Any], list[str]]:
    return lambda body: [body[key]]


def _items(key: str) -> Callable[[Any], list[str]]:
    return lambda body: [item[key] for item in body["items"]]


def _sms_phones(customers: bool) -> Callable[[Any], list[str]]:
    """The phones of the SMS to (or from) customers, or those of the SMS to staff."""
    staff = set(Audience) - {Audience.CUSTOMER}
    return lambda body: [m["phone"] for m in body["items"] if (m["audience"] in staff) != customers]


# --- intake -----------------------------------------------------------------------------


def _attach(service: Running, caller: str) -> Call:
    from tests.support.files import jpeg

    path = "/complaints/{complaint_id}/attachments".format(**service.ids)
    return Call("POST", path, {"files": {"file": ("漏水.jpg", jpeg(), "image/jpeg")}})


_INTAKE_READS = frozenset(ROLES)
_REGISTERS = frozenset({"agent", "duty_manager", "supervisor"})
_WRITERS = frozenset({"department", "qa"})
_APPROVERS = frozenset({"qa", "supervisor"})


def _fresh_article(
    status: str, method: str, path: str, body: dict[str, Any] | None = None
) -> Builder:
    """A step changes the article's status: each caller tries one of its own, of billing's,
    in `status`."""

    def make(service: Running, caller: str) -> Call:
        from tests.robustness.conftest import new_article

        assert service.client is not None
        article_id = new_article(service, service.client, status)
        return Call(method, path.format(article_id=article_id), {"json": body} if body else {})

    return make


def _model_answer(service: Running, caller: str) -> Call:
    """A complaint of the seeded client answered by billing: its reply, a model answer."""
    from services.intake.complaints.flows import apply_lifecycle
    from shared.contracts import LifecycleChanged

    assert service.client is not None
    answer = service.client.post(
        "/complaints",
        json={
            "tenant": "default",
            "customer_phone": "13800138000",
            "channel": "phone",
            "category": "billing",
            "description": "话费账单多扣了三十元，要求退还。",
        },
        headers=service.tokens["agent"],
    )
    assert answer.status_code == 201, answer.text
    created = answer.json()
    with service.env.db.transaction() as session:
        apply_lifecycle(
            session,
            LifecycleChanged(
                complaint_id=created["id"],
                reference=created["reference"],
                action="reply",
                from_state="in_progress",
                to_state="replied",
                history_seq=5,
                department_id="billing",
                resolution="经核实系计费系统错误，多扣的 30 元已退还到原账户。",
            ),
            datetime.now(UTC),
        )
    body = {"complaint_id": created["reference"], "question": "话费多扣了怎么退？"}
    return Call("POST", "/knowledge/model-answers", {"json": body})


INTAKE: dict[tuple[str, str], Endpoint] = {
    ("GET", "/categories"): Endpoint(ANY, get("/categories")),
    ("GET", "/tenants"): Endpoint(ANY, get("/tenants")),
    ("POST", "/complaints"): Endpoint(
        _REGISTERS,
        send(
            "POST",
            "/complaints",
            {
                "tenant": "default",
                "customer_phone": "13800138000",
                "channel": "phone",
                "category": "billing",
                "description": "宽带每天晚上断线，修了三次都没好。",
            },
        ),
        ok=201,
        # Another client's agent registers only for their own client.
        other_client=403,
    ),
    # By words of the text: a search by the customer's phone is for those who may see it
    # (tests/robustness/test_personal_data.py).
    ("GET", "/complaints"): Endpoint(
        _INTAKE_READS, get("/complaints", q="账单"), phones=_items("customer_phone")
    ),
    # Likely duplicates, while registering: the caller's complaints and others' alike.
    ("GET", "/complaints/similar"): Endpoint(
        _REGISTERS,
        get("/complaints/similar", phone="13800138000", description="话费账单多扣了钱"),
        phones=lambda body: [d["complaint"]["customer_phone"] for d in body["items"]],
        other_client=200,  # a search: it finds none of the other client's
    ),
    ("GET", "/complaints/{complaint_id}"): Endpoint(
        _INTAKE_READS,
        get("/complaints/{complaint_id}"),
        other_department=404,
        phones=_one("customer_phone"),
    ),
    ("GET", "/customers/{phone}"): Endpoint(
        frozenset({"agent", "duty_manager", "supervisor", "admin"}),
        get("/customers/{phone}"),
        phones=lambda body: [c["customer_phone"] for c in body["complaints"]],
    ),
    ("POST", "/complaints/{complaint_id}/feedback"): Endpoint(
        _REGISTERS,
        send("POST", "/complaints/{complaint_id}/feedback", {"result": "satisfied"}),
        ok=201,
    ),
    ("GET", "/complaints/{complaint_id}/feedback"): Endpoint(
        _INTAKE_READS, get("/complaints/{complaint_id}/feedback"), other_department=404
    ),
    ("POST", "/complaints/{complaint_id}/notes"): Endpoint(
        frozenset({"agent", "duty_manager", "supervisor", "department"}),
        send("POST", "/complaints/{complaint_id}/notes", {"text": "客户补充：11 月 3 日扣的费。"}),
        ok=201,
        other_department=404,
    ),
    ("GET", "/complaints/{complaint_id}/notes"): Endpoint(
        _INTAKE_READS, get("/complaints/{complaint_id}/notes"), other_department=404
    ),
    # The seeded complaint waits for the customer's verdict: a caller may still urge it.
    ("POST", "/complaints/{complaint_id}/urges"): Endpoint(
        _REGISTERS,
        send("POST", "/complaints/{complaint_id}/urges", {"text": "客户再次来电催办。"}),
        ok=201,
    ),
    ("GET", "/complaints/{complaint_id}/urges"): Endpoint(
        _INTAKE_READS, get("/complaints/{complaint_id}/urges"), other_department=404
    ),
    ("GET", "/access-log"): Endpoint(
        AUDITORS,
        get("/access-log", customer="13800138000"),
        phones=_items("customer"),
        sees_phone=AUDITORS,
        other_client=403,  # the centre's record of every client
    ),
    # The centre's staff, and the clerk of the department holding it (billing: replied,
    # the customer's verdict awaited).
    ("POST", "/complaints/{complaint_id}/attachments"): Endpoint(
        _REGISTERS | {"department"}, _attach, ok=201, other_department=404
    ),
    ("GET", "/complaints/{complaint_id}/attachments"): Endpoint(
        _INTAKE_READS, get("/complaints/{complaint_id}/attachments"), other_department=404
    ),
    # The knowledge base: billing's clerk and QA write (for the seeded client: another
    # client's writers write for theirs only), every role reads what is approved.
    ("POST", "/knowledge/articles"): Endpoint(
        _WRITERS,
        send(
            "POST",
            "/knowledge/articles",
            {
                "tenant": "default",
                "question": "宽带晚上断线怎么办？",
                "answer": "请重启光猫；仍断线的，网络部两个工作日内上门检修。",
                "category": "network",
            },
        ),
        ok=201,
        other_client=403,
    ),
    ("GET", "/knowledge/articles"): Endpoint(
        _INTAKE_READS, get("/knowledge/articles", q="账单"), other_client=200
    ),
    ("GET", "/knowledge/articles/{article_id}"): Endpoint(
        _INTAKE_READS, get("/knowledge/articles/{article_id}"), other_client=404
    ),
    # A draft of billing's: the network clerk does not see it.
    ("PUT", "/knowledge/articles/{article_id}"): Endpoint(
        _WRITERS,
        _fresh_article(
            "draft",
            "PUT",
            "/knowledge/articles/{article_id}",
            {
                "question": "话费账单多扣了钱怎么办？",
                "answer": "请提供扣费月份和金额，账务部核实后三个工作日内退还。",
                "category": "billing",
            },
        ),
        other_department=404,
        other_client=404,
    ),
    ("POST", "/knowledge/articles/{article_id}/submit"): Endpoint(
        _WRITERS,
        _fresh_article("draft", "POST", "/knowledge/articles/{article_id}/submit"),
        other_department=404,
        other_client=404,
    ),
    **{
        ("POST", f"/knowledge/articles/{{article_id}}/{step}"): Endpoint(
            _APPROVERS,
            _fresh_article(status, "POST", f"/knowledge/articles/{{article_id}}/{step}"),
            other_client=404,
        )
        for step, status in (
            ("approve", "submitted"),
            ("return", "submitted"),
            ("retire", "approved"),
        )
    },
    # Approved, it is read by the network clerk too, who may not revise billing's words.
    ("POST", "/knowledge/articles/{article_id}/revise"): Endpoint(
        _WRITERS,
        _fresh_article("approved", "POST", "/knowledge/articles/{article_id}/revise"),
        other_department=403,
        other_client=404,
    ),
    # QA alone marks a reply as a model answer; another client's QA does not find the
    # seeded client's complaint.
    ("POST", "/knowledge/model-answers"): Endpoint(
        frozenset({"qa"}), _model_answer, ok=201, other_client=404
    ),
    # While registering, for the client whose line was rung.
    ("GET", "/knowledge/suggest"): Endpoint(
        _REGISTERS,
        get("/knowledge/suggest", description="上个月的话费账单多扣了三十元", tenant="default"),
        other_client=403,
    ),
    # The file itself only for those who may see the customer's personal data: a photo
    # or a scan can show her and cannot be masked (shared.privacy).
    ("GET", "/complaints/{complaint_id}/attachments/{attachment_id}"): Endpoint(
        SEES_CUSTOMER_PHONE,
        get("/complaints/{complaint_id}/attachments/{attachment_id}"),
        other_department=404,
    ),
}

# --- escalation -------------------------------------------------------------------------

_ADMIN = frozenset({"admin"})
_STAFF_READERS = frozenset({"admin", "duty_manager", "supervisor"})
_PLANNERS = frozenset({"admin", "supervisor"})


def _new_department(service: Running) -> dict[str, Any]:
    return {"id": unique("dept-"), "name": "法务部 Legal", "contact_phones": ["13700137009"]}


def _new_staff(service: Running) -> dict[str, Any]:
    return {"id": unique("S"), "name": "新同事", "phone": "13900139099", "role": "agent"}


def _new_shift(service: Running) -> dict[str, Any]:
    # Each caller's shift in a week of its own, far ahead: they never overlap.
    start = datetime.now(UTC) + timedelta(days=60 + 7 * next(_counter))
    return {
        "staff_id": "DM02",
        "starts_at": start.isoformat(),
        "ends_at": (start + timedelta(hours=8)).isoformat(),
    }


def _delete_fresh_shift(service: Running, caller: str) -> Call:
    assert service.client is not None
    answer = service.client.post(
        "/roster/shifts", json=_new_shift(service), headers=service.tokens["admin"]
    )
    assert answer.status_code == 201, answer.text
    return Call("DELETE", f"/roster/shifts/{answer.json()['id']}")


_DESK = frozenset({"duty_manager", "supervisor"})


def _empty_action(action: str) -> Builder:
    return send("POST", f"/complaints/{{complaint_id}}/actions/{action}", {})


def _accept_fresh(service: Running, caller: str) -> Call:
    from tests.robustness.conftest import dispatch_to_billing, new_escalation_complaint

    complaint_id, _ = new_escalation_complaint(service)
    dispatch_to_billing(service, complaint_id)
    return Call("POST", f"/complaints/{complaint_id}/actions/accept", {"json": {}})


def _fresh_at_billing(service: Running) -> str:
    from tests.robustness.conftest import dispatch_to_billing, new_escalation_complaint

    complaint_id, _ = new_escalation_complaint(service)
    dispatch_to_billing(service, complaint_id)
    return complaint_id


def _take_fresh(path: str) -> Builder:
    """Taking changes who owns it: each caller tries an unowned complaint of its own."""

    def make(service: Running, caller: str) -> Call:
        return Call("POST", path.format(complaint_id=_fresh_at_billing(service)), {"json": {}})

    return make


def _assign_fresh(path: str) -> Builder:
    def make(service: Running, caller: str) -> Call:
        complaint_id = _fresh_at_billing(service)
        return Call("POST", path.format(complaint_id=complaint_id), {"json": {"clerk": "B08"}})

    return make


ESCALATION: dict[tuple[str, str], Endpoint] = {
    ("POST", "/departments"): Endpoint(_ADMIN, send("POST", "/departments", _new_department), 201),
    ("GET", "/departments"): Endpoint(
        ANY,
        get("/departments"),
        phones=lambda body: [p for d in body for p in d["contact_phones"]],
        sees_phone=SEES_STAFF_PHONE,
    ),
    ("GET", "/departments/{department_id}"): Endpoint(
        ANY,
        get("/departments/{department_id}"),
        phones=lambda body: body["contact_phones"],
        sees_phone=SEES_STAFF_PHONE,
    ),
    ("PUT", "/departments/{department_id}"): Endpoint(
        _ADMIN,
        send(
            "PUT",
            "/departments/{department_id}",
            {"name": "账务部 Billing", "contact_phones": ["13700137001"], "head_staff_id": "BH1"},
        ),
    ),
    ("POST", "/staff"): Endpoint(_ADMIN, send("POST", "/staff", _new_staff), 201),
    ("GET", "/staff"): Endpoint(_STAFF_READERS, get("/staff")),
    ("GET", "/staff/{staff_id}"): Endpoint(_STAFF_READERS, get("/staff/{staff_id}")),
    ("PUT", "/staff/{staff_id}"): Endpoint(
        _ADMIN,
        send(
            "PUT",
            "/staff/{staff_id}",
            {
                "name": "陈会计",
                "phone": "13900139007",
                "role": "department",
                "department_id": "billing",
            },
        ),
    ),
    ("POST", "/roster/shifts"): Endpoint(
        _PLANNERS, send("POST", "/roster/shifts", _new_shift), 201
    ),
    ("GET", "/roster/shifts"): Endpoint(
        frozenset({"admin", "supervisor", "duty_manager", "agent"}), get("/roster/shifts")
    ),
    # A shift of the centre's shared roster: another client's planners plan their own.
    ("DELETE", "/roster/shifts/{shift_id}"): Endpoint(
        _PLANNERS, _delete_fresh_shift, 204, other_client=404
    ),
    ("GET", "/roster/on-duty"): Endpoint(
        ANY,
        get("/roster/on-duty"),
        phones=lambda body: [body["phone"]],
        sees_phone=SEES_STAFF_PHONE,
    ),
    ("GET", "/complaints/{complaint_id}"): Endpoint(
        ANY, get("/complaints/{complaint_id}"), other_department=404, phones=_one("customer_phone")
    ),
    ("POST", "/complaints/{complaint_id}/actions/verify-loss"): Endpoint(
        # The desk and the holding department's clerk; the seeded complaint is a
        # compensation claim with billing, so it can be verified again and again.
        frozenset({"duty_manager", "supervisor", "department"}),
        send(
            "POST",
            "/complaints/{complaint_id}/actions/verify-loss",
            {"compensation_amount": "30.00"},
        ),
        other_department=404,
        phones=lambda body: [body["complaint"]["customer_phone"]],
    ),
    # The other actions on the seeded complaint, dispatched to billing, with an empty body:
    # in a state the action does not start from, whoever may see the complaint hears 409;
    # in one it does, those allowed hear 422 (its fields are missing), the others 403; the
    # network clerk never learns the complaint exists (404).
    **{
        ("POST", f"/complaints/{{complaint_id}}/actions/{action}"): Endpoint(
            ANY, _empty_action(action), 409, other_department=404
        )
        for action in (
            "assign",
            "import",
            "acknowledge",
            "dispatch",
            "resolve",
            "reply",
            "feedback",
            "close",
            "reopen",
        )
    },
    # 当场解答 is for a complaint nobody has dispatched: on the seeded one, 409 for all.
    ("POST", "/complaints/{complaint_id}/actions/resolve-at-first-contact"): Endpoint(
        ANY, _empty_action("resolve-at-first-contact"), 409, other_department=404
    ),
    ("POST", "/complaints/{complaint_id}/actions/hand-over"): Endpoint(
        frozenset(),
        _empty_action("hand-over"),
        other_department=404,  # the worker's alone
    ),
    ("POST", "/complaints/{complaint_id}/actions/return"): Endpoint(
        frozenset({"department"}), _empty_action("return"), 422, other_department=404
    ),
    # The centre under test allows transfers: the holding clerk and the desk answering
    # for it may, and hear 422 (no department, no reason); where a centre does not, it
    # is 409 for everyone (tests/escalation/test_transfer.py).
    ("POST", "/complaints/{complaint_id}/actions/transfer"): Endpoint(
        _DESK | {"department"}, _empty_action("transfer"), 422, other_department=404
    ),
    ("POST", "/complaints/{complaint_id}/actions/request-extension"): Endpoint(
        frozenset({"department"}), _empty_action("request-extension"), 422, other_department=404
    ),
    ("POST", "/complaints/{complaint_id}/actions/decide-extension"): Endpoint(
        _DESK, _empty_action("decide-extension"), 422, other_department=404
    ),
    # Pausing the clock (挂起): the holding department asks, the desk decides or pauses
    # itself (each hears 422: whom it waits on, why); resuming a clock that runs is 409
    # for whoever may resume.
    ("POST", "/complaints/{complaint_id}/actions/request-pause"): Endpoint(
        frozenset({"department"}), _empty_action("request-pause"), 422, other_department=404
    ),
    ("POST", "/complaints/{complaint_id}/actions/decide-pause"): Endpoint(
        _DESK, _empty_action("decide-pause"), 422, other_department=404
    ),
    ("POST", "/complaints/{complaint_id}/actions/pause"): Endpoint(
        _DESK, _empty_action("pause"), 422, other_department=404
    ),
    ("POST", "/complaints/{complaint_id}/actions/resume"): Endpoint(
        _DESK | {"department"}, _empty_action("resume"), 409, other_department=404
    ),
    # Joint handling (协办): the seeded complaint has no assisting department, so nobody
    # may act on a part (403; the network clerk never learns it exists); the desk may
    # release or urge one and hears 422 naming the department and the reason.
    **{
        ("POST", f"/complaints/{{complaint_id}}/actions/{action}"): Endpoint(
            frozenset(), _empty_action(action), other_department=404
        )
        for action in ("accept-assist", "contribute", "decline-assist")
    },
    ("POST", "/complaints/{complaint_id}/actions/release-assist"): Endpoint(
        _DESK, _empty_action("release-assist"), 422, other_department=404
    ),
    ("POST", "/complaints/{complaint_id}/actions/urge-assist"): Endpoint(
        _DESK, _empty_action("urge-assist"), 422, other_department=404
    ),
    # Merging a duplicate into its master: the desk alone, and it names the master (422).
    ("POST", "/complaints/{complaint_id}/actions/merge"): Endpoint(
        _DESK, _empty_action("merge"), 422, other_department=404
    ),
    ("POST", "/complaints/{complaint_id}/actions/decline-compensation"): Endpoint(
        _DESK, _empty_action("decline-compensation"), 422, other_department=404
    ),
    ("POST", "/complaints/{complaint_id}/actions/urge"): Endpoint(
        _DESK, _empty_action("urge"), 422, other_department=404
    ),
    ("POST", "/complaints/{complaint_id}/actions/escalate"): Endpoint(
        frozenset({"supervisor"}), _empty_action("escalate"), 422, other_department=404
    ),
    ("POST", "/complaints/{complaint_id}/actions/{action}"): Endpoint(
        ANY,
        _empty_action("teleport"),
        422,  # no such action: named, with the ones there are
        other_client=422,  # the action is read before the complaint is looked up
    ),
    ("POST", "/complaints/{complaint_id}/actions/accept"): Endpoint(
        # Accepting changes the state: each caller tries a complaint of its own.
        frozenset({"department"}),
        _accept_fresh,
        other_department=404,
        phones=lambda body: [body["complaint"]["customer_phone"]],
    ),
    ("GET", "/complaints/{complaint_id}/history"): Endpoint(
        ANY, get("/complaints/{complaint_id}/history"), other_department=404
    ),
    ("GET", "/complaints/{complaint_id}/history/verify"): Endpoint(
        ANY, get("/complaints/{complaint_id}/history/verify"), other_department=404
    ),
    ("GET", "/queues/mine"): Endpoint(ANY, get("/queues/mine")),
    ("GET", "/queues/decisions"): Endpoint(_DESK, get("/queues/decisions")),
    ("GET", "/queues/escalated"): Endpoint(
        frozenset({"supervisor", "admin"}), get("/queues/escalated")
    ),
    ("GET", "/queues/departments"): Endpoint(
        frozenset({"duty_manager", "supervisor", "admin"}), get("/queues/departments")
    ),
    ("POST", "/complaints/{complaint_id}/actions/reassign"): Endpoint(
        frozenset({"supervisor"}), _empty_action("reassign"), 422, other_department=404
    ),
    ("GET", "/departments/{department_id}/queue"): Endpoint(
        frozenset({"duty_manager", "supervisor", "admin", "qa", "department"}),
        get("/departments/{department_id}/queue"),
        other_department=403,
    ),
    ("GET", "/access-log"): Endpoint(
        AUDITORS, get("/access-log", since="2020-01-01T00:00:00Z"), other_client=403
    ),
    # Within billing: any of its clerks takes an unowned complaint (领取); the desk
    # answering for it and a supervisor give it to a clerk (so does the head, not B07);
    # whoever owns it, the head or the desk gives it back (nobody owns the seeded one:
    # 409 for the desk, 403 for a clerk who does not own it).
    **{
        ("POST", path): Endpoint(
            frozenset({"department"}),
            _take_fresh(path),
            other_department=404,
            phones=lambda body: [body["complaint"]["customer_phone"]],
        )
        for path in ("/complaints/{complaint_id}/take", "/complaints/{complaint_id}/actions/take")
    },
    **{
        ("POST", path): Endpoint(
            _DESK,
            _assign_fresh(path),
            other_department=404,
            phones=lambda body: [body["complaint"]["customer_phone"]],
        )
        for path in (
            "/complaints/{complaint_id}/assign-clerk",
            "/complaints/{complaint_id}/actions/assign-clerk",
        )
    },
    **{
        ("POST", path): Endpoint(_DESK, send("POST", path, {}), 409, other_department=404)
        for path in (
            "/complaints/{complaint_id}/release",
            "/complaints/{complaint_id}/actions/release",
        )
    },
    ("GET", "/departments/{department_id}/workload"): Endpoint(
        frozenset({"duty_manager", "supervisor", "admin", "department"}),
        get("/departments/{department_id}/workload"),
        other_department=403,
    ),
}

# --- notify -----------------------------------------------------------------------------

NOTIFY: dict[tuple[str, str], Endpoint] = {
    ("GET", "/messages"): Endpoint(
        frozenset({"agent", "duty_manager", "supervisor", "department", "qa", "admin"}),
        get("/messages", complaint_id="{complaint_id}"),
        phones=_sms_phones(customers=True),
        staff_phones=_sms_phones(customers=False),
    ),
    # Notify's log keeps the client of each read: a client's administrator reads theirs.
    ("GET", "/access-log"): Endpoint(
        AUDITORS, get("/access-log", complaint="{complaint_id}"), other_client=200
    ),
    ("POST", "/webhooks/sms/status"): Endpoint(
        PUBLIC,
        send("POST", "/webhooks/sms/status", {}),
        signed=True,
    ),
    ("POST", "/webhooks/sms/inbound"): Endpoint(
        PUBLIC,
        send("POST", "/webhooks/sms/inbound", {}),
        signed=True,
    ),
}

# --- analytics --------------------------------------------------------------------------

_READERS = frozenset({"duty_manager", "supervisor", "department", "qa", "admin", "viewer"})
_CENTRE = frozenset({"duty_manager", "supervisor", "qa", "admin"})
# The outsourcer's views across its clients: its own supervisors, QA and administrators.
_OUTSOURCER = frozenset({"supervisor", "qa", "admin"})
_MARCH = {"from": "2026-03-01", "to": "2026-03-31"}

ANALYTICS: dict[tuple[str, str], Endpoint] = {
    ("GET", "/analytics/overview"): Endpoint(_READERS, get("/analytics/overview", **_MARCH)),
    ("GET", "/analytics/root-causes"): Endpoint(
        _READERS, get("/analytics/root-causes", month="2026-03")
    ),
    ("GET", "/analytics/trends"): Endpoint(_READERS, get("/analytics/trends", **_MARCH)),
    ("GET", "/analytics/repeat-complainants"): Endpoint(
        _CENTRE, get("/analytics/repeat-complainants", end="2026-03-31")
    ),
    ("GET", "/analytics/false-closures"): Endpoint(
        _READERS, get("/analytics/false-closures", **_MARCH)
    ),
    ("GET", "/analytics/departments/{department_id}/report"): Endpoint(
        _READERS,
        get("/analytics/departments/{department_id}/report", month="2026-03"),
        other_department=403,
    ),
    ("PUT", "/analytics/complaints/{complaint_id}/root-cause"): Endpoint(
        frozenset({"qa", "admin"}),
        send(
            "PUT",
            "/analytics/complaints/{complaint_id}/root-cause",
            {"root_cause": "system", "note": "复核：系统计费错误"},
        ),
    ),
    ("GET", "/analytics/complaints/{complaint_id}/root-cause"): Endpoint(
        _READERS, get("/analytics/complaints/{complaint_id}/root-cause"), other_department=404
    ),
    ("GET", "/analytics/complaints/{complaint_id}/root-cause/suggestion"): Endpoint(
        # Learned from the tagged complaints: the fixture month has too few, so an allowed
        # caller hears 409 with how many there are.
        _READERS,
        get("/analytics/complaints/{complaint_id}/root-cause/suggestion"),
        ok=409,
        other_department=404,
    ),
    ("POST", "/analytics/complaints/{complaint_id}/root-cause/suggestion"): Endpoint(
        # From the resolution being written: those who write one or check it.
        _READERS - {"viewer"},
        send(
            "POST",
            "/analytics/complaints/{complaint_id}/root-cause/suggestion",
            {"resolution": "核实为计费系统升级错误，已退还多扣费用"},
        ),
        ok=409,
        other_department=404,
    ),
    ("GET", "/analytics/filters"): Endpoint(_READERS, get("/analytics/filters")),
    ("GET", "/analytics/spikes"): Endpoint(_READERS, get("/analytics/spikes", **_MARCH)),
    ("GET", "/analytics/hotspots"): Endpoint(_READERS, get("/analytics/hotspots", **_MARCH)),
    ("GET", "/analytics/hot-issues"): Endpoint(_READERS, get("/analytics/hot-issues", **_MARCH)),
    ("GET", "/analytics/assists"): Endpoint(_READERS, get("/analytics/assists", month="2026-03")),
    ("GET", "/analytics/sla-by-department"): Endpoint(
        _READERS, get("/analytics/sla-by-department", **_MARCH)
    ),
    ("GET", "/analytics/arrivals"): Endpoint(_READERS, get("/analytics/arrivals", **_MARCH)),
    # Who sits at the phones is the centre's to plan: its supervisors, QA and
    # administrators (a client-bound one plans its own client's calls).
    ("GET", "/analytics/staffing"): Endpoint(_OUTSOURCER, get("/analytics/staffing", weeks=1)),
    # QA's list of articles to write: those who keep the knowledge base.
    ("GET", "/analytics/knowledge-gaps"): Endpoint(
        frozenset({"qa", "supervisor", "admin"}), get("/analytics/knowledge-gaps", **_MARCH)
    ),
    # The centre's own views across its clients: refused to every client's token.
    ("GET", "/analytics/tenants"): Endpoint(
        _OUTSOURCER, get("/analytics/tenants", month="2026-03"), other_client=403
    ),
    ("GET", "/analytics/tenants/staffing"): Endpoint(
        _OUTSOURCER, get("/analytics/tenants/staffing", month="2026-03"), other_client=403
    ),
    ("GET", "/dashboard"): Endpoint(PUBLIC, get("/dashboard")),
    ("GET", "/dashboard/assets/{path:path}"): Endpoint(
        PUBLIC, lambda service, caller: Call("GET", "/dashboard/assets/dashboard.js")
    ),
}

# --- every service ----------------------------------------------------------------------

COMMON: dict[tuple[str, str], Endpoint] = {
    ("GET", "/healthz"): Endpoint(PUBLIC, get("/healthz")),
    ("GET", "/readyz"): Endpoint(PUBLIC, get("/readyz")),
    ("GET", "/metrics"): Endpoint(PUBLIC, get("/metrics")),
    ("GET", "/openapi.json"): Endpoint(PUBLIC, get("/openapi.json")),
    ("GET", "/docs"): Endpoint(PUBLIC, get("/docs")),
    ("GET", "/docs/oauth2-redirect"): Endpoint(PUBLIC, get("/docs/oauth2-redirect")),
    ("GET", "/redoc"): Endpoint(PUBLIC, get("/redoc")),
}

ENDPOINTS: dict[str, dict[tuple[str, str], Endpoint]] = {
    "intake": {**COMMON, **INTAKE},
    "escalation": {**COMMON, **ESCALATION},
    "notify": {**COMMON, **NOTIFY},
    "analytics": {**COMMON, **ANALYTICS},
}

# --- the workbench's pages ----------------------------------------------------------------
# Who may open each page or send each form (tests/workbench/test_access_matrix.py holds the
# workbench's routes to this table). Pages answer a person signed in with another role
# with a 403 page, and send whoever is not signed in to the sign-in page.

SIGNED_IN = frozenset({"signed_in"})  # any role, once signed in
_STAFF = frozenset(ROLES) - {"viewer"}
_REGISTRARS = frozenset({"agent", "duty_manager", "supervisor"})
_PLANNERS_AND_ADMIN = frozenset({"supervisor", "admin"})

WORKBENCH: dict[tuple[str, str], frozenset[str]] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/sign-in"): PUBLIC,
    ("POST", "/sign-in"): PUBLIC,  # with the sign-in form's own check
    ("GET", "/language"): PUBLIC,
    ("GET", "/c/{reference}"): PUBLIC,  # a link in an SMS: on to the complaint's page
    ("POST", "/sign-out"): SIGNED_IN,
    ("GET", "/"): SIGNED_IN,
    ("GET", "/account/password"): SIGNED_IN,
    ("POST", "/account/password"): SIGNED_IN,
    ("GET", "/register"): _REGISTRARS,
    ("GET", "/register/caller"): _REGISTRARS,
    ("GET", "/register/duplicates"): _REGISTRARS,
    ("GET", "/register/articles"): _REGISTRARS,
    ("POST", "/register"): _REGISTRARS,
    ("GET", "/search"): _STAFF,
    ("GET", "/complaints/{complaint_id}"): _STAFF,
    # Which actions: the lifecycle's allowed_actions for the person, judged by the API.
    ("POST", "/complaints/{complaint_id}/actions/{action}"): _STAFF,
    ("POST", "/complaints/{complaint_id}/feedback"): _REGISTRARS,
    ("POST", "/complaints/{complaint_id}/notes"): _REGISTRARS | {"department"},
    ("POST", "/complaints/{complaint_id}/attachments"): _REGISTRARS | {"department"},
    # Passed on from intake, for those who may see the customer's personal data.
    ("GET", "/complaints/{complaint_id}/attachments/{attachment_id}"): SEES_CUSTOMER_PHONE,
    ("POST", "/complaints/{complaint_id}/urges"): _REGISTRARS,
    ("POST", "/complaints/{complaint_id}/root-cause"): frozenset({"qa", "admin"}),
    ("POST", "/complaints/{complaint_id}/model-answer"): frozenset({"qa"}),
    ("GET", "/desk"): _DESK,
    ("GET", "/desk/queue"): _DESK,
    ("GET", "/department"): frozenset({"department"}),
    ("GET", "/department/queue"): frozenset({"department"}),
    # A department's workload: the desk, the supervisors, the administrator and its own
    # clerks read it; the desk and its head (escalation judges which clerk) give work out.
    ("GET", "/workload/{department_id}"): frozenset(
        {"duty_manager", "supervisor", "admin", "department"}
    ),
    ("POST", "/workload/{department_id}/assign"): frozenset(
        {"duty_manager", "supervisor", "department"}
    ),
    ("GET", "/supervisor"): _PLANNERS_AND_ADMIN,
    ("GET", "/supervisor/queue"): _PLANNERS_AND_ADMIN,
    ("GET", "/roster"): frozenset({"supervisor", "admin", "duty_manager"}),
    ("POST", "/roster/shifts"): _PLANNERS_AND_ADMIN,
    ("POST", "/roster/shifts/{shift_id}/delete"): _PLANNERS_AND_ADMIN,
    ("GET", "/qa"): frozenset(ROLES) - {"agent"},
    ("GET", "/qa/reports/{department_id}"): frozenset(ROLES) - {"agent"},
    ("GET", "/admin/staff"): _ADMIN,
    ("POST", "/admin/staff"): _ADMIN,
    ("POST", "/admin/staff/{staff_id}"): _ADMIN,
    ("POST", "/admin/accounts/{staff_id}/password"): _ADMIN,
    ("POST", "/admin/accounts/{staff_id}/unlock"): _ADMIN,
    ("GET", "/admin/departments"): _ADMIN,
    ("GET", "/admin/access-log"): _ADMIN,
    ("POST", "/admin/departments"): _ADMIN,
    ("POST", "/admin/departments/{department_id}"): _ADMIN,
}

# The role each operation is fuzzed with: the first allowed one in this order.
_FUZZ_ORDER = ("duty_manager", "qa", "admin", "supervisor", "agent", "department", "viewer")


def fuzz_role(service: str, method: str, path: str) -> str | None:
    endpoint = ENDPOINTS[service].get((method, path))
    if endpoint is None or endpoint.allowed is PUBLIC:
        return None
    # Nobody may (hand-over is the worker's): fuzz as the desk, which hears 403.
    return next((role for role in _FUZZ_ORDER if role in endpoint.allowed), "duty_manager")
