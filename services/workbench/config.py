"""Workbench settings, from environment variables prefixed WORKBENCH_."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.deps import from_state
from shared.settings import SERVICE_PORTS


def _local(service: str) -> str:
    return f"http://127.0.0.1:{SERVICE_PORTS[service]}"


class WorkbenchConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WORKBENCH_", extra="ignore")

    # Where the four APIs answer (the pages call them as the signed-in person).
    intake_url: str = Field(default_factory=lambda: _local("intake"))
    escalation_url: str = Field(default_factory=lambda: _local("escalation"))
    notify_url: str = Field(default_factory=lambda: _local("notify"))
    analytics_url: str = Field(default_factory=lambda: _local("analytics"))
    api_timeout_seconds: float = Field(default=10.0, gt=0)

    # A session ends after this long without a request, and after `session_max_hours`
    # whatever happens: a shift is not longer than that.
    session_idle_minutes: int = Field(default=120, ge=1)
    session_max_hours: int = Field(default=14, ge=1)
    # The bearer token a session calls the APIs with lives this long and is renewed
    # (and the old one revoked) when less than a third of it is left.
    api_token_minutes: int = Field(default=30, ge=2)
    # How often a session's person is looked up again in the directory: a deactivated
    # person's sessions end within this time, whoever deactivated them.
    directory_check_seconds: float = Field(default=30.0, ge=0)
    # Failed sign-ins in a row that lock an account, and for how long.
    lockout_failures: int = Field(default=5, ge=1)
    lockout_minutes: int = Field(default=15, ge=1)
    # Shortest password an administrator or a person may set.
    password_min_length: int = Field(default=10, ge=6)
    # How often an open queue asks for news, and how many of its most urgent complaints
    # it shows (the rest are found by search).
    queue_refresh_seconds: float = Field(default=1.0, gt=0, le=60)
    queue_limit: int = Field(default=100, ge=10, le=500)
    # Times on the pages, and those typed into forms, are the centre's.
    timezone: str = "Asia/Shanghai"
    # Where the staff open the workbench: the SMS about a complaint carry links to it.
    public_url: str = "http://127.0.0.1:8000"
    # Cookies are marked Secure when the request came over TLS (directly or as a proxy's
    # X-Forwarded-Proto says); true marks them always.
    secure_cookies: bool = False
    # The largest file a person may send to be attached (intake has the last word, with
    # its own limit: INTAKE_ATTACHMENT_MAX_BYTES).
    upload_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)

    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.session_idle_minutes)

    @property
    def longest(self) -> timedelta:
        return timedelta(hours=self.session_max_hours)

    @property
    def token_life(self) -> timedelta:
        return timedelta(minutes=self.api_token_minutes)


@cache
def get_config() -> WorkbenchConfig:
    return WorkbenchConfig()


ConfigDep = Annotated[WorkbenchConfig, from_state("workbench")]
