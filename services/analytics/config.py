"""Analytics settings, from environment variables prefixed ANALYTICS_."""

from __future__ import annotations

from functools import cache, cached_property
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.calendar import WorkingCalendar


class AnalyticsConfig(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ANALYTICS_", extra="ignore")

    # Days and months are the centre's: a complaint at 23:30 UTC is the next day in Beijing.
    timezone: str = "Asia/Shanghai"
    # Repeat complainants: at least `repeat_min` complaints within `repeat_days` days.
    repeat_min: int = Field(default=3, ge=2)
    repeat_days: int = Field(default=30, ge=1)
    # A closure is suspect when the same customer calls again within this many days.
    recall_days: int = Field(default=7, ge=1)
    # Spikes: a category's day against the `spike_baseline_days` before it.
    spike_baseline_days: int = Field(default=28, ge=7)
    spike_min_count: int = Field(default=5, ge=1)
    spike_z: float = Field(default=3.0, gt=0)
    # Hot spots: at most this many complaints are read per window (newest first).
    hotspot_max_documents: int = Field(default=20_000, ge=100)
    # Hot issues: how they are ranked (callers=, recency=, growth= weights, see
    # services/analytics/text/issues.py), and the alert: an issue with this many distinct
    # callers within a day is sent to the desk once (again after `hot_issue_quiet_days`),
    # checked every `hot_issue_check_seconds` (0: never).
    hot_issue_weights: str = "callers=1,recency=1,growth=1"
    hot_issue_min_callers: int = Field(default=3, ge=2)
    hot_issue_alert_callers: int = Field(default=5, ge=2)
    hot_issue_quiet_days: int = Field(default=7, ge=1)
    hot_issue_check_seconds: float = Field(default=300, ge=0)
    # Root-cause suggestions are learned again once this many more complaints are tagged.
    suggestion_retrain_after: int = Field(default=50, ge=1)
    # They are learned from, and measured on, the newest this many tagged complaints: the
    # measuring (a nested cross-validation) takes seconds per thousand.
    suggestion_learn_from: int = Field(default=2_000, ge=50)
    # Staffing (services/analytics/staffing): the centre's working calendar, the file
    # escalation reads for its deadlines (one centre, one set of holidays), so a holiday's
    # calls are forecast as a holiday's; unset: every day is its weekday.
    calendar_file: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("ANALYTICS_CALENDAR_FILE", "ESCALATION_CALENDAR_FILE"),
    )
    # The weeks of calls the forecast learns from, and how many of the last it first
    # holds out to measure itself on.
    staffing_history_weeks: int = Field(default=52, ge=3, le=260)
    staffing_holdout_weeks: int = Field(default=4, ge=1, le=12)
    # The handling time used where too few registrations measure one (seconds).
    staffing_handling_seconds: float = Field(default=300, gt=0, le=7200)

    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("calendar_file")
    @classmethod
    def _calendar_readable(cls, value: Path | None) -> Path | None:
        if value is not None:
            WorkingCalendar.from_file(value)  # a bad file stops the start, not a request
        return value

    @cached_property
    def calendar(self) -> WorkingCalendar | None:
        return WorkingCalendar.from_file(self.calendar_file) if self.calendar_file else None


@cache
def get_config() -> AnalyticsConfig:
    return AnalyticsConfig()
