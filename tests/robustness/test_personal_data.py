"""Personal data only to the roles that need it.

A customer, 王秀英, called with a real complaint (texts from data/ that already hold
couriers' and sellers' mobiles) and gave her mobile, landline, ID number, bank card and
e-mail address on the line; the agent noted more, she called again, the desk dispatched
it with instructions naming her. The outsourcing client (viewer) and QA then read every
GET route of every service they may call — the access matrix's own list
(tests/robustness/matrix.py), so a route entered there is read here too — and no answer
shows her name or any of those numbers in full. An agent still sees her phone, and that
read is in the service's access log, which an administrator queries and nobody else.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.robustness.conftest import SERVICES, Running
from tests.robustness.matrix import COMMON, ENDPOINTS, PUBLIC
from tests.support.personal_data import Customer, leaks, texts_with_mobiles

pytestmark = pytest.mark.postgres

CUSTOMER = Customer()
TEXTS = texts_with_mobiles(6)
SECRETS = CUSTOMER.secrets(*TEXTS)
WITHOUT_A_NEED = ("viewer", "qa")


# --- planting the customer's complaint in each service -----------------------------------


def _plant_intake(service: Running) -> dict[str, str]:
    from services.intake.complaints.flows import apply_lifecycle
    from shared.contracts import LifecycleChanged

    assert service.client is not None
    client, agent = service.client, service.tokens["agent"]
    ids: dict[str, str] = {}
    for text_ in TEXTS[:2]:
        answer = client.post(
            "/complaints",
            json={
                "tenant": "default",  # the seeded client (conftest.CLIENTS_FILE)
                "customer_phone": CUSTOMER.phone,
                "customer_name": CUSTOMER.name,
                "channel": "phone",
                "category": "delivery",
                "nature": "compensation",
                "description": CUSTOMER.says(text_),
            },
            headers=agent,
        )
        assert answer.status_code == 201, answer.text
        ids = {"complaint_id": answer.json()["id"], "reference": answer.json()["reference"]}
        with service.env.db.transaction() as session:
            apply_lifecycle(
                session,
                LifecycleChanged(
                    complaint_id=ids["complaint_id"],
                    reference=ids["reference"],
                    action="reply",
                    from_state="in_progress",
                    to_state="replied",
                    history_seq=5,
                    holder_staff_id="B07",
                    holder_role="department",
                    department_id="billing",
                ),
                datetime.now(UTC),
            )
    path = f"/complaints/{ids['complaint_id']}"
    said = {
        "notes": {
            "text": f"{CUSTOMER.name}补充：也可以打 {CUSTOMER.landline}，邮件 {CUSTOMER.email}"
        },
        "urges": {
            "text": f"{CUSTOMER.name}再次来电（{CUSTOMER.phone}），身份证 {CUSTOMER.id_number}"
        },
        "feedback": {"result": "unsatisfied", "comment": f"钱请退到 {CUSTOMER.card}"},
    }
    for what, body in said.items():
        answer = client.post(f"{path}/{what}", json=body, headers=agent)
        assert answer.status_code == 201, answer.text
    # A photo of her ID card, named as she sent it: with her name and her number.
    from tests.support.files import jpeg

    photo = client.post(
        f"{path}/attachments",
        files={"file": (f"{CUSTOMER.name}身份证 {CUSTOMER.phone}.jpg", jpeg(), "image/jpeg")},
        headers=agent,
    )
    assert photo.status_code == 201, photo.text
    return {
        "complaint_id": ids["complaint_id"],
        "phone": CUSTOMER.e164,
        "attachment_id": photo.json()["id"],
    }


def _plant_escalation(service: Running) -> dict[str, str]:
    from services.escalation.config import EscalationConfig
    from services.escalation.db import inbox, outbox
    from services.escalation.handlers import make_handlers
    from shared.events import Event, registry
    from shared.inbox import claim
    from shared.outbox import Outbox
    from tests.escalation.conftest import received_event

    assert service.client is not None
    envelope = received_event(
        customer_phone=CUSTOMER.e164,
        customer_name=CUSTOMER.name,
        description=CUSTOMER.says(TEXTS[2]),
    )
    event: Event[Any] = registry.decode(json.dumps(envelope.model_dump(mode="json")).encode())
    handlers = make_handlers(EscalationConfig(), Outbox(outbox, lanes=1))
    with service.env.db.transaction() as session:
        assert claim(session, inbox, consumer="escalation", envelope=event.envelope)
        handlers[event.type](session, event)
    path = f"/complaints/{envelope.complaint_id}/actions"
    until = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    for action, role, body in (
        (
            "dispatch",
            "duty_manager",
            {
                "department_id": "billing",
                "instructions": f"先回拨{CUSTOMER.name} {CUSTOMER.phone}，邮件 {CUSTOMER.email}",
            },
        ),
        ("accept", "department", {}),
        (
            "request-extension",
            "department",
            {"until": until, "reason": f"等{CUSTOMER.name}寄来身份证 {CUSTOMER.id_number} 复印件"},
        ),
    ):
        answer = service.client.post(f"{path}/{action}", json=body, headers=service.tokens[role])
        assert answer.status_code == 200, answer.text
    return {"complaint_id": str(envelope.complaint_id), "phone": CUSTOMER.e164}


def _plant_notify(service: Running) -> dict[str, str]:
    from services.notify.db import inbox
    from services.notify.handlers import make_context, make_handlers
    from shared.events import Event, registry
    from shared.inbox import claim
    from tests.notify.conftest import (
        BILLING_DESK,
        DM01,
        lifecycle_event,
        notify_config,
        received_event,
        recipient,
    )

    handlers = make_handlers(make_context(notify_config(), service.env.settings))
    # The duty manager's SMS carries the complaint's first words: a seller's mobile.
    received = received_event(
        customer_phone=CUSTOMER.e164,
        customer_name=CUSTOMER.name,
        description=CUSTOMER.says(TEXTS[3]),
    )
    for envelope in (
        received,
        lifecycle_event("complaint.assigned", received, [recipient("duty_manager", DM01, "DM01")]),
        lifecycle_event(
            "complaint.dispatched",
            received,
            [recipient("department", BILLING_DESK)],
            to_state="dispatched",
            department_id="billing",
            history_seq=3,
        ),
    ):
        event: Event[Any] = registry.decode(json.dumps(envelope.model_dump(mode="json")).encode())
        with service.env.db.transaction() as session:
            assert claim(session, inbox, consumer="notify", envelope=event.envelope)
            handlers[event.type](session, event)
    return {"complaint_id": str(received.complaint_id), "phone": CUSTOMER.e164}


def _plant_analytics(service: Running) -> dict[str, str]:
    from tests.analytics.conftest import load
    from tests.analytics.story import Story, bj

    story = Story()
    for i, text_ in enumerate(TEXTS[:5]):
        name = f"PD{i}"
        story.received(
            name,
            bj(3, 10 + i, 9),
            category="delivery",
            phone=CUSTOMER.e164,
            customer_name=CUSTOMER.name,
            description=CUSTOMER.says(text_),
        )
        dispatch = {"to": "dispatched", "stage": "acceptance", "department": "billing"}
        story.act(name, "dispatched", "dispatch", bj(3, 10 + i, 10), **dispatch)
        if i == 0:
            story.act(
                name,
                "returned",
                "return",
                bj(3, 10, 11),
                to="with_duty_manager",
                stage="handling",
                reason=f"{CUSTOMER.name}的身份证 {CUSTOMER.id_number} 不是本部门核验",
                details={"reason_code": "not_ours"},
                bounce_count=1,
            )
            story.act(name, "dispatched", "dispatch", bj(3, 10, 12), **dispatch)
        story.act(
            name, "accepted", "accept", bj(3, 10 + i, 13), to="in_progress", stage="resolution"
        )
        story.act(
            name,
            "replied",
            "reply",
            bj(3, 11 + i, 9),
            to="replied",
            stage="follow_up",
            root_cause="system",
            resolution=f"已回拨 {CUSTOMER.phone}，退款到卡 {CUSTOMER.card}",
        )
    load(service.env.db, story.events)
    planted = story.complaints["PD1"].id
    # As analytics kept a text before it masked what it keeps: masked when it is shown.
    with service.env.db.transaction() as session:
        session.execute(
            text("UPDATE complaint_facts SET description = :said WHERE complaint_id = :id"),
            {"said": CUSTOMER.says(TEXTS[1]), "id": planted},
        )
    return {"complaint_id": planted}


PLANT: dict[str, Callable[[Running], dict[str, str]]] = {
    "intake": _plant_intake,
    "escalation": _plant_escalation,
    "notify": _plant_notify,
    "analytics": _plant_analytics,
}


@pytest.fixture(scope="module")
def planted(services: Callable[[str], Running]) -> Iterator[Callable[[str], Running]]:
    """`planted(name)`: the service with the customer's complaint in it, its ids (for the
    matrix's paths) naming her complaint."""
    made: dict[str, Running] = {}

    def get(name: str) -> Running:
        if name not in made:
            service = services(name)
            made[name] = replace(service, ids={**service.ids, **PLANT[name](service)})
        return made[name]

    yield get


def shown(answer: httpx.Response) -> str:
    """The answer as a person would read it (JSON with its Chinese unescaped)."""
    if answer.headers.get("content-type", "").startswith("application/json"):
        return json.dumps(answer.json(), ensure_ascii=False)
    return answer.text


def read(service: Running, role: str, path: str, **params: Any) -> httpx.Response:
    assert service.client is not None
    return service.client.get(path, params=params, headers=service.tokens[role])


# --- the outsourcing client and QA ---------------------------------------------------------

READS = [
    (role, name, path)
    for role in WITHOUT_A_NEED
    for name in SERVICES
    for (method, path), endpoint in ENDPOINTS[name].items()
    if method == "GET"
    and (method, path) not in COMMON  # documentation, health and metrics: no one's data
    and (endpoint.allowed is PUBLIC or role in endpoint.allowed)
]


@pytest.mark.parametrize(("role", "name", "path"), READS, ids=[" ".join(r) for r in READS])
def test_a_role_without_a_need_reads_no_name_phone_or_id_number(
    planted: Callable[[str], Running], role: str, name: str, path: str
) -> None:
    service = planted(name)
    endpoint = ENDPOINTS[name][("GET", path)]
    call = endpoint.make(service, role)
    assert service.client is not None
    answer = service.client.request(
        call.method, call.path, headers=service.tokens[role], **call.kwargs
    )
    assert answer.status_code == endpoint.expected(role), answer.text[:300]
    assert leaks(shown(answer), CUSTOMER, SECRETS) == [], shown(answer)[:2000]


def test_every_service_is_read_by_both_roles() -> None:
    """The list above is not empty by accident: each service has routes for each role."""
    for role in WITHOUT_A_NEED:
        assert {name for r, name, _ in READS if r == role} >= {"intake", "escalation", "analytics"}
    assert ("qa", "notify", "/messages") in READS


@pytest.mark.parametrize("role", WITHOUT_A_NEED)
def test_reports_and_exports_in_every_format_show_her_nothing(
    planted: Callable[[str], Running], role: str
) -> None:
    analytics = planted("analytics")
    march = {"from": "2026-03-01", "to": "2026-03-31"}
    reads = [
        ("/analytics/departments/billing/report", {"month": "2026-03", "format": fmt})
        for fmt in ("json", "csv", "html")
    ] + [
        ("/analytics/false-closures", {**march, "format": "csv"}),
        ("/analytics/hotspots", march),
        ("/analytics/hot-issues", {**march, "min_callers": 2}),
        ("/analytics/hot-issues", {**march, "min_callers": 2, "format": "csv"}),
        ("/analytics/assists", {"month": "2026-03", "format": "csv"}),
    ]
    if role == "qa":
        reads.append(("/analytics/repeat-complainants", {"end": "2026-03-31", "format": "csv"}))
    for path, params in reads:
        answer = read(analytics, role, path, **params)
        assert answer.status_code == 200, answer.text
        assert leaks(shown(answer), CUSTOMER, SECRETS) == [], (path, params, answer.text[:2000])


def test_what_they_read_is_her_complaint_with_her_data_masked(
    planted: Callable[[str], Running],
) -> None:
    """The answers above did carry her complaint: masked, not missing."""
    intake, escalation = planted("intake"), planted("escalation")
    found = read(intake, "qa", "/complaints", q="快递").json()["items"]
    assert intake.ids["complaint_id"] in {c["id"] for c in found}
    # Where the words were found, masked as the text is, the words still marked.
    for q, field in (("快递", "description"), ("邮件", "note")):
        hits = read(intake, "qa", "/complaints", q=q).json()["items"]
        hit = next(c for c in hits if c["id"] == intake.ids["complaint_id"])
        snippet = hit["snippet"]
        assert snippet["field"] == field
        assert {snippet["text"][a:b] for a, b in snippet["marks"]} == {q}
        assert leaks(snippet["text"], CUSTOMER, SECRETS) == [], snippet
    seen = read(intake, "qa", f"/complaints/{intake.ids['complaint_id']}").json()
    assert seen["customer_phone"] == "+86139****5678"
    assert seen["customer_name"] is None
    assert "我是王**，手机 139 **** 5678" in seen["description"]
    assert "身份证 1101**********002X" in seen["description"]
    assert "w***@example.com" in seen["description"]
    [photo] = read(intake, "viewer", f"/complaints/{intake.ids['complaint_id']}/attachments").json()
    assert photo["name"].startswith("王**身份证 ") and "****" in photo["name"], photo["name"]
    file = f"/complaints/{intake.ids['complaint_id']}/attachments/{intake.ids['attachment_id']}"
    assert read(intake, "qa", file).status_code == 403  # never the photo itself
    assert read(intake, "agent", file).status_code == 200
    state = read(escalation, "viewer", f"/complaints/{escalation.ids['complaint_id']}").json()
    assert "卡 **** **** **** ***0 128" in state["description"]
    assert "1101**********002X" in state["pending_extension"]["reason"]
    history = read(escalation, "viewer", f"/complaints/{escalation.ids['complaint_id']}/history")
    dispatched = next(e for e in history.json() if e["action"] == "dispatch")
    assert dispatched["payload"]["instructions"].startswith("先回拨王** 139 **** 5678")
    # Masked in the answer only: the chain, as stored, still verifies.
    verify = read(
        escalation, "viewer", f"/complaints/{escalation.ids['complaint_id']}/history/verify"
    )
    assert verify.json()["valid"] is True
    messages = read(
        planted("notify"), "qa", "/messages", complaint_id=planted("notify").ids["complaint_id"]
    )
    assert any("137****5000" in m["body"] for m in messages.json()["items"])
    analytics = planted("analytics")
    hotspots = read(
        analytics, "viewer", "/analytics/hotspots", **{"from": "2026-03-01", "to": "2026-03-31"}
    )
    examples = [e["text"] for t in hotspots.json()["topics"] for e in t["examples"]]
    assert any("****" in example for example in examples), examples


def test_they_look_nobody_up_by_a_phone_or_its_digits(planted: Callable[[str], Running]) -> None:
    intake, notify = planted("intake"), planted("notify")
    for role in WITHOUT_A_NEED:
        assert read(intake, role, "/complaints", phone=CUSTOMER.phone).status_code == 403
        assert read(intake, role, "/complaints", q="1391234").status_code == 403
        assert read(intake, role, "/complaints", q=CUSTOMER.name).json()["items"] == []
        assert read(intake, role, "/complaints/similar", phone=CUSTOMER.phone).status_code == 403
        assert read(intake, role, f"/customers/{CUSTOMER.e164}").status_code == 403
    assert read(notify, "qa", "/messages", phone=CUSTOMER.phone).status_code == 403
    # A reference is no one's personal data.
    reference = read(intake, "agent", f"/complaints/{intake.ids['complaint_id']}").json()
    found = read(intake, "qa", "/complaints", q=reference["reference"]).json()["items"]
    assert [c["id"] for c in found] == [intake.ids["complaint_id"]]


# --- those who need it, and the access log -------------------------------------------------


def access_log(service: Running, **params: Any) -> list[dict[str, Any]]:
    answer = read(service, "admin", "/access-log", **params)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_an_agent_sees_her_phone_and_the_read_is_in_the_access_log(
    planted: Callable[[str], Running],
) -> None:
    intake = planted("intake")
    complaint_id = intake.ids["complaint_id"]
    since = datetime.now(UTC).isoformat()
    answer = read(intake, "agent", f"/complaints/{complaint_id}")
    assert answer.json()["customer_phone"] == CUSTOMER.e164
    assert answer.json()["customer_name"] == CUSTOMER.name
    assert CUSTOMER.phone in answer.json()["description"]
    file = read(intake, "agent", f"/customers/{CUSTOMER.phone}")
    assert file.status_code == 200 and file.json()["phone"] == CUSTOMER.e164

    reads = access_log(intake, customer=CUSTOMER.phone, since=since)
    assert [(r["staff_id"], r["role"], r["method"], r["route"]) for r in reads] == [
        ("A001", "agent", "GET", "/customers/{phone}"),
        ("A001", "agent", "GET", "/complaints/{complaint_id}"),
    ]
    assert complaint_id in reads[0]["complaint_ids"] and len(reads[0]["complaint_ids"]) == 2
    assert reads[1]["complaint_ids"] == [complaint_id]
    assert reads[1]["customer"] == CUSTOMER.e164
    assert datetime.fromisoformat(reads[1]["at"]) >= datetime.fromisoformat(since)
    # The same reads, looked up by the reader, by the complaint's reference.
    by_staff = access_log(intake, staff="A001", since=since)
    assert [r["id"] for r in by_staff] == [r["id"] for r in reads]
    reference = answer.json()["reference"]
    assert {r["id"] for r in access_log(intake, complaint=reference, since=since)} == {
        r["id"] for r in reads
    }


def test_a_page_of_complaints_is_one_entry_per_customer(planted: Callable[[str], Running]) -> None:
    intake = planted("intake")
    since = datetime.now(UTC).isoformat()
    page = read(intake, "duty_manager", "/complaints", phone=CUSTOMER.phone).json()["items"]
    assert len(page) == 2
    (entry,) = access_log(intake, staff="DM01", since=since)
    assert entry["route"] == "/complaints"
    assert sorted(entry["complaint_ids"]) == sorted(c["id"] for c in page)


def test_likely_duplicates_shown_to_an_agent_are_logged(planted: Callable[[str], Running]) -> None:
    intake = planted("intake")
    since = datetime.now(UTC).isoformat()
    found = read(intake, "agent", "/complaints/similar", phone=CUSTOMER.phone).json()["items"]
    assert len(found) == 2 and all(d["complaint"]["customer_phone"] == CUSTOMER.e164 for d in found)
    (entry,) = access_log(intake, staff="A001", since=since)
    assert (entry["route"], entry["customer"]) == ("/complaints/similar", CUSTOMER.e164)
    assert sorted(entry["complaint_ids"]) == sorted(d["complaint"]["id"] for d in found)


def test_the_desk_the_department_and_the_sms_log_are_logged_too(
    planted: Callable[[str], Running],
) -> None:
    escalation, notify = planted("escalation"), planted("notify")
    since = datetime.now(UTC).isoformat()
    state = read(escalation, "department", f"/complaints/{escalation.ids['complaint_id']}")
    assert state.json()["customer_phone"] == CUSTOMER.e164
    reads = access_log(escalation, customer=CUSTOMER.e164, since=since)
    assert [(r["staff_id"], r["route"]) for r in reads] == [("B07", "/complaints/{complaint_id}")]

    messages = read(notify, "duty_manager", "/messages", complaint_id=notify.ids["complaint_id"])
    phones = {m["phone"] for m in messages.json()["items"]}
    assert CUSTOMER.e164 in phones
    (entry,) = access_log(notify, customer=CUSTOMER.e164, since=since)
    assert (entry["staff_id"], entry["route"]) == ("DM01", "/messages")
    assert entry["complaint_ids"] == [notify.ids["complaint_id"]]


def test_what_shows_nothing_in_full_is_not_logged(planted: Callable[[str], Running]) -> None:
    intake, escalation = planted("intake"), planted("escalation")
    since = datetime.now(UTC).isoformat()
    for role in WITHOUT_A_NEED:
        assert read(intake, role, f"/complaints/{intake.ids['complaint_id']}").status_code == 200
        path = f"/complaints/{escalation.ids['complaint_id']}"
        assert read(escalation, role, path).status_code == 200
    assert read(intake, "agent", "/healthz").status_code == 200
    assert read(escalation, "duty_manager", "/queues/mine").status_code == 200
    assert access_log(intake, since=since) == []
    assert access_log(escalation, since=since) == []


@pytest.mark.parametrize("name", ["intake", "escalation", "notify"])
def test_only_an_administrator_reads_the_access_log(
    planted: Callable[[str], Running], name: str
) -> None:
    service = planted(name)
    for role in ("viewer", "qa", "agent", "duty_manager", "supervisor", "department"):
        answer = read(service, role, "/access-log")
        assert answer.status_code == 403, (role, answer.text)
    assert read(service, "admin", "/access-log").status_code == 200


def test_reading_the_log_is_a_read_of_the_customers_it_shows(
    planted: Callable[[str], Running],
) -> None:
    intake = planted("intake")
    read(intake, "agent", f"/complaints/{intake.ids['complaint_id']}")
    since = datetime.now(UTC).isoformat()
    shown_to_admin = access_log(intake, customer=CUSTOMER.e164)
    assert shown_to_admin
    audited = access_log(intake, staff="AD01", since=since)
    assert audited[-1]["route"] == "/access-log"
    assert audited[-1]["customer"] == CUSTOMER.e164


def test_the_access_log_names_what_is_wrong_with_a_query(
    planted: Callable[[str], Running],
) -> None:
    intake = planted("intake")
    for params in ({"customer": "not a phone"}, {"since": "2026-12-01T00:00:00"}, {"cursor": "x"}):
        answer = read(intake, "admin", "/access-log", **params)
        assert answer.status_code == 422, answer.text
        assert answer.json()["message"]
    unknown = read(intake, "admin", "/access-log", complaint=str(uuid.uuid4()))
    assert unknown.json()["items"] == []
