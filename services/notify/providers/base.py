"""What every provider adapter offers, and the errors a send can end in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

import httpx

# Where a message is with the provider, in our words; a receipt never moves it back.
DeliveryState = Literal["submitted", "sent", "delivered", "failed"]


@dataclass(frozen=True)
class Outgoing:
    message_id: str  # our own id, carried to the provider where its API allows
    to: str  # E.164
    body: str
    encoding: str  # GSM-7 or UCS-2
    status_callback: str | None = None  # where the provider reports delivery
    # Ours to send from (a client's own number or messaging service); None: the
    # provider's configured sender.
    sender: str | None = None


@dataclass(frozen=True)
class Submitted:
    provider_message_id: str
    state: DeliveryState = "submitted"


@dataclass(frozen=True)
class Receipt:
    """A delivery report: which message, and where it is now."""

    provider_message_id: str | None
    state: DeliveryState
    message_id: str | None = None  # ours, when the callback address carries it
    error: str | None = None
    raw_status: str = ""


@dataclass(frozen=True)
class Inbound:
    """An SMS a person sent to our number."""

    phone: str  # E.164
    text: str
    provider_message_id: str | None
    to: str | None = None


@dataclass(frozen=True)
class WebhookRequest:
    """A provider's call to one of our webhooks, as the adapter needs it to verify and read."""

    url: str  # the full address the provider called, query included
    form: Sequence[tuple[str, str]]
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names

    def get(self, name: str, default: str | None = None) -> str | None:
        for key, value in self.form:
            if key == name:
                return value
        return default


class SendError(Exception):
    """A provider call that did not hand the message over."""

    retry = False

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class TransientSendError(SendError):
    """Timeouts, 5xx, 429: the same request may work later."""

    retry = True


class UncertainSendError(TransientSendError):
    """The request may have reached the provider (the answer was lost): resending could
    send the message twice unless the provider recognises our message id."""


class PermanentSendError(SendError):
    """The provider refused this message (4xx): sending it again would fail again."""


class Provider(Protocol):
    name: str
    # Whether a resend carrying the same message id is recognised as the same message.
    idempotent: bool

    def send(self, client: httpx.Client, message: Outgoing) -> Submitted: ...

    def lookup(self, client: httpx.Client, message: Outgoing, since: datetime) -> Submitted | None:
        """After an uncertain send: the provider's record of this message, if it has one;
        None when it has none; raises SendError when it cannot tell."""
        ...

    def verify(self, request: WebhookRequest) -> bool: ...

    def receipts(self, request: WebhookRequest) -> list[Receipt]: ...

    def inbound(self, request: WebhookRequest) -> Inbound: ...

    def acknowledge(self, kind: Literal["status", "inbound"]) -> tuple[str, str]:
        """The body and media type the provider expects in answer to its call."""
        ...


def classify(exc: httpx.HTTPError) -> SendError:
    """An httpx failure as a send error: was the message surely not handed over?"""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return TransientSendError(f"provider unreachable: {type(exc).__name__}: {exc}")
    return UncertainSendError(f"no answer from the provider: {type(exc).__name__}: {exc}")


def refused(status: int, detail: str) -> SendError:
    """A provider's HTTP error answer as a send error."""
    text = f"provider answered {status}: {detail[:500]}"
    if status in (408, 425, 429) or status >= 500:
        return TransientSendError(text, status_code=status)
    return PermanentSendError(text, status_code=status)
