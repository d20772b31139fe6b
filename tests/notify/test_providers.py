"""The provider adapters against fake providers (httpx's MockTransport): what they send,
how they read answers and callbacks, and which failures are worth retrying. Signatures
are checked against the official `twilio` package."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from twilio.request_validator import RequestValidator

from services.notify.providers import (
    JasminProvider,
    Outgoing,
    PermanentSendError,
    SendError,
    TransientSendError,
    TwilioProvider,
    UncertainSendError,
    WebhookRequest,
)
from services.notify.providers.twilio import signature, valid_signature

TOKEN = "12345678901234567890123456789012"
SMS_ZH = Outgoing(
    "m-1", "+8613800138000", "您的投诉已受理", "UCS-2", "https://n.example/cb?message_id=m-1"
)
SMS_EN = Outgoing("m-2", "+447700900123", "Your complaint is closed.", "GSM-7", None)


def client(handler: Any) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(handler))


def twilio() -> TwilioProvider:
    return TwilioProvider(
        base_url="https://api.example", account_sid="AC1", auth_token=TOKEN, sender="+8610690000"
    )


@pytest.mark.parametrize(
    ("url", "params"),
    [
        (
            "https://notify.example.com/webhooks/sms/inbound",
            {"From": "+8613900139001", "Body": "1"},
        ),
        ("https://n.example/webhooks/sms/status?message_id=a-b", {"MessageStatus": "delivered"}),
        ("http://127.0.0.1:8003/webhooks/sms/inbound", {"Body": "收到 TS20261122-000001", "A": ""}),
        ("https://n.example/x", {}),
    ],
)
def test_our_signature_is_twilios(url: str, params: dict[str, str]) -> None:
    validator = RequestValidator(TOKEN)
    ours = signature(TOKEN, url, params.items())
    assert ours == validator.compute_signature(url, params)
    assert validator.validate(url, params, ours)
    assert valid_signature(TOKEN, url, params.items(), validator.compute_signature(url, params))


def test_a_signature_over_the_address_with_or_without_its_default_port_is_accepted() -> None:
    params = {"Body": "1"}
    signed = RequestValidator(TOKEN).compute_signature("https://n.example:443/in", params)
    assert valid_signature(TOKEN, "https://n.example/in", params.items(), signed)
    assert not valid_signature(TOKEN, "https://n.example/other", params.items(), signed)


def test_twilio_send_posts_the_form_with_basic_auth_and_the_status_callback() -> None:
    seen: list[httpx.Request] = []

    def provider(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"sid": "SM123", "status": "queued"})

    with client(provider) as http:
        submitted = twilio().send(http, SMS_ZH)
    assert (submitted.provider_message_id, submitted.state) == ("SM123", "submitted")
    (request,) = seen
    assert request.url == "https://api.example/2010-04-01/Accounts/AC1/Messages.json"
    assert request.headers["authorization"].startswith("Basic ")
    assert request.headers["idempotency-key"] == "m-1"
    form = dict(parse_qsl(request.content.decode()))
    assert form == {
        "To": "+8613800138000",
        "Body": "您的投诉已受理",
        "From": "+8610690000",
        "StatusCallback": "https://n.example/cb?message_id=m-1",
    }


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, TransientSendError),
        (500, TransientSendError),
        (503, TransientSendError),
        (400, PermanentSendError),
        (401, PermanentSendError),
        (404, PermanentSendError),
    ],
)
def test_twilio_answers_are_retried_only_when_worth_it(status: int, error: type) -> None:
    def provider(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"code": 21211, "message": "Invalid 'To'"})

    with client(provider) as http, pytest.raises(error) as caught:
        twilio().send(http, SMS_EN)
    assert caught.value.retry is (error is TransientSendError)
    assert str(status) in str(caught.value)


def test_no_connection_is_safe_to_retry_and_a_lost_answer_is_uncertain() -> None:
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with client(refused) as http, pytest.raises(TransientSendError) as caught:
        twilio().send(http, SMS_EN)
    assert not isinstance(caught.value, UncertainSendError)
    with client(slow) as http, pytest.raises(UncertainSendError):
        twilio().send(http, SMS_EN)


def test_twilio_lookup_finds_an_uncertain_send_by_number_and_text() -> None:
    def provider(request: httpx.Request) -> httpx.Response:
        assert request.url.params["To"] == SMS_EN.to
        assert request.url.params["DateSent>"] == "2026-11-22T08:00:00Z"
        return httpx.Response(
            200,
            json={
                "messages": [
                    {"sid": "SM1", "to": SMS_EN.to, "body": "another", "status": "sent"},
                    {"sid": "SM2", "to": SMS_EN.to, "body": SMS_EN.body, "status": "delivered"},
                ]
            },
        )

    with client(provider) as http:
        found = twilio().lookup(http, SMS_EN, datetime(2026, 11, 22, 8, tzinfo=UTC))
    assert found is not None
    assert (found.provider_message_id, found.state) == ("SM2", "delivered")


def test_twilio_lookup_reads_on_to_the_page_that_holds_the_message() -> None:
    """A duty manager's phone gets hundreds of messages in the look-up's window: the
    one looked for may be on a later page, whose address the list gives."""
    pages = []

    def provider(request: httpx.Request) -> httpx.Response:
        pages.append(str(request.url))
        page = int(request.url.params.get("Page", "0"))
        others = [{"sid": f"SM{page}{n}", "to": SMS_EN.to, "body": f"notice {n}"} for n in range(3)]
        if page < 2:
            following = f"/2010-04-01/Accounts/AC1/Messages.json?To=x&Page={page + 1}&PageToken=P"
            return httpx.Response(200, json={"messages": others, "next_page_uri": following})
        mine = {"sid": "SM9", "to": SMS_EN.to, "body": SMS_EN.body, "status": "sent"}
        return httpx.Response(200, json={"messages": [*others, mine], "next_page_uri": None})

    with client(provider) as http:
        found = twilio().lookup(http, SMS_EN, datetime(2026, 11, 22, 8, tzinfo=UTC))
    assert found is not None and found.provider_message_id == "SM9"
    assert len(pages) == 3
    assert (
        pages[2]
        == "https://api.example/2010-04-01/Accounts/AC1/Messages.json?To=x&Page=2&PageToken=P"
    )


def test_twilio_lookup_that_cannot_read_the_whole_list_leaves_the_send_uncertain() -> None:
    """Not found is only said of a list read to its end; otherwise the message is not
    sent again, it is looked up again later."""

    def endless(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("Page", "0"))
        return httpx.Response(
            200,
            json={
                "messages": [{"sid": f"SM{page}", "to": SMS_EN.to, "body": "another"}],
                "next_page_uri": f"/2010-04-01/Accounts/AC1/Messages.json?Page={page + 1}",
            },
        )

    def ends(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"messages": [], "next_page_uri": None})

    with client(endless) as http, pytest.raises(SendError, match="without reaching the end"):
        twilio().lookup(http, SMS_EN, datetime(2026, 11, 22, 8, tzinfo=UTC))
    with client(ends) as http:
        assert twilio().lookup(http, SMS_EN, datetime(2026, 11, 22, 8, tzinfo=UTC)) is None


def test_twilio_callbacks_are_read_into_receipts_and_inbound_messages() -> None:
    provider = twilio()
    status = WebhookRequest(
        url="https://n.example/webhooks/sms/status?message_id=m-1",
        form=[("MessageSid", "SM1"), ("MessageStatus", "undelivered"), ("ErrorCode", "30003")],
    )
    (receipt,) = provider.receipts(status)
    assert (receipt.provider_message_id, receipt.message_id, receipt.state) == (
        "SM1",
        "m-1",
        "failed",
    )
    assert receipt.error == "undelivered (error 30003)"
    inbound = provider.inbound(
        WebhookRequest(
            url="x", form=[("From", "+8613900139001"), ("Body", "1"), ("MessageSid", "SM9")]
        )
    )
    assert (inbound.phone, inbound.text, inbound.provider_message_id) == (
        "+8613900139001",
        "1",
        "SM9",
    )


def jasmin() -> JasminProvider:
    return JasminProvider(
        base_url="http://jasmin:1401",
        username="notify",
        password="pw",
        sender="10690000",
        callback_secret="s3cret",
    )


def test_jasmin_sends_chinese_as_ucs2_hex_and_asks_for_receipts_at_a_secret_address() -> None:
    seen: list[dict[str, str]] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        assert request.url == "http://jasmin:1401/send"
        seen.append(dict(parse_qsl(request.content.decode())))
        return httpx.Response(200, text='Success "07033084-5cfd-4812-90a4-e4d24ffb6e3d"')

    with client(gateway) as http:
        submitted = jasmin().send(http, SMS_ZH)
        jasmin().send(http, SMS_EN)
    assert submitted.provider_message_id == "07033084-5cfd-4812-90a4-e4d24ffb6e3d"
    chinese, english = seen
    assert chinese["to"] == "8613800138000"
    assert chinese["coding"] == "8"
    assert bytes.fromhex(chinese["hex-content"]).decode("utf-16-be") == "您的投诉已受理"
    assert chinese["dlr"] == "yes" and chinese["dlr-level"] == "3"
    assert chinese["dlr-url"] == "https://n.example/cb?message_id=m-1&secret=s3cret"
    assert (english["coding"], english["content"]) == ("0", "Your complaint is closed.")
    assert "dlr-url" not in english


def test_jasmin_errors_and_callbacks() -> None:
    answers = [
        (httpx.Response(400, text='Error "Mandatory argument [to] is not found."'), False),
        (httpx.Response(200, text="Error"), False),
        (httpx.Response(503, text="busy"), True),
    ]
    for answer, retry in answers:
        with (
            client(lambda r, a=answer: a) as http,
            pytest.raises(PermanentSendError if not retry else TransientSendError),
        ):
            jasmin().send(http, SMS_EN)
    provider = jasmin()
    signed = "https://n.example/webhooks/sms/status?message_id=m-1&secret=s3cret"
    receipt_call = WebhookRequest(
        url=signed, form=[("id", "uuid-1"), ("message_status", "DELIVRD")]
    )
    assert provider.verify(receipt_call)
    assert not provider.verify(WebhookRequest(url=signed.replace("s3cret", "guess"), form=[]))
    (receipt,) = provider.receipts(receipt_call)
    assert (receipt.state, receipt.message_id, receipt.provider_message_id) == (
        "delivered",
        "m-1",
        "uuid-1",
    )
    inbound = provider.inbound(
        WebhookRequest(
            url=signed,
            form=[
                ("from", "8613800138000"),
                ("coding", "8"),
                ("binary", "90008ba2"),
                ("id", "mo1"),
            ],
        )
    )
    assert (inbound.phone, inbound.text) == ("+8613800138000", "退订")
    assert provider.acknowledge("inbound") == ("ACK/Jasmin", "text/plain")
