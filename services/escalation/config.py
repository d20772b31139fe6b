"""Escalation settings, from environment variables prefixed ESCALATION_."""

from __future__ import annotations

from datetime import timedelta
from functools import cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.escalation.lifecycle import STAGE_ON_ENTRY, LifecycleConfig

SEVERITIES = ("urgent", "high", "normal", "low")
STAGES = tuple(STAGE_ON_ENTRY.values())

# Minutes each SLA stage may take, by severity: how long the duty manager has to
# acknowledge, the department to accept and to resolve, and the centre to follow up.
DEFAULT_SLA_MINUTES: dict[str, dict[str, int]] = {
    "acknowledgement": {"urgent": 10, "high": 30, "normal": 60, "low": 120},
    "acceptance": {"urgent": 30, "high": 120, "normal": 240, "low": 480},
    "resolution": {"urgent": 8 * 60, "high": 24 * 60, "normal": 72 * 60, "low": 120 * 60},
    "follow_up": {"urgent": 24 * 60, "high": 48 * 60, "normal": 48 * 60, "low": 72 * 60},
}


class EscalationConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ESCALATION_", extra="ignore")

    # Every new complaint goes to this duty manager (a staff id) until the duty roster
    # decides; unset, the first active duty manager in the directory gets it.
    default_duty_manager: str | None = None
    # Returns after which a complaint waits for a supervisor instead of the duty manager.
    max_returns: int = Field(default=2, ge=1)
    # Failed follow-up calls after which a replied complaint closes as unreached.
    unreachable_attempts: int = Field(default=3, ge=1)
    max_escalation_level: int = Field(default=3, ge=1)
    # JSON, e.g. ESCALATION_SLA_MINUTES='{"acknowledgement": {"urgent": 5, ...}, ...}'.
    sla_minutes: dict[str, dict[str, int]] = Field(
        default_factory=lambda: {stage: dict(v) for stage, v in DEFAULT_SLA_MINUTES.items()}
    )
    # Directory phone numbers without a country code are read in this region.
    phone_region: str = "CN"

    @field_validator("sla_minutes")
    @classmethod
    def _complete(cls, value: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        for stage in STAGES:
            for severity in SEVERITIES:
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
        )

    def sla(self, stage: str, severity: str) -> timedelta:
        by_severity = self.sla_minutes[stage]
        return timedelta(minutes=by_severity.get(severity, by_severity["normal"]))


@cache
def get_config() -> EscalationConfig:
    return EscalationConfig()
