"""A generated year of calls with a seasonality known exactly: the forecast's test bench.

Fifty-two weeks from Monday 14 October 2024, a centre's calls per half-hour drawn from
Poisson counts around an expected rate: a level growing 15 % over the year, busier
Mondays and quiet weekends, a morning and an afternoon peak on working days and a
later, flatter day at weekends, public holidays at 45 % of a normal day with a weekend's
shape, make-up workdays (调休) as busy as a Friday, and each day's total off by a few
per cent (lognormal, σ 0.05) the way real days are. The holidays follow the shape of
China's 2025 schedule, so the last four weeks hold the National Day week and both of
its make-up workdays.

`python -m tests.analytics.arrivals` prints the holdout figures the README quotes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from services.analytics.staffing.forecast import SLOTS, WEEK, day_types, errors, holdout
from shared.calendar import WorkingCalendar

START = date(2024, 10, 14)
WEEKS = 52
HOLIDAYS = frozenset(
    [date(2025, 1, 1)]
    + [date(2025, 1, 28) + timedelta(days=n) for n in range(8)]
    + [date(2025, 4, 4) + timedelta(days=n) for n in range(3)]
    + [date(2025, 5, 1) + timedelta(days=n) for n in range(5)]
    + [date(2025, 5, 31) + timedelta(days=n) for n in range(3)]
    + [date(2025, 10, 1) + timedelta(days=n) for n in range(8)]
)
WORKDAYS = frozenset(
    date.fromisoformat(d)
    for d in ("2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11")
)
WEEKDAY_FACTORS = np.array([1.25, 1.1, 1.05, 1.0, 1.0, 0.6, 0.5])
HOLIDAY_FACTOR = 0.45


def calendar() -> WorkingCalendar:
    from zoneinfo import ZoneInfo

    return WorkingCalendar(
        zone=ZoneInfo("Asia/Shanghai"),
        weekdays=frozenset({1, 2, 3, 4, 5}),
        hours=None,
        holidays=HOLIDAYS,
        workdays=WORKDAYS,
    )


def _bump(centre_hour: float, width_hours: float) -> np.ndarray:
    hours = (np.arange(SLOTS) + 0.5) / 2
    return np.exp(-0.5 * ((hours - centre_hour) / width_hours) ** 2)


def _shape(parts: np.ndarray) -> np.ndarray:
    shape: np.ndarray = parts / parts.sum()
    return shape


WORKING_SHAPE = _shape(0.03 + _bump(10, 1.5) + 0.8 * _bump(15, 1.7) + 0.3 * _bump(20, 1.5))
RESTING_SHAPE = _shape(0.05 + 0.7 * _bump(11.5, 2.5) + 0.5 * _bump(19, 2.5))


@dataclass(frozen=True)
class Year:
    days: list[date]
    counts: np.ndarray  # days × 48, what came
    expected: np.ndarray  # days × 48, the rate it came at (what a perfect model knows)


def generated_year(
    seed: int = 7,
    *,
    daily: float = 1200.0,
    broken_from: int | None = None,
) -> Year:
    """`daily` calls on an average day at the start; from day `broken_from` on, the week
    turns over (the busy day becomes the quiet one) and the peaks move three hours
    later: a season the history cannot know."""
    rng = np.random.default_rng(seed)
    days = [START + timedelta(days=n) for n in range(WEEKS * WEEK)]
    expected = np.zeros((len(days), SLOTS))
    for i, day in enumerate(days):
        level = daily * (1 + 0.15 * i / len(days))
        factor, shape = WEEKDAY_FACTORS[day.weekday()], WORKING_SHAPE
        if day.weekday() >= 5:
            shape = RESTING_SHAPE
        if day in HOLIDAYS:
            factor, shape = HOLIDAY_FACTOR, RESTING_SHAPE
        elif day in WORKDAYS:
            factor, shape = WEEKDAY_FACTORS[4], WORKING_SHAPE
        if broken_from is not None and i >= broken_from:
            factor = WEEKDAY_FACTORS[::-1][day.weekday()]
            shape = np.roll(shape, 6)
        expected[i] = level * factor * shape
    noisy = expected * rng.lognormal(0.0, 0.05, size=(len(days), 1))
    return Year(days, rng.poisson(noisy), expected)


def main() -> None:
    cal = calendar()
    for label, daily, weeks in (
        ("a centre, 1,200 calls a day; four weeks to 12 October held out", 1200.0, WEEKS),
        ("the same, four weeks to 17 August held out (no holiday)", 1200.0, 44),
        ("a client, 60 calls a day; four weeks to 12 October held out", 60.0, WEEKS),
    ):
        year = generated_year(daily=daily)
        cut = weeks * WEEK
        counts, expected = year.counts[:cut], year.expected[:cut]
        types = day_types(year.days[:cut], cal)
        found = holdout(counts, types, 4, cal)
        assert found is not None
        perfect = errors(expected[-28:], counts[-28:])
        print(label)
        for name, e in (
            ("model", found.model),
            ("same half-hour last week", found.baseline),
            ("the true rate", perfect),
        ):
            print(f"  {name:26s} {e.rounded()}")
        print(f"  skill against last week: {found.skill:.3f}")


if __name__ == "__main__":
    main()
