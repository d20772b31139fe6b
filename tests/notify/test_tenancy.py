"""One centre answers for two clients, a water company and a gas company: each client's
SMS go out under its own name, in its own words, from its own number; a reply is read
against the client whose number was texted; a duty manager's digest, a hand-over summary
and a hot-issue alert are one client's each; an event naming the wrong client is refused;
and one client's staff never read another's SMS."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.notify.handlers import make_context
from services.notify.main import create_app
from services.notify.messages import digests, service
from services.notify.messages.inbound import receive
from services.notify.providers.base import Inbound
from services.notify.rendering import TemplateError
from shared.auth.store import grant_outside_directory, issue_token
from shared.contracts import SMS_INBOUND
from shared.events import Envelope
from shared.settings import Settings
from shared.topics import COMPLAINTS_LIFECYCLE, INTAKE_EVENTS
from tests.conftest import ServiceEnv
from tests.notify.conftest import (
    BILLING_DESK,
    CUSTOMER,
    DM01,
    DM02,
    SUPERVISOR,
    Live,
    Notify,
    handed_over_event,
    hot_issue_event,
    lifecycle_event,
    received_event,
    recipient,
)
from tests.notify.test_hot_issues import consumer_of, read

pytestmark = pytest.mark.postgres

WATER_SENDER = "+8610690001"
GAS_SENDER = "+8610690002"
WATER_SIGN = "【清源水务】"
GAS_SIGN = "【蓝焰燃气】"
GAS_DESK = "+8613700137002"  # gas's own billing desk (water's is BILLING_DESK)
GAS_DM = "+8613900139011"  # on duty at gas's own roster
GAS_DM_NEXT = "+8613900139012"


@pytest.fixture
def two_clients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Water signs 【清源水务】 and texts from its own number with its own acknowledgement;
    gas likewise, with categories of its own and a duty roster of its own. Any other
    template is the centre's."""
    water_templates = tmp_path / "water-templates"
    water_templates.mkdir()
    (water_templates / "zh-CN.toml").write_text(
        '[templates.customer_received]\ntext = "您反映的用水问题已受理，受理编号 {reference}。"\n',
        encoding="utf-8",
    )
    gas_templates = tmp_path / "gas-templates"
    gas_templates.mkdir()
    (gas_templates / "zh-CN.toml").write_text(
        "[templates.customer_received]\n"
        'text = "燃气投诉已受理，受理编号 {reference}。闻到燃气味请开窗并拨打96777。"\n',
        encoding="utf-8",
    )
    (tmp_path / "gas-taxonomy.json").write_text(
        json.dumps(
            {"categories": [{"id": "leak", "zh": "燃气泄漏", "en": "Gas leak"}]},
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    clients = {
        "tenants": [
            {
                "id": "water",
                "zh": "清源水务",
                "numbers": ["96390"],
                "sign_name": WATER_SIGN,
                "sender": WATER_SENDER,
                "templates_dir": "water-templates",
            },
            {
                "id": "gas",
                "zh": "蓝焰燃气",
                "numbers": ["96777"],
                "sign_name": GAS_SIGN,
                "sender": GAS_SENDER,
                "templates_dir": "gas-templates",
                "taxonomy_file": "gas-taxonomy.json",
                "own_roster": True,
            },
        ]
    }
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps(clients, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setenv("TENANTS_FILE", str(path))
    return path


def of(client: str, envelope: Envelope, **payload: Any) -> Envelope:
    """The event as the client's: its envelope names the client (and its payload, given
    fields, e.g. a hand-over's roster)."""
    return envelope.model_copy(
        update={"tenant": client, "payload": {**envelope.payload, **payload}}
    )


def at(when: datetime, envelope: Envelope) -> Envelope:
    return envelope.model_copy(update={"occurred_at": when})


def registered(client: str, **fields: Any) -> Envelope:
    return of(client, received_event(**fields))


def assigned(received: Envelope, phone: str = DM01, staff_id: str = "DM01") -> Envelope:
    """The complaint given to the duty manager at the desk answering for its client."""
    return of(
        received.tenant,
        lifecycle_event(
            "complaint.assigned",
            received,
            [recipient("duty_manager", phone, staff_id)],
            from_state="received",
            holder_staff_id=staff_id,
            history_seq=1,
        ),
    )


def replied(received: Envelope) -> Envelope:
    return of(
        received.tenant,
        lifecycle_event(
            "complaint.replied",
            received,
            [recipient("customer", CUSTOMER)],
            to_state="replied",
            resolution="已上门处理",
            history_seq=5,
        ),
    )


def dispatched(received: Envelope, desk: str) -> Envelope:
    return of(
        received.tenant,
        lifecycle_event(
            "complaint.dispatched",
            received,
            [recipient("department", desk)],
            to_state="dispatched",
            department_id="billing",
            history_seq=3,
        ),
    )


def send_all(notify: Notify) -> None:
    sender = notify.sender()
    try:
        while sender.send_due():
            pass
    finally:
        sender.close()


# -- each client's SMS under its own name -----------------------------------------------


def test_one_phone_complaining_to_both_clients_hears_from_each_under_its_name_and_number(
    two_clients: Path, live: Callable[..., Live]
) -> None:
    service_ = live()
    notify = service_.notify
    water = registered("water", category="billing")
    gas = registered("gas", category="leak")
    for event in (water, gas, assigned(gas)):
        assert notify.deliver(event)
    send_all(notify)

    got = {m["body"]: m["number"] for m in service_.phones.received(CUSTOMER)}
    water_ref, gas_ref = water.payload["reference"], gas.payload["reference"]
    assert got == {
        f"{WATER_SIGN}您反映的用水问题已受理，受理编号 {water_ref}。": WATER_SENDER,
        f"{GAS_SIGN}燃气投诉已受理，受理编号 {gas_ref}。闻到燃气味请开窗并拨打96777。": GAS_SENDER,
    }
    # gas's duty manager reads the centre's own template, signed by gas, with gas's category
    (prompt,) = service_.phones.received(DM01)
    assert prompt["number"] == GAS_SENDER
    assert prompt["body"].startswith(f"{GAS_SIGN}新投诉 {gas_ref}（一般/燃气泄漏）")
    stored = {m.complaint_id: m.tenant for m in notify.messages()}
    assert stored == {water.complaint_id: "water", gas.complaint_id: "gas"}
    # the sms.sent of each is its client's
    sent = [e for e in notify.events() if e.type == "sms.sent"]
    assert sorted(e.tenant for e in sent) == ["gas", "gas", "water"]


def test_a_clients_broken_template_stops_the_start_naming_its_file(
    two_clients: Path, make_notify: Callable[..., Notify]
) -> None:
    notify = make_notify()
    broken = two_clients.parent / "gas-templates" / "zh-CN.toml"
    broken.write_text('[templates.customer_received]\ntext = "已受理 {ticket}"\n', "utf-8")
    with pytest.raises(TemplateError, match=re.escape(f"{broken} [templates.customer_received]")):
        make_context(notify.config, Settings())
    app = create_app(notify.env.settings, notify.config)
    with (
        pytest.raises(TemplateError, match=re.escape("unknown placeholder {ticket}")),
        TestClient(app),
    ):
        pass


# -- replies go to the client whose number was texted -----------------------------------


def texts(notify: Notify, phone: str, text: str, to: str) -> Any:
    with notify.env.db.transaction() as session:
        sms = Inbound(phone=phone, text=text, provider_message_id=uuid.uuid4().hex, to=to)
        return receive(session, notify.ctx, "dev", sms, now=datetime.now(UTC))


def test_a_reply_is_read_against_the_client_whose_number_was_texted(
    two_clients: Path, make_notify: Callable[..., Notify]
) -> None:
    notify = make_notify()
    water, gas = registered("water"), registered("gas")
    for event in (water, gas, assigned(water), assigned(gas)):
        assert notify.deliver(event)

    # Two complaints wait for DM01's "1"; on gas's number it is gas's one.
    ack = texts(notify, DM01, "1", to=GAS_SENDER)
    assert (ack.intent, ack.complaint_id) == ("ack", gas.complaint_id)
    (confirmed,) = notify.messages(template="staff_ack_confirmed")
    assert confirmed.tenant == "gas" and confirmed.body.startswith(GAS_SIGN)
    assert water.payload["reference"] not in confirmed.body

    # Gas asked last; the customer answers water's question on water's number.
    assert notify.deliver(replied(water)) and notify.deliver(replied(gas))
    answer = texts(notify, CUSTOMER, "2", to=WATER_SENDER)
    assert (answer.intent, answer.complaint_id) == ("unsatisfied", water.complaint_id)
    verdict = [e for e in notify.events() if e.type == SMS_INBOUND.name][-1]
    assert (verdict.tenant, verdict.complaint_id) == ("water", water.complaint_id)

    # 退订 to gas's number stops gas's SMS to the customer, not water's.
    texts(notify, CUSTOMER, "退订", to=GAS_SENDER)
    (confirmation,) = notify.messages(template="customer_opted_out")
    assert confirmation.tenant == "gas" and confirmation.body.startswith(GAS_SIGN)
    closed = {"to_state": "closed", "history_seq": 9}
    notify.deliver(of("water", lifecycle_event("complaint.closed", water, [], **closed)))
    notify.deliver(of("gas", lifecycle_event("complaint.closed", gas, [], **closed)))
    closing = {m.tenant: m.status for m in notify.messages(template="customer_closed")}
    assert closing == {"water": "pending", "gas": "suppressed"}


# -- digests and summaries are one client's ----------------------------------------------


def test_a_duty_managers_digest_never_mixes_clients(
    two_clients: Path, make_notify: Callable[..., Notify]
) -> None:
    notify = make_notify(staff_rate_limit=2, staff_rate_window_seconds=60)
    complaints = [registered(client) for client in ("water", "gas") * 3]
    for received in complaints:
        notify.deliver(received)
        notify.deliver(assigned(received))
    held = notify.messages(status="held")
    assert sorted(m.tenant for m in held) == ["gas", "gas", "water", "water"]

    with notify.env.db.transaction() as session:
        made = digests.send_digests(session, notify.ctx, now=datetime.now(UTC) + timedelta(hours=1))
    assert len(made) == 2
    by_client = {m.tenant: m.body for m in notify.messages(template="staff_digest")}
    for client, sign in (("water", WATER_SIGN), ("gas", GAS_SIGN)):
        assert by_client[client].startswith(f"{sign}您有 2 条投诉通知")
        for received in complaints[2:]:
            mentioned = received.payload["reference"] in by_client[client]
            assert mentioned == (received.tenant == client)


def test_a_hand_over_at_the_shared_desk_sends_one_summary_per_client(
    two_clients: Path, make_notify: Callable[..., Notify]
) -> None:
    notify = make_notify()
    water, default = registered("water"), registered("default")
    notify.deliver(water)
    notify.deliver(default)
    shift = handed_over_event(recipient("duty_manager", DM02, "DM02"), [])
    items = [
        {"complaint_id": e.complaint_id, "reference": e.payload["reference"],
         "state": "with_duty_manager", "severity": "normal"}
        for e in (water, default)
    ]  # fmt: skip
    assert notify.deliver(of("default", shift, complaints=items))
    summaries = {m.tenant: m.body for m in notify.messages(template="staff_shift_handover")}
    assert summaries.keys() == {"water", "default"}
    assert summaries["water"].startswith(f"{WATER_SIGN}交接班：1 件")
    assert water.payload["reference"] in summaries["water"]
    assert default.payload["reference"] not in summaries["water"]


# -- the duty desk of each roster ---------------------------------------------------------


def test_a_hot_issue_of_gas_goes_to_the_duty_manager_of_gas_own_roster_and_gas_departments(
    two_clients: Path, make_notify: Callable[..., Notify]
) -> None:
    notify = make_notify()
    now = datetime.now(UTC)
    water, gas = registered("water"), registered("gas")
    notify.deliver(water)
    notify.deliver(gas)
    # gas's desk: GAS_DM took a complaint, then gas's own roster passed to the next one
    notify.deliver(at(now, assigned(gas, GAS_DM, "G-DM1")))
    to_next = handed_over_event(recipient("duty_manager", GAS_DM_NEXT, "G-DM2"), [])
    notify.deliver(at(now + timedelta(minutes=1), of("gas", to_next, roster_tenant="gas")))
    # the shared desk changed hands later still; the same department id at each client
    notify.deliver(at(now + timedelta(minutes=5), assigned(water, DM01, "DM01")))
    shared = handed_over_event(recipient("duty_manager", SUPERVISOR, "DM09"), [])
    notify.deliver(at(now + timedelta(minutes=6), of("default", shared)))
    notify.deliver(dispatched(gas, GAS_DESK))
    notify.deliver(dispatched(water, BILLING_DESK))

    assert notify.deliver(of("gas", hot_issue_event(["billing"])))
    alerts = notify.messages(template="staff_hot_issue")
    assert sorted(m.phone for m in alerts) == sorted([GAS_DM_NEXT, GAS_DESK])
    assert all(m.tenant == "gas" and m.body.startswith(GAS_SIGN) for m in alerts)

    # water has no roster of its own: its alert goes to the shared desk and water's desk
    assert notify.deliver(of("water", hot_issue_event(["billing"])))
    water_alerts = [m for m in notify.messages(template="staff_hot_issue") if m.tenant == "water"]
    assert sorted(m.phone for m in water_alerts) == sorted([SUPERVISOR, BILLING_DESK])


# -- an event naming the wrong client ----------------------------------------------------


def test_an_event_naming_another_client_for_a_known_complaint_is_dead_lettered(
    two_clients: Path, make_notify: Callable[..., Notify]
) -> None:
    notify = make_notify()
    water = registered("water")
    assert notify.deliver(water)
    before = notify.messages()
    consumer, dead = consumer_of(notify)

    read(consumer, of("gas", assigned(water)), COMPLAINTS_LIFECYCLE)
    read(consumer, of("gas", received_event(complaint_id=water.complaint_id)), INTAKE_EVENTS)
    shift = handed_over_event(recipient("duty_manager", DM02, "DM02"), [("TS1", "normal")])
    read(consumer, of("water", shift), COMPLAINTS_LIFECYCLE, offset=1)  # shared desk, not water's

    assert consumer.stats.refused == 3 and consumer.stats.handled == 0
    assert [why["dlq.error_class"] for _, why in dead.sent] == [b"tenant"] * 3
    assert dead.sent[0][1]["dlq.reason"].decode() == (
        f"'complaint.assigned' names client 'gas' for complaint {water.complaint_id}, "
        "which is client 'water's"
    )
    assert notify.messages() == before  # no SMS planned
    with notify.env.db.read() as session:
        assert service.get_contact(session, water.complaint_id).tenant == "water"
        assert service.duty_manager_now(session, roster="gas") is None
        assert service.duty_manager_now(session, roster="") is None

    # the same assignment under water's name goes through
    read(consumer, assigned(water), COMPLAINTS_LIFECYCLE, offset=2)
    assert consumer.stats.handled == 1
    assert [m.phone for m in notify.messages(event_type="complaint.assigned")] == [DM01]


# -- reading the message log -------------------------------------------------------------


@dataclass
class Reader:
    api: TestClient
    headers: dict[str, str]

    def get(self, path: str, **params: Any) -> Any:
        return self.api.get(path, params=params, headers=self.headers)


@pytest.fixture
def api(two_clients: Path, notify: Notify) -> Iterator[TestClient]:
    with TestClient(create_app(notify.env.settings, notify.config)) as client:
        yield client


def reader(env: ServiceEnv, api: TestClient, role: str, staff: str, client: str | None) -> Reader:
    with env.auth_db.transaction() as session:
        grant_outside_directory(session, staff, role, tenant=client)
        token, _ = issue_token(session, staff_id=staff, role=role)
    return Reader(api, {"Authorization": f"Bearer {token}"})


def test_a_gas_token_cannot_read_waters_sms(notify: Notify, api: TestClient) -> None:
    water, gas = registered("water"), registered("gas")
    for event in (water, gas, assigned(water), assigned(gas)):
        notify.deliver(event)
    gas_agent = reader(notify.env, api, "agent", "A-G1", "gas")
    centre_agent = reader(notify.env, api, "agent", "A-01", None)

    page = gas_agent.get("/messages").json()["items"]
    assert {m["tenant"] for m in page} == {"gas"} and len(page) == 2
    missing = gas_agent.get("/messages", complaint_id=water.complaint_id)
    assert missing.status_code == 404, missing.text
    assert gas_agent.get("/messages", tenant="water").status_code == 403
    assert gas_agent.get("/messages", phone=CUSTOMER).json()["items"] == page[-1:]

    everything = centre_agent.get("/messages").json()["items"]
    assert sorted(m["tenant"] for m in everything) == ["gas", "gas", "water", "water"]
    waters = centre_agent.get("/messages", tenant="water").json()["items"]
    assert {m["complaint_id"] for m in waters} == {water.complaint_id}
    unknown = centre_agent.get("/messages", tenant="power")
    assert unknown.status_code == 422
    assert [f["field"] for f in unknown.json()["fields"]] == ["tenant"]

    # what each read showed is logged as that client's; gas's administrator reads gas's
    gas_admin = reader(notify.env, api, "admin", "AD-G", "gas")
    log = gas_admin.get("/access-log").json()["items"]
    assert log and all(water.complaint_id not in entry["complaint_ids"] for entry in log)
    assert gas_admin.get("/access-log", tenant="water").status_code == 403
    centre_admin = reader(notify.env, api, "admin", "AD-1", None)
    shown = centre_admin.get("/access-log", tenant="water").json()["items"]
    assert shown and all(gas.complaint_id not in entry["complaint_ids"] for entry in shown)
