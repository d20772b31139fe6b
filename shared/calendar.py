"""The centre's working calendar: weekdays, public holidays and make-up workdays (调休: a
weekend day worked in exchange for a holiday), optionally within working hours.
Escalation counts resolution deadlines in its working time; analytics forecasts a
holiday's calls as a holiday's, not as those of the weekday it falls on.

A file a centre keeps, e.g. ESCALATION_CALENDAR_FILE=deploy/calendar.json:

    {"timezone": "Asia/Shanghai", "weekdays": [1, 2, 3, 4, 5], "hours": ["09:00", "18:00"],
     "holidays": ["2026-10-01", "2026-10-02"], "workdays": ["2026-09-27"]}

`weekdays` are ISO numbers (1 = Monday); without `hours` a working day counts whole.
Without a file, deadlines run on the wall clock.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

_LONGEST_SEARCH_DAYS = 3 * 366  # a deadline never lies further in working days than this


class CalendarFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str = "Asia/Shanghai"
    weekdays: list[int] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    hours: tuple[time, time] | None = None
    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list)

    @field_validator("weekdays")
    @classmethod
    def _iso(cls, value: list[int]) -> list[int]:
        if not value or any(not 1 <= d <= 7 for d in value):
            raise ValueError("weekdays are ISO day numbers 1 (Monday) to 7 (Sunday)")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        ZoneInfo(value)  # raises for an unknown zone
        return value


@dataclass(frozen=True)
class WorkingCalendar:
    zone: ZoneInfo
    weekdays: frozenset[int]
    hours: tuple[time, time] | None
    holidays: frozenset[date]
    workdays: frozenset[date]

    @classmethod
    def from_file(cls, path: str | Path) -> WorkingCalendar:
        data = CalendarFile.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
        if data.hours is not None and data.hours[1] <= data.hours[0]:
            raise ValueError(f"{path}: working hours must end after they start")
        return cls(
            zone=ZoneInfo(data.timezone),
            weekdays=frozenset(data.weekdays),
            hours=data.hours,
            holidays=frozenset(data.holidays),
            workdays=frozenset(data.workdays),
        )

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day not in self.holidays and day.isoweekday() in self.weekdays

    def _window(self, day: date) -> tuple[datetime, datetime]:
        start, end = self.hours or (time(0), None)
        opens = datetime.combine(day, start, self.zone)
        closes = (
            datetime.combine(day, end, self.zone)
            if end is not None
            else datetime.combine(day + timedelta(days=1), time(0), self.zone)
        )
        return opens, closes

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The moment `amount` of working time after `start` (aware; returned in UTC)."""
        cursor = start.astimezone(self.zone)
        remaining = amount
        day = cursor.date()
        for _ in range(_LONGEST_SEARCH_DAYS):
            if self.is_working_day(day):
                opens, closes = self._window(day)
                cursor = max(cursor, opens)
                if cursor < closes:
                    available = closes - cursor
                    if remaining <= available:
                        return (cursor + remaining).astimezone(start.tzinfo)
                    remaining -= available
            day += timedelta(days=1)
            cursor = datetime.combine(day, time(0), self.zone)
        raise ValueError("no working time found within three years: check the calendar")
