"""Notify settings, from environment variables prefixed NOTIFY_."""

from __future__ import annotations

import json
from datetime import time
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import phonenumbers
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.settings import SERVICE_PORTS, SMS_GATEWAY_PORT

HERE = Path(__file__).parent

# The development gateway's credentials: fine on a laptop, refused anywhere else.
DEV_ACCOUNT_SID = "ACdevelopment0000000000000000000"
DEV_AUTH_TOKEN = "development-auth-token"  # noqa: S105 - a placeholder, refused in production


class NotifyConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore")

    environment: Literal["development", "test", "production"] = Field(
        default="development", validation_alias="ENVIRONMENT"
    )

    # Which provider sends: `dev` (the development gateway, Twilio-shaped), `twilio`
    # (any Twilio-style Messages API) or `jasmin` (a Jasmin-style HTTP gateway).
    provider: Literal["dev", "twilio", "jasmin"] = "dev"
    # Where this service is reachable from the provider: status callbacks and delivery
    # receipts are sent to <public_url>/webhooks/sms/status, and signatures are computed
    # over that address. Empty: no status callbacks are asked for.
    public_url: str = f"http://127.0.0.1:{SERVICE_PORTS['notify']}"

    # Twilio-style Messages API (also the development gateway's shape).
    twilio_base_url: str = f"http://127.0.0.1:{SMS_GATEWAY_PORT}"
    twilio_account_sid: str = DEV_ACCOUNT_SID
    twilio_auth_token: str = DEV_AUTH_TOKEN
    # The sender: a number (+86…) or a MessagingServiceSid (MG…).
    twilio_from: str = "+8610690000"

    # Jasmin-style HTTP gateway: POST <jasmin_url>/send.
    jasmin_url: str = "http://127.0.0.1:1401"
    jasmin_username: str = "notify"
    jasmin_password: str = ""
    jasmin_from: str = "10690000"
    # Jasmin does not sign its calls: it calls back to URLs carrying this secret.
    jasmin_callback_secret: str = ""

    # Seconds for one provider call; a read timeout may mean the message went out.
    http_timeout_seconds: float = Field(default=5.0, gt=0)
    # Provider calls in flight at once, and messages a sender pass takes.
    send_concurrency: int = Field(default=16, ge=1, le=256)
    send_batch: int = Field(default=100, ge=1, le=5000)
    # Attempts per message; transient failures wait about base·2^n (capped), jittered.
    max_attempts: int = Field(default=5, ge=1, le=50)
    retry_base_seconds: float = Field(default=1.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0)
    # A message handed to a sender that died is taken up again after this lease.
    send_lease_seconds: float = Field(default=60.0, gt=0)

    # Templates: <templates_dir>/<language>.toml; a centre edits these files. A client's
    # own templates (its templates_dir in TENANTS_FILE) replace them template by template.
    templates_dir: Path = HERE / "templates"
    default_language: str = "zh-CN"
    # Numbers outside these country codes are written to in `foreign_language`.
    home_country_codes: list[str] = Field(default_factory=lambda: ["86", "852", "853", "886"])
    foreign_language: str = "en"
    # Prepended to every message (mainland carriers require a sign name, e.g. 【某某热线】);
    # a client's own sign name (TENANTS_FILE) takes its place in that client's messages.
    sign_name: str = ""
    # The longest message, in parts: variable text (a summary, a resolution) is cut to fit.
    max_segments: int = Field(default=3, ge=1, le=10)
    # The staff workbench: staff SMS link to <workbench_url>/c/<reference>, where the
    # person signed in sees the complaint. Empty: no links.
    workbench_url: str = "http://127.0.0.1:8000"

    # Customer messages are held during these local hours and sent when they end.
    timezone: str = "Asia/Shanghai"
    quiet_hours_start: time | None = time(22, 0)
    quiet_hours_end: time | None = time(8, 0)

    # A staff phone receives at most this many non-urgent notices per window; the rest
    # wait and go out as one digest at the end of the window. 0 turns the limit off.
    staff_rate_limit: int = Field(default=6, ge=0)
    staff_rate_window_seconds: float = Field(default=600.0, gt=0)

    # SMS go only to numbers of these countries (ISO 3166 codes: CN is +86; HK, MO, TW,
    # GB, ...): an SMS to any other is refused, stored with the reason and never sent,
    # whoever it is for. NOTIFY_SMS_ALLOWED_COUNTRIES=CN,HK (or a JSON list).
    sms_allowed_countries: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["CN"], min_length=1
    )
    # At most this many SMS to one number in one of the centre's days (`timezone`); the
    # ones over are refused, never sent. A customer hears of each complaint a few times
    # (registered, answered, closed); a duty manager gets every prompt of a busy day,
    # and an urgent prompt is never refused for the cap (it goes, and the log says the
    # cap was passed). 0 turns a cap off.
    customer_sms_daily_cap: int = Field(default=20, ge=0)
    staff_sms_daily_cap: int = Field(default=300, ge=0)

    # A reply is matched to the newest message that asked for one within this window.
    reply_window_hours: float = Field(default=72.0, gt=0)
    # Anything else a person sends is attached to their newest complaint within this.
    message_window_days: float = Field(default=30.0, gt=0)

    # The development gateway: where it delivers replies and how much it keeps.
    gateway_notify_url: str = f"http://127.0.0.1:{SERVICE_PORTS['notify']}"
    gateway_keep: int = Field(default=10_000, ge=10)
    # Seconds before the gateway reports a message delivered.
    gateway_delivery_delay: float = Field(default=0.2, ge=0)
    # Whether the gateway recognises a resend by its Idempotency-Key. Twilio and Jasmin
    # do not: off, the gateway sends every request it takes, as they would.
    gateway_deduplicate: bool = True
    # Shares of sends the gateway takes (and delivers) but answers after notify's own
    # http_timeout_seconds, or not at all (the connection cut): the answers a sender
    # must not take for "not sent".
    gateway_late_share: float = Field(default=0.0, ge=0, le=1)
    gateway_drop_share: float = Field(default=0.0, ge=0, le=1)

    @field_validator("sms_allowed_countries", mode="before")
    @classmethod
    def _countries(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else text.replace(",", " ").split()
        if isinstance(value, list):
            value = [str(code).strip().upper() for code in value]
            unknown = [code for code in value if code not in phonenumbers.SUPPORTED_REGIONS]
            if unknown:
                raise ValueError(f"not ISO 3166 country codes: {', '.join(unknown)}")
        return value

    @model_validator(mode="after")
    def _no_placeholder_secrets_in_production(self) -> NotifyConfig:
        if self.environment != "production":
            return self
        if self.provider == "twilio" and self.twilio_auth_token in (DEV_AUTH_TOKEN, ""):
            raise ValueError("NOTIFY_TWILIO_AUTH_TOKEN is the development placeholder or empty")
        if self.provider == "jasmin" and not self.jasmin_callback_secret:
            raise ValueError("NOTIFY_JASMIN_CALLBACK_SECRET is required to accept callbacks")
        return self

    @property
    def sender(self) -> str:
        """The number (or messaging service) the chosen provider sends from when a client
        names no sender of its own."""
        return self.jasmin_from if self.provider == "jasmin" else self.twilio_from

    @property
    def quiet_hours(self) -> tuple[time, time] | None:
        if self.quiet_hours_start is None or self.quiet_hours_end is None:
            return None
        if self.quiet_hours_start == self.quiet_hours_end:
            return None
        return self.quiet_hours_start, self.quiet_hours_end


@cache
def get_config() -> NotifyConfig:
    return NotifyConfig()
