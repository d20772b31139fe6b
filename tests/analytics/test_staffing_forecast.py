"""The calls forecast on a generated year whose seasonality is known (tests/analytics/
arrivals.py): held out, its last four weeks (the National Day week among them) are
forecast nearly as well as the true rate itself would, far better than "same half-hour
last week"; and the same check fails for a forecast blind to the week, for one that does
not know the holidays, and when the season itself turns over in the weeks held out."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from services.analytics.staffing.forecast import (
    HOLIDAY,
    SLOTS,
    Holdout,
    day_types,
    errors,
    fit,
    holdout,
)
from tests.analytics.arrivals import HOLIDAYS, WORKDAYS, Year, calendar, generated_year

HELD_OUT = 4 * 7


def close_to_the_truth(found: Holdout, year: Year) -> bool:
    """What "the holdout error is small" means here: per half-hour within 10 % of the
    error the true rate makes (Poisson noise no model can forecast), each day's total
    within three points of it, and no more than 5 % over or under in all."""
    truth = errors(year.expected[-HELD_OUT:], year.counts[-HELD_OUT:])
    assert truth.day_wape is not None and found.model.day_wape is not None
    assert found.model.bias is not None
    return (
        found.model.mae <= 1.10 * truth.mae
        and found.model.day_wape <= truth.day_wape + 0.03
        and abs(found.model.bias) <= 0.05
    )


@pytest.fixture(scope="module")
def year() -> Year:
    return generated_year()


def test_a_year_of_calls_is_forecast_four_weeks_ahead_nearly_as_well_as_the_true_rate(
    year: Year,
) -> None:
    types = day_types(year.days, calendar())
    found = holdout(year.counts, types, 4, calendar())
    assert found is not None and found.weeks == 4
    assert found.actual.shape == (HELD_OUT, SLOTS)
    assert close_to_the_truth(found, year), found.model
    # The naive forecast carries last week's ordinary days into the holiday week.
    assert found.skill is not None and found.skill > 0.4, (found.model, found.baseline)
    assert found.model.wape is not None and found.model.wape < 0.2


def test_without_holidays_in_the_weeks_held_out_the_model_still_beats_last_week(
    year: Year,
) -> None:
    """Noise alone: last week's count carries its own Poisson noise on top of this
    week's, the model's profile averages it away (ideally 1 − 1/√2 ≈ 0.29 better)."""
    keep = 44 * 7  # ends in mid-August
    part = Year(year.days[:keep], year.counts[:keep], year.expected[:keep])
    types = day_types(part.days, calendar())
    found = holdout(part.counts, types, 4, calendar())
    assert found is not None
    assert close_to_the_truth(found, part), found.model
    assert found.skill is not None and found.skill > 0.2, (found.model, found.baseline)


def test_a_forecast_blind_to_the_week_fails_the_same_check(year: Year) -> None:
    every_day_alike = np.zeros(len(year.days), dtype=np.int64)
    found = holdout(year.counts, every_day_alike, 4, calendar())
    assert found is not None
    assert not close_to_the_truth(found, year)


def test_the_national_day_week_is_forecast_as_holidays_and_not_as_ordinary_days(
    year: Year,
) -> None:
    held = year.days[-HELD_OUT:]
    national_day = np.array([d in HOLIDAYS for d in held])
    assert national_day.sum() == 8 and sum(d in WORKDAYS for d in held) == 2
    knowing = holdout(year.counts, day_types(year.days, calendar()), 4, calendar())
    unaware = holdout(year.counts, day_types(year.days), 4)
    assert knowing is not None and unaware is not None
    on_holiday = errors(knowing.forecast[national_day], knowing.actual[national_day])
    as_ordinary = errors(unaware.forecast[national_day], unaware.actual[national_day])
    assert on_holiday.bias is not None and as_ordinary.bias is not None
    assert abs(on_holiday.bias) < 0.1
    assert as_ordinary.bias > 0.8  # twice the calls that came
    assert not close_to_the_truth(unaware, year)
    # The holiday factor learned from the year's earlier holidays: 45 % of an average
    # day, against the ordinary days' mean of (1.25 + 1.1 + 1.05 + 1 + 1 + 0.6 + 0.5) / 7.
    model = fit(year.counts, day_types(year.days, calendar()), calendar())
    assert model.factors[HOLIDAY] == pytest.approx(0.45 / (6.5 / 7), rel=0.05)


def test_when_the_season_turns_over_in_the_weeks_held_out_the_error_says_so() -> None:
    broken = generated_year(broken_from=52 * 7 - HELD_OUT)
    found = holdout(broken.counts, day_types(broken.days, calendar()), 4, calendar())
    assert found is not None
    assert not close_to_the_truth(found, broken)
    assert found.model.wape is not None and found.model.wape > 0.5


def test_a_small_client_gets_a_smooth_forecast_that_still_beats_last_week() -> None:
    small = generated_year(daily=60.0)
    found = holdout(small.counts, day_types(small.days, calendar()), 4, calendar())
    assert found is not None
    assert close_to_the_truth(found, small), found.model
    assert found.skill is not None and found.skill > 0.2
    assert (found.forecast >= 0).all()


def test_history_too_short_for_a_holdout_or_a_forecast() -> None:
    days = [date(2026, 3, 2) + timedelta(days=n) for n in range(20)]
    counts = np.ones((20, SLOTS), dtype=np.int64)
    types = day_types(days)
    assert holdout(counts, types, 4) is None  # two weeks to fit leave no whole week
    one = holdout(np.ones((21, SLOTS)), day_types([*days, date(2026, 3, 22)]), 4)
    assert one is not None and one.weeks == 1
    assert one.model.mae == pytest.approx(0.0, abs=1e-9)  # a flat line is forecast flat
    with pytest.raises(ValueError, match="at least 14 days"):
        fit(counts[:13], types[:13])
    silent = fit(np.zeros((14, SLOTS)), types[:14])
    assert (silent.forecast(types[:7]) == 0).all()
    assert errors(np.zeros((7, SLOTS)), np.zeros((7, SLOTS))).wape is None
