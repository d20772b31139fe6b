"""Intake settings, from environment variables prefixed INTAKE_."""

from __future__ import annotations

from functools import cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IntakeConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    # References read TS20261122-000123: prefix, local date, a number unique for ever.
    reference_prefix: str = Field(default="TS", pattern=r"^[A-Z]{1,4}$")
    timezone: str = "Asia/Shanghai"
    # A caller with at least this many earlier complaints in repeat_window_days is flagged.
    repeat_min: int = Field(default=1, ge=1)
    repeat_window_days: int = Field(default=30, ge=1)
    # Mainland numbers without a country code are read as +86.
    default_region: str = "CN"
    description_min: int = 5
    description_max: int = 5000
    # Idempotency keys are remembered this long.
    idempotency_days: int = 7
    # Likely duplicates (重复件) are looked for among the complaints of this many days.
    duplicate_window_days: int = Field(default=7, ge=1, le=90)


@cache
def get_config() -> IntakeConfig:
    return IntakeConfig()
