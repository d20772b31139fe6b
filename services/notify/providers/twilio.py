"""The Twilio-style Messages API (also the development gateway's shape).

Send: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json`, basic auth
(AccountSid:AuthToken), form fields To, From (or MessagingServiceSid), Body,
StatusCallback. Status callbacks and inbound messages are form POSTs signed with
X-Twilio-Signature: base64(HMAC-SHA1(auth token, the full URL followed by each POST
parameter's name and value, sorted by name)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import httpx

from services.notify.providers.base import (
    DeliveryState,
    Inbound,
    Outgoing,
    PermanentSendError,
    Receipt,
    SendError,
    Submitted,
    WebhookRequest,
    classify,
    refused,
)

SIGNATURE_HEADER = "X-Twilio-Signature"
# A look-up reads at most this many pages of this many messages (Twilio's own maximum).
LOOKUP_PAGES = 20
LOOKUP_PAGE_SIZE = 1000

# Twilio's message statuses in our words.
STATES: dict[str, DeliveryState] = {
    "accepted": "submitted",
    "queued": "submitted",
    "scheduled": "submitted",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """X-Twilio-Signature for a form POST to `url` with these parameters."""
    grouped: dict[str, set[str]] = {}
    for name, value in params:
        grouped.setdefault(name, set()).add(value)
    data = url + "".join(
        name + value for name in sorted(grouped) for value in sorted(grouped[name])
    )
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _url_variants(url: str) -> list[str]:
    """The URL as given, and with its default port added or removed: proxies differ in
    which one the signer saw."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    variants = [url]
    if default is None or parts.hostname is None:
        return variants
    host = parts.hostname
    if parts.port is None:
        variants.append(urlunsplit(parts._replace(netloc=f"{host}:{default}")))
    elif parts.port == default:
        variants.append(urlunsplit(parts._replace(netloc=host)))
    return variants


def valid_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]], sig: str) -> bool:
    params = list(params)
    return any(
        hmac.compare_digest(signature(auth_token, variant, params), sig)
        for variant in _url_variants(url)
    )


class TwilioProvider:
    def __init__(
        self,
        *,
        base_url: str,
        account_sid: str,
        auth_token: str,
        sender: str,
        name: str = "twilio",
        idempotent: bool = False,
    ) -> None:
        # Twilio's own API takes no idempotency key, so an uncertain send is looked up
        # before it is sent again; the development gateway recognises the key.
        self.idempotent = idempotent
        self.base_url = base_url.rstrip("/")
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.sender = sender
        self.name = name

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json"

    def send(self, client: httpx.Client, message: Outgoing) -> Submitted:
        form = {"To": message.to, "Body": message.body}
        sender = message.sender or self.sender
        if sender.startswith("MG"):
            form["MessagingServiceSid"] = sender
        else:
            form["From"] = sender
        if message.status_callback:
            form["StatusCallback"] = message.status_callback
        try:
            answer = client.post(
                self.messages_url,
                data=form,
                auth=(self.account_sid, self.auth_token),
                # Ignored by providers that do not know it; the development gateway
                # recognises a resend by it.
                headers={"Idempotency-Key": message.message_id},
            )
        except httpx.HTTPError as exc:
            raise classify(exc) from exc
        if answer.status_code >= 300:
            raise refused(answer.status_code, _error_text(answer))
        try:
            body = answer.json()
            sid = str(body["sid"])
        except (ValueError, KeyError, TypeError):
            raise PermanentSendError(
                f"provider answered {answer.status_code} without a message sid"
            ) from None
        return Submitted(sid, STATES.get(str(body.get("status", "queued")), "submitted"))

    def lookup(self, client: httpx.Client, message: Outgoing, since: datetime) -> Submitted | None:
        """Find the message among those sent to the same number since `since`, page by
        page (newest first): a duty manager's phone gets hundreds of messages in the
        window, and one not on the first page is still sent. None only when the whole
        list was read; a list too long to read raises, so the send stays uncertain and
        is looked up again rather than sent twice."""
        url: str = self.messages_url
        params: dict[str, str] | None = {
            "To": message.to,
            "DateSent>": f"{since.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
            "PageSize": str(LOOKUP_PAGE_SIZE),
        }
        for _ in range(LOOKUP_PAGES):
            try:
                answer = client.get(url, params=params, auth=(self.account_sid, self.auth_token))
            except httpx.HTTPError as exc:
                raise classify(exc) from exc
            if answer.status_code >= 300:
                raise refused(answer.status_code, _error_text(answer))
            try:
                body = answer.json()
                found = body.get("messages", [])
            except (ValueError, AttributeError):
                raise SendError("message list is not JSON") from None
            for item in found:
                if item.get("body") == message.body and item.get("to") == message.to:
                    status = STATES.get(str(item.get("status", "queued")), "submitted")
                    return Submitted(str(item["sid"]), status)
            following = body.get("next_page_uri")
            if not following:
                return None
            # The next page's address carries its own query (and Twilio's page token).
            url, params = self._absolute(str(following)), None
        raise SendError(
            f"look-up read {LOOKUP_PAGES} pages of {LOOKUP_PAGE_SIZE} messages to "
            f"{message.to} without reaching the end"
        )

    def _absolute(self, uri: str) -> str:
        if uri.startswith(("http://", "https://")):
            return uri
        parts = urlsplit(self.base_url)
        return urlunsplit((parts.scheme, parts.netloc, "", "", "")) + uri

    def verify(self, request: WebhookRequest) -> bool:
        sig = request.headers.get(SIGNATURE_HEADER.lower())
        if not sig:
            return False
        return valid_signature(self.auth_token, request.url, request.form, sig)

    def receipts(self, request: WebhookRequest) -> list[Receipt]:
        status = (request.get("MessageStatus") or request.get("SmsStatus") or "").lower()
        state = STATES.get(status)
        if state is None:
            return []
        code = request.get("ErrorCode")
        error = f"{status} (error {code})" if code else (status if state == "failed" else None)
        query = dict(_query(request.url))
        return [
            Receipt(
                provider_message_id=request.get("MessageSid") or request.get("SmsSid"),
                state=state,
                message_id=query.get("message_id"),
                error=error,
                raw_status=status,
            )
        ]

    def inbound(self, request: WebhookRequest) -> Inbound:
        return Inbound(
            phone=request.get("From") or "",
            text=request.get("Body") or "",
            provider_message_id=request.get("MessageSid") or request.get("SmsSid"),
            to=request.get("To"),
        )

    def acknowledge(self, kind: Literal["status", "inbound"]) -> tuple[str, str]:
        # An empty TwiML answer: no automatic reply (confirmations go out as messages).
        return '<?xml version="1.0" encoding="UTF-8"?><Response></Response>', "text/xml"


def _error_text(answer: httpx.Response) -> str:
    try:
        body = answer.json()
        return f"{body.get('code', '')} {body.get('message', '')}".strip() or answer.text
    except ValueError:
        return answer.text


def _query(url: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(urlsplit(url).query, keep_blank_values=True)
