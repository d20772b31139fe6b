"""Quiet hours as a rule of the clock, without a database: when a customer message held
for the night may go."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.notify.messages import planning
from tests.notify.conftest import notify_config


def test_quiet_hours_end_on_the_same_night_and_span_midnight() -> None:
    config = notify_config(quiet_hours_start="22:00", quiet_hours_end="08:00")
    shanghai = timedelta(hours=8)
    at = lambda h, m=0: datetime(2026, 11, 22, h, m, tzinfo=UTC) - shanghai  # noqa: E731
    assert planning.quiet_until(at(21, 59), config) is None
    assert planning.quiet_until(at(22, 0), config) == at(8) + timedelta(days=1)
    assert planning.quiet_until(at(3, 0), config) == at(8)
    assert planning.quiet_until(at(8, 0), config) is None
