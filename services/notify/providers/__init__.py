"""SMS providers behind one interface, chosen by NOTIFY_PROVIDER.

Each adapter sends over httpx and reads the provider's webhooks (delivery receipts and
inbound messages), verifying that they come from the provider.
"""

from __future__ import annotations

from services.notify.config import NotifyConfig
from services.notify.providers.base import (
    Inbound,
    Outgoing,
    PermanentSendError,
    Provider,
    Receipt,
    SendError,
    Submitted,
    TransientSendError,
    UncertainSendError,
    WebhookRequest,
)
from services.notify.providers.jasmin import JasminProvider
from services.notify.providers.twilio import TwilioProvider

__all__ = [
    "Inbound",
    "JasminProvider",
    "Outgoing",
    "PermanentSendError",
    "Provider",
    "Receipt",
    "SendError",
    "Submitted",
    "TransientSendError",
    "TwilioProvider",
    "UncertainSendError",
    "WebhookRequest",
    "provider_for",
]


def provider_for(config: NotifyConfig) -> Provider:
    """The adapter NOTIFY_PROVIDER names; `dev` is the Twilio shape at the dev gateway."""
    if config.provider in ("dev", "twilio"):
        return TwilioProvider(
            base_url=config.twilio_base_url,
            account_sid=config.twilio_account_sid,
            auth_token=config.twilio_auth_token,
            sender=config.twilio_from,
            name=config.provider,
            idempotent=config.provider == "dev",
        )
    return JasminProvider(
        base_url=config.jasmin_url,
        username=config.jasmin_username,
        password=config.jasmin_password,
        sender=config.jasmin_from,
        callback_secret=config.jasmin_callback_secret,
    )
