"""Escalation settings, from environment variables prefixed ESCALATION_."""

from __future__ import annotations

from datetime import timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.escalation.lifecycle import LifecycleConfig
from shared.calendar import WorkingCalendar
from shared.deps import from_state
from shared.tenants import tenants
from shared.vocabulary import SLA_STAGES, Severity, Stage


def _minutes(urgent: int, high: int, normal: int, low: int) -> dict[str, int]:
    return dict(zip(Severity, (urgent, high, normal, low), strict=True))


# Minutes each SLA stage may take, by severity: how long the duty manager has to
# acknowledge, the department to accept and to resolve, and the centre to follow up.
DEFAULT_SLA_MINUTES: dict[str, dict[str, int]] = {
    Stage.ACKNOWLEDGEMENT: _minutes(5, 15, 30, 60),
    Stage.ACCEPTANCE: _minutes(60, 2 * 60, 4 * 60, 8 * 60),
    Stage.RESOLUTION: _minutes(4 * 60, 24 * 60, 72 * 60, 120 * 60),
    Stage.FOLLOW_UP: _minutes(24 * 60, 48 * 60, 48 * 60, 72 * 60),
}


class EscalationConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ESCALATION_", extra="ignore")

    # Every new complaint goes to this duty manager (a staff id) until the duty roster
    # decides; unset, the first active duty manager in the directory gets it.
    default_duty_manager: str | None = None
    # Returns after which a complaint waits for a supervisor instead of the duty manager.
    max_returns: int = Field(default=2, ge=1)
    # Failed follow-up calls after which a replied complaint closes as unreached, and
    # the minutes that must pass between two for both to count (0: any two count).
    unreachable_attempts: int = Field(default=3, ge=1)
    follow_up_interval_minutes: int = Field(default=120, ge=0, le=7 * 24 * 60)
    max_escalation_level: int = Field(default=3, ge=1)
    # Whether a department may transfer a complaint straight to another department (转办);
    # off, it returns it to the duty desk, as centres whose rulebook has no transfer do.
    allow_transfer: bool = False
    # How often one complaint's clock may be paused (挂起, 0: never) and the longest pause
    # in hours; a pause with no time to resume given ends by itself after that.
    max_pauses: int = Field(default=2, ge=0, le=20)
    max_pause_hours: int = Field(default=15 * 24, ge=1, le=365 * 24)
    # An assisting department's part (协办) is due after this share of the resolution
    # time, leaving the lead the rest to answer for all.
    assist_share_percent: int = Field(default=50, ge=1, le=100)
    # JSON, e.g. ESCALATION_SLA_MINUTES='{"acknowledgement": {"urgent": 5, ...}, ...}'.
    sla_minutes: dict[str, dict[str, int]] = Field(
        default_factory=lambda: {stage: dict(v) for stage, v in DEFAULT_SLA_MINUTES.items()}
    )
    # Directory phone numbers without a country code are read in this region.
    phone_region: str = "CN"
    # A breach urges the holder (level 1) at the deadline; each further level follows
    # after this share of the stage's SLA time: 50 % of a 30-minute acknowledgement
    # means level 2 at 45 minutes and level 3 at 60.
    escalation_step_percent: int = Field(default=50, ge=1, le=1000)
    # Staff ids told at the top level (the centre managers); empty: the supervisors.
    centre_managers: list[str] = Field(default_factory=list)
    # How often the worker looks for breaches and shift changes, and how many breached
    # complaints one transaction takes.
    sweep_seconds: float = Field(default=5.0, gt=0)
    sweep_batch: int = Field(default=200, ge=1, le=10_000)
    # A working-time calendar for resolution deadlines (calendar.py); unset: wall clock.
    calendar_file: Path | None = None
    # The centre's time zone: where its day starts (a clerk's complaints "today").
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        ZoneInfo(value)  # an unknown zone stops the start, not a request
        return value

    @field_validator("calendar_file")
    @classmethod
    def _calendar_readable(cls, value: Path | None) -> Path | None:
        if value is not None:
            WorkingCalendar.from_file(value)  # a bad file stops the start, not a request
        return value

    @cached_property
    def calendar(self) -> WorkingCalendar | None:
        return WorkingCalendar.from_file(self.calendar_file) if self.calendar_file else None

    @field_validator("sla_minutes")
    @classmethod
    def _complete(cls, value: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        for stage in SLA_STAGES:
            for severity in Severity:
                minutes = value.get(stage, {}).get(severity)
                if minutes is None or minutes < 1:
                    raise ValueError(
                        f"sla_minutes needs a positive number of minutes for {stage}/{severity}"
                    )
        return value

    def lifecycle(self) -> LifecycleConfig:
        return LifecycleConfig(
            max_returns=self.max_returns,
            unreachable_attempts=self.unreachable_attempts,
            max_escalation_level=self.max_escalation_level,
            follow_up_interval=timedelta(minutes=self.follow_up_interval_minutes),
            allow_transfer=self.allow_transfer,
            max_pauses=self.max_pauses,
            max_pause=timedelta(hours=self.max_pause_hours),
        )

    def sla(self, stage: str, severity: str, tenant: str | None = None) -> timedelta:
        """The time a stage may take: the client's own minutes for this stage and
        severity where it has them (Tenant.sla_minutes), else the centre's."""
        client = tenants().get(tenant) if tenant else None
        own = client.sla_minutes.get(stage, {}).get(severity) if client is not None else None
        if own is not None and own >= 1:
            return timedelta(minutes=own)
        by_severity = self.sla_minutes[stage]
        return timedelta(minutes=by_severity.get(severity, by_severity[Severity.NORMAL]))

    def escalation_step(self, stage: str, severity: str, tenant: str | None = None) -> timedelta:
        return self.sla(stage, severity, tenant) * self.escalation_step_percent / 100


def check_tenant_sla() -> None:
    """Refuse clients' SLA minutes this service cannot use (an unknown stage or
    severity, or no time at all), so a bad TENANTS_FILE stops the start, not a deadline."""
    for client in tenants().all():
        for stage, by_severity in client.sla_minutes.items():
            if stage not in SLA_STAGES:
                raise ValueError(
                    f"client {client.id!r}: sla_minutes has no stage {stage!r}; "
                    f"one of {', '.join(SLA_STAGES)}"
                )
            for severity, minutes in by_severity.items():
                if severity not in {level.value for level in Severity} or minutes < 1:
                    raise ValueError(
                        f"client {client.id!r}: sla_minutes {stage}/{severity} must be a "
                        f"severity ({', '.join(Severity)}) with a positive number of minutes"
                    )


@cache
def get_config() -> EscalationConfig:
    return EscalationConfig()


# The configuration the app was built with (tests give their own), for a route.
ConfigDep = Annotated[EscalationConfig, from_state("escalation")]
