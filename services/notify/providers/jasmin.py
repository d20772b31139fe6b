"""A Jasmin-style HTTP gateway (open-source, in front of SMPP carriers, often on premises).

Send: `POST <url>/send` with username, password, to, from, coding, content (or
hex-content for UCS-2), dlr=yes, dlr-url, dlr-level, dlr-method; it answers
`Success "<uuid>"`. Delivery receipts and inbound (MO) messages are HTTP calls to our
URLs, which must answer 200 with the body `ACK/Jasmin` or Jasmin calls again.

Jasmin signs nothing, so the URLs it calls carry a secret (`?secret=…`), checked here.
"""

from __future__ import annotations

import hmac
import re
from datetime import datetime
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from services.notify.providers.base import (
    DeliveryState,
    Inbound,
    Outgoing,
    PermanentSendError,
    Receipt,
    Submitted,
    WebhookRequest,
    classify,
    refused,
)

_SUCCESS = re.compile(r'^Success\s+"([^"]+)"')

# SMPP delivery states (level 2/3 receipts) and the submit answer (level 1) in our words.
STATES: dict[str, DeliveryState] = {
    "ESME_ROK": "sent",
    "ACCEPTD": "sent",
    "ENROUTE": "sent",
    "DELIVRD": "delivered",
    "UNDELIV": "failed",
    "REJECTD": "failed",
    "EXPIRED": "failed",
    "DELETED": "failed",
    "UNKNOWN": "failed",
}


class JasminProvider:
    name = "jasmin"
    idempotent = False

    def __init__(
        self,
        *,
        base_url: str,
        username: str,
        password: str,
        sender: str,
        callback_secret: str,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.sender = sender
        self.callback_secret = callback_secret

    def _with_secret(self, url: str) -> str:
        if not self.callback_secret:
            return url
        parts = urlsplit(url)
        query = [*parse_qsl(parts.query), ("secret", self.callback_secret)]
        return urlunsplit(parts._replace(query=urlencode(query)))

    def send(self, client: httpx.Client, message: Outgoing) -> Submitted:
        form = {
            "username": self.username,
            "password": self.password,
            "to": message.to.lstrip("+"),
            "from": message.sender or self.sender,
        }
        if message.encoding == "UCS-2":
            form["coding"] = "8"
            form["hex-content"] = message.body.encode("utf-16-be").hex()
        else:
            form["coding"] = "0"
            form["content"] = message.body
        if message.status_callback:
            form.update(
                {
                    "dlr": "yes",
                    "dlr-url": self._with_secret(message.status_callback),
                    "dlr-level": "3",
                    "dlr-method": "POST",
                }
            )
        try:
            answer = client.post(f"{self.base_url}/send", data=form)
        except httpx.HTTPError as exc:
            raise classify(exc) from exc
        if answer.status_code >= 300:
            raise refused(answer.status_code, answer.text)
        found = _SUCCESS.match(answer.text.strip())
        if found is None:
            raise PermanentSendError(f"gateway answered {answer.text[:200]!r}")
        return Submitted(found.group(1))

    def lookup(self, client: httpx.Client, message: Outgoing, since: datetime) -> Submitted | None:
        # Jasmin's HTTP API keeps no list to look in: an uncertain send is sent again.
        return None

    def verify(self, request: WebhookRequest) -> bool:
        if not self.callback_secret:
            return False
        given = dict(parse_qsl(urlsplit(request.url).query)).get("secret", "")
        return hmac.compare_digest(given.encode(), self.callback_secret.encode())

    def receipts(self, request: WebhookRequest) -> list[Receipt]:
        status = (request.get("message_status") or "").upper()
        state = STATES.get(status)
        if state is None:
            state = "failed" if status.startswith("ESME_") else None
        if state is None:
            return []
        query = dict(parse_qsl(urlsplit(request.url).query))
        return [
            Receipt(
                provider_message_id=request.get("id"),
                state=state,
                message_id=query.get("message_id"),
                error=status if state == "failed" else None,
                raw_status=status,
            )
        ]

    def inbound(self, request: WebhookRequest) -> Inbound:
        text = request.get("content") or ""
        if request.get("coding") == "8" and request.get("binary"):
            text = bytes.fromhex(request.get("binary") or "").decode("utf-16-be", "replace")
        phone = request.get("from") or ""
        return Inbound(
            phone=phone if phone.startswith("+") else "+" + phone,
            text=text,
            provider_message_id=request.get("id"),
            to=request.get("to"),
        )

    def acknowledge(self, kind: Literal["status", "inbound"]) -> tuple[str, str]:
        return "ACK/Jasmin", "text/plain"
