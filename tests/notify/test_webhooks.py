"""The provider's calls: SMS people send us and delivery receipts, refused unless signed.
Signatures are computed with the official `twilio` package, an independent
implementation of X-Twilio-Signature."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from services.notify.main import create_app
from shared.contracts import SMS_DELIVERED, SMS_FAILED, SMS_INBOUND
from tests.notify.conftest import (
    CUSTOMER,
    DM01,
    Notify,
    lifecycle_event,
    received_event,
    recipient,
)

pytestmark = pytest.mark.postgres

INBOUND = "http://testserver/webhooks/sms/inbound"
STATUS = "http://testserver/webhooks/sms/status"


class Provider:
    """What the SMS provider sends us, signed with the account's auth token."""

    def __init__(self, client: TestClient, auth_token: str) -> None:
        self.client = client
        self.validator = RequestValidator(auth_token)

    def post(self, url: str, form: dict[str, str], *, signature: str | None = None) -> Any:
        sig = self.validator.compute_signature(url, form) if signature is None else signature
        return self.client.post(
            url.removeprefix("http://testserver"),
            data=form,
            headers={"X-Twilio-Signature": sig} if sig else {},
        )

    def sms(self, phone: str, text: str, sid: str | None = None) -> Any:
        form = {
            "MessageSid": sid or "SM" + uuid.uuid4().hex,
            "AccountSid": "AC1",
            "From": phone,
            "To": "+8610690000",
            "Body": text,
        }
        return self.post(INBOUND, form)

    def receipt(self, message: Any, status: str, **extra: str) -> Any:
        form = {
            "MessageSid": message.provider_message_id or "SMx",
            "MessageStatus": status,
            "To": message.phone,
            **extra,
        }
        return self.post(f"{STATUS}?message_id={message.id}", form)


@pytest.fixture
def api(notify: Notify) -> Iterator[TestClient]:
    with TestClient(create_app(notify.env.settings, notify.config)) as client:
        yield client


@pytest.fixture
def provider(api: TestClient, notify: Notify) -> Provider:
    return Provider(api, notify.config.twilio_auth_token)


def inbound_events(notify: Notify) -> list[Any]:
    return [e for e in notify.events() if e.type == SMS_INBOUND.name]


def assigned_to_dm01(notify: Notify, **fields: Any) -> Any:
    received = received_event(**fields)
    notify.deliver(received)
    notify.deliver(
        lifecycle_event("complaint.assigned", received, [recipient("duty_manager", DM01, "DM01")])
    )
    return received


def test_a_duty_manager_replies_1_and_the_complaint_he_was_told_about_is_acknowledged(
    notify: Notify, provider: Provider
) -> None:
    received = assigned_to_dm01(notify)
    answer = provider.sms(DM01, "1")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/xml")
    assert "<Response>" in answer.text
    (event,) = inbound_events(notify)
    assert event.payload["intent"] == "ack"
    assert event.payload["complaint_id"] == received.complaint_id
    assert event.payload["staff_id"] == "DM01"
    assert event.complaint_id == received.complaint_id  # keyed by the complaint
    stored = notify.messages(direction="in")[0]
    prompt = notify.messages(phone=DM01, direction="out")[0]
    assert (stored.intent, stored.in_reply_to) == ("ack", prompt.id)


def test_a_reply_naming_a_reference_answers_that_complaint_not_the_newest(
    notify: Notify, provider: Provider
) -> None:
    first = assigned_to_dm01(notify)
    second = assigned_to_dm01(notify)
    provider.sms(DM01, f"收到 {first.payload['reference']}")
    provider.sms(DM01, "OK")
    acks = [(e.payload["intent"], e.payload["complaint_id"]) for e in inbound_events(notify)]
    assert acks == [("ack", first.complaint_id), ("ack", second.complaint_id)]


def test_a_customer_replies_2_to_the_satisfaction_question(
    notify: Notify, provider: Provider
) -> None:
    received = received_event()
    notify.deliver(received)
    notify.deliver(
        lifecycle_event(
            "complaint.replied",
            received,
            [recipient("customer", CUSTOMER)],
            to_state="replied",
            resolution="已退还多扣的 30 元",
        )
    )
    provider.sms(CUSTOMER, "2")
    provider.sms(CUSTOMER, "钱还没到账，请再查一下")
    events = inbound_events(notify)
    assert [(e.payload["intent"], e.payload["complaint_id"]) for e in events] == [
        ("unsatisfied", received.complaint_id),
        ("message", received.complaint_id),
    ]
    assert events[1].payload["text"] == "钱还没到账，请再查一下"
    assert events[0].payload["staff_id"] is None
    assert events[0].actor.role == "customer"


def test_a_text_from_a_stranger_is_kept_as_a_message_about_nothing(
    notify: Notify, provider: Provider
) -> None:
    provider.sms("+8613611112222", "你好")
    (event,) = inbound_events(notify)
    assert (event.payload["intent"], event.payload["complaint_id"]) == ("message", None)


def test_a_provider_calling_twice_with_the_same_sms_records_it_once(
    notify: Notify, provider: Provider
) -> None:
    assigned_to_dm01(notify)
    for _ in range(2):
        assert provider.sms(DM01, "1", sid="SM" + "a" * 32).status_code == 200
    assert len(inbound_events(notify)) == 1
    assert len(notify.messages(direction="in")) == 1


def test_unsigned_or_badly_signed_calls_are_refused_and_change_nothing(
    notify: Notify, provider: Provider, api: TestClient
) -> None:
    assigned_to_dm01(notify)
    form = {"MessageSid": "SM1", "From": DM01, "To": "+8610690000", "Body": "1"}
    assert provider.post(INBOUND, form, signature="").status_code == 401
    assert provider.post(INBOUND, form, signature="bm90IGEgc2lnbmF0dXJl").status_code == 401
    # Signed with another account's token.
    other = RequestValidator("someone-elses-token").compute_signature(INBOUND, form)
    assert provider.post(INBOUND, form, signature=other).status_code == 401
    # Signed for other parameters than those sent.
    tampered = provider.validator.compute_signature(INBOUND, {**form, "Body": "2"})
    answer = provider.post(INBOUND, form, signature=tampered)
    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthorized"
    sent = notify.messages(phone=DM01)[0]
    status = {"MessageSid": "SM1", "MessageStatus": "delivered"}
    assert provider.post(f"{STATUS}?message_id={sent.id}", status, signature="x").status_code == 401
    assert inbound_events(notify) == []
    assert notify.messages(direction="in") == []
    assert notify.messages(phone=DM01)[0].status == "pending"


def test_opting_out_stops_customer_sms_with_one_confirmation_and_start_resumes(
    notify: Notify, provider: Provider
) -> None:
    provider.sms(CUSTOMER, "退订")
    provider.sms(CUSTOMER, "TD")  # already out: no second confirmation
    confirmations = notify.messages(phone=CUSTOMER, direction="out")
    assert [m.template for m in confirmations] == ["customer_opted_out"]
    assert "回复START可恢复接收" in confirmations[0].body
    assert [e.payload["intent"] for e in inbound_events(notify)] == ["opt_out", "opt_out"]

    notify.deliver(received_event())
    suppressed = notify.messages(phone=CUSTOMER, template="customer_received")[0]
    assert suppressed.status == "suppressed"

    provider.sms(CUSTOMER, "START")
    notify.deliver(received_event())
    templates = [(m.template, m.status) for m in notify.messages(phone=CUSTOMER, direction="out")]
    assert templates[-2:] == [("customer_opted_in", "pending"), ("customer_received", "pending")]


def test_delivery_receipts_move_a_message_forward_only_and_may_come_twice(
    notify: Notify, provider: Provider
) -> None:
    assigned_to_dm01(notify)
    message = notify.messages(phone=DM01)[0]
    assert provider.receipt(message, "sent").status_code == 200
    assert notify.messages(phone=DM01)[0].status == "sent"
    for _ in range(2):
        assert provider.receipt(message, "delivered").status_code == 200
    assert provider.receipt(message, "sent").status_code == 200  # late, out of order
    after = notify.messages(phone=DM01)[0]
    assert after.status == "delivered"
    assert after.finished_at is not None
    assert [e.type for e in notify.events()].count(SMS_DELIVERED.name) == 1
    # A final state is final: a failure reported afterwards changes nothing.
    provider.receipt(message, "undelivered", ErrorCode="30003")
    assert notify.messages(phone=DM01)[0].status == "delivered"
    assert SMS_FAILED.name not in [e.type for e in notify.events()]


def test_an_undelivered_receipt_fails_the_message_and_says_why(
    notify: Notify, provider: Provider
) -> None:
    assigned_to_dm01(notify)
    message = notify.messages(phone=DM01)[0]
    provider.receipt(message, "undelivered", ErrorCode="30003")
    failed = notify.messages(phone=DM01)[0]
    assert (failed.status, failed.last_error) == ("failed", "undelivered (error 30003)")
    (event,) = [e for e in notify.events() if e.type == SMS_FAILED.name]
    assert event.payload["message_id"] == message.id
    assert event.payload["error"] == "undelivered (error 30003)"


def test_the_message_log_shows_a_complaints_sms_with_delivery_status(
    notify: Notify, provider: Provider, api: TestClient
) -> None:
    received = assigned_to_dm01(notify)
    provider.sms(DM01, "1")
    manager = notify.env.token("duty_manager", "DM01")
    answer = api.get("/messages", params={"complaint_id": received.complaint_id}, headers=manager)
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [(m["direction"], m["phone"], m["template"]) for m in items] == [
        ("out", DM01, "staff_ack_confirmed"),  # what the "1" did, answered at once
        ("in", DM01, None),
        ("out", DM01, "staff_assigned"),
        ("out", CUSTOMER, "customer_received"),
    ]
    assert [m["status"] for m in items] == ["pending", "received", "pending", "pending"]
    by_phone = api.get("/messages", params={"phone": "138 0013 8000"}, headers=manager).json()
    assert [m["template"] for m in by_phone["items"]] == ["customer_received"]
    qa = api.get("/messages", headers=notify.env.token("qa", "Q01")).json()["items"]
    assert {m["phone"] for m in qa} == {"+86139****9001", "+86138****8000"}
    page = api.get("/messages", params={"limit": 2}, headers=manager).json()
    rest = api.get("/messages", params={"cursor": page["next_cursor"]}, headers=manager).json()
    assert [m["id"] for m in page["items"] + rest["items"]] == [m["id"] for m in items]
    assert api.get("/messages").status_code == 401
    assert api.get("/messages", headers=notify.env.token("viewer", "V1")).status_code == 403
    bad = api.get("/messages", params={"status": "lost"}, headers=manager)
    assert bad.status_code == 422
    assert "status" in bad.json()["message"]


# -- a duty manager's "1" with several complaints waiting ----------------------------------


def answers_to(notify: Notify, phone: str) -> list[Any]:
    """What notify texted back to a person's replies, oldest first."""
    return [m for m in notify.messages(phone=phone) if (m.template or "").startswith("staff_ack")]


def test_a_bare_1_with_several_complaints_waiting_acknowledges_none_and_asks_which(
    notify: Notify, provider: Provider
) -> None:
    first = assigned_to_dm01(notify)
    second = assigned_to_dm01(notify)
    a, b = first.payload["reference"], second.payload["reference"]

    provider.sms(DM01, "1")
    (guess,) = inbound_events(notify)
    assert (guess.payload["intent"], guess.payload["complaint_id"]) == ("ack", None)
    (which,) = answers_to(notify, DM01)
    assert which.body == (f"您有 2 件投诉待确认：{b}, {a}。请回复“1 编号”确认其中一件，如“1 {b}”。")

    # He names the one he means; the answer says so, and what still waits.
    provider.sms(DM01, f"1 {a}")
    named = inbound_events(notify)[-1]
    assert (named.payload["intent"], named.payload["complaint_id"]) == ("ack", first.complaint_id)
    confirmed = answers_to(notify, DM01)[-1]
    assert confirmed.body.startswith(
        f"已收到您对投诉 {a}（账单计费）的确认。另有 1 件待确认：{b}，回复“1 编号”确认。"
    )

    # Now one waits, so a bare "1" is that one.
    provider.sms(DM01, "收到")
    last = inbound_events(notify)[-1]
    assert (last.payload["intent"], last.payload["complaint_id"]) == ("ack", second.complaint_id)
    assert answers_to(notify, DM01)[-1].body.startswith(
        f"已收到您对投诉 {b}（账单计费）的确认。详情："
    )


def test_a_bare_1_answers_the_complaint_still_waiting_not_the_newest_already_acknowledged(
    notify: Notify, provider: Provider
) -> None:
    older = assigned_to_dm01(notify)
    newer = assigned_to_dm01(notify)
    # The newer one was acknowledged on the workbench; escalation says so.
    notify.deliver(lifecycle_event("complaint.acknowledged", newer, [], action="acknowledge"))
    provider.sms(DM01, "1")
    (event,) = inbound_events(notify)
    assert (event.payload["intent"], event.payload["complaint_id"]) == ("ack", older.complaint_id)
    (answer,) = answers_to(notify, DM01)
    assert answer.body.startswith(
        f"已收到您对投诉 {older.payload['reference']}（账单计费）的确认。"
    )


def test_a_1_when_nothing_waits_acknowledges_nothing_and_says_so(
    notify: Notify, provider: Provider
) -> None:
    received = assigned_to_dm01(notify)
    notify.deliver(
        lifecycle_event(
            "complaint.dispatched",
            received,
            [],
            action="dispatch",
            to_state="dispatched",
            department_id="billing",
        )
    )
    provider.sms(DM01, "1")
    (event,) = inbound_events(notify)
    assert (event.payload["intent"], event.payload["complaint_id"]) == ("ack", None)
    (answer,) = answers_to(notify, DM01)
    assert answer.body.startswith("目前没有待您确认的投诉，您的回复未作处理。")


def test_a_reply_to_a_digest_naming_a_reference_acknowledges_that_complaint(
    make_notify: Any,
) -> None:
    from datetime import UTC, datetime, timedelta

    from services.notify.messages.digests import send_digests

    notify: Notify = make_notify(staff_rate_limit=1, staff_rate_window_seconds=60)
    complaints = [assigned_to_dm01(notify) for _ in range(3)]
    with notify.env.db.transaction() as session:
        send_digests(session, notify.ctx, now=datetime.now(UTC) + timedelta(seconds=61))
    with TestClient(create_app(notify.env.settings, notify.config)) as client:
        phone = Provider(client, notify.config.twilio_auth_token)
        held = complaints[2]
        phone.sms(DM01, f"1 {held.payload['reference']}")
    (event,) = inbound_events(notify)
    assert (event.payload["intent"], event.payload["complaint_id"]) == ("ack", held.complaint_id)
