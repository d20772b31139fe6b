"""Calls per half-hour for the weeks ahead, from the weeks behind: pure numpy, no I/O.

The history is a table of days × 48 half-hours of the centre's day. Each day has a type:
its weekday, or `HOLIDAY` (a public holiday, whatever weekday it falls on), or `WORKDAY`
(a make-up workday, 调休: a weekend day worked in exchange for a holiday), from the
centre's working calendar. The model, in three parts:

- **Day factors**: how busy each day type is against the week's run, the recency-
  weighted mean ratio of a day's calls to the centred 7-day moving average of the
  series with the day effects taken out (twice, so a holiday week does not make its
  neighbours look busy). A type seen too seldom borrows: a holiday the centre's weekend
  days, a make-up workday its working days.
- **Level and trend** of the day-adjusted series: Holt's linear method with a damped
  trend (φ = 0.98, so a trend is not carried on for ever), its smoothing constants the
  pair from a small grid that forecast the history seven days ahead best.
- **Intraday profile** per day type: each half-hour's share of the day, recency
  weighted, shrunk towards the profile of all days like it (by a hundred calls' worth),
  so a client with a few calls a day gets a smooth profile rather than last month's
  noise.

A half-hour's forecast is level (carried forward with the damped trend) × the day's
factor × the half-hour's share. The holdout check fits on all but the last weeks,
forecasts them and measures the error beside the seasonal naive forecast (the last week
before them, repeated): a model that cannot beat "same half-hour last week" has not
earned its keep.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np

from shared.calendar import WorkingCalendar

SLOTS = 48  # half-hours in a day
WEEK = 7
HOLIDAY = 7
WORKDAY = 8
TYPES = 9
TYPE_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday", "workday")

DAMPING = 0.98
ALPHAS = (0.02, 0.05, 0.1, 0.2, 0.3, 0.5)
BETAS = (0.0, 0.02, 0.05, 0.1)
# Recent weeks speak louder: a day's weight halves every 13 weeks.
HALF_LIFE_DAYS = 91.0
# Calls' worth of pooled profile a type's own profile is blended with.
PROFILE_PRIOR_CALLS = 100.0
# Fewer days of a type than this and its factor is borrowed.
MIN_DAYS = {HOLIDAY: 3, WORKDAY: 2}
MIN_HISTORY_DAYS = 2 * WEEK


def day_types(days: Sequence[date], calendar: WorkingCalendar | None = None) -> np.ndarray:
    """Each day's type: 0–6 Monday to Sunday, HOLIDAY, WORKDAY (from the calendar)."""
    types = np.empty(len(days), dtype=np.int64)
    for i, day in enumerate(days):
        if calendar is not None and day in calendar.holidays:
            types[i] = HOLIDAY
        elif calendar is not None and day in calendar.workdays:
            types[i] = WORKDAY
        else:
            types[i] = day.weekday()
    return types


def _working(calendar: WorkingCalendar | None) -> tuple[list[int], list[int]]:
    """The weekday types the centre works, and those it does not (its weekend)."""
    if calendar is None:
        return [0, 1, 2, 3, 4], [5, 6]
    works = sorted(d - 1 for d in calendar.weekdays)
    return works, [d for d in range(WEEK) if d not in works]


def _moving_average(series: np.ndarray) -> np.ndarray:
    """Centred 7-day mean, ignoring missing days; shorter windows at the ends, and
    within a run of missing days (a holiday week) the line between its neighbours."""
    known = ~np.isnan(series)
    values = np.where(known, series, 0.0)
    kernel = np.ones(WEEK)
    sums = np.convolve(values, kernel, mode="same")
    counts = np.convolve(known.astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        out: np.ndarray = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    gaps = np.isnan(out)
    if gaps.any() and not gaps.all():
        index = np.arange(len(out))
        out[gaps] = np.interp(index[gaps], index[~gaps], out[~gaps])
    return out


@dataclass(frozen=True)
class SeasonalModel:
    level: float
    trend: float
    alpha: float
    beta: float
    factors: np.ndarray  # (TYPES,): each day type's calls against the run of the weeks
    profiles: np.ndarray  # (TYPES, SLOTS): each half-hour's share of its day

    def forecast(self, types: np.ndarray) -> np.ndarray:
        """Days × half-hours after the last day fitted, for days of these types."""
        steps = np.arange(1, len(types) + 1)
        carried = np.cumsum(DAMPING**steps)
        levels = np.maximum(self.level + self.trend * carried, 0.0)
        daily = levels * self.factors[types]
        out: np.ndarray = daily[:, None] * self.profiles[types]
        return out


def _factors(
    totals: np.ndarray,
    types: np.ndarray,
    weights: np.ndarray,
    calendar: WorkingCalendar | None,
) -> np.ndarray:
    works, rests = _working(calendar)
    factors = np.ones(TYPES)
    for _ in range(2):
        # The run of the weeks is read from ordinary days: a holiday week would pull it
        # down and make the holidays themselves look ordinary.
        with np.errstate(invalid="ignore", divide="ignore"):
            adjusted = np.where(factors[types] > 0, totals / factors[types], np.nan)
        run = _moving_average(np.where(types == HOLIDAY, np.nan, adjusted))
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(run > 0, totals / run, np.nan)
        found = np.full(TYPES, np.nan)
        for kind in range(TYPES):
            mine = (types == kind) & ~np.isnan(ratio)
            if mine.sum() >= MIN_DAYS.get(kind, 1) and weights[mine].sum() > 0:
                found[kind] = np.average(ratio[mine], weights=weights[mine])
        ordinary = found[:WEEK]
        if np.isnan(ordinary).all():
            return np.ones(TYPES)
        ordinary = np.where(np.isnan(ordinary), np.nanmean(ordinary), ordinary)
        ordinary = ordinary / ordinary.mean() if ordinary.mean() > 0 else np.ones(WEEK)
        factors = np.ones(TYPES)
        factors[:WEEK] = ordinary
        rest = ordinary[rests].mean() if rests else ordinary.min()
        scale = found[:WEEK][~np.isnan(found[:WEEK])].mean()
        factors[HOLIDAY] = found[HOLIDAY] / scale if not np.isnan(found[HOLIDAY]) else rest
        factors[WORKDAY] = (
            found[WORKDAY] / scale if not np.isnan(found[WORKDAY]) else ordinary[works].mean()
        )
    return factors


def _profiles(
    counts: np.ndarray,
    types: np.ndarray,
    weights: np.ndarray,
    calendar: WorkingCalendar | None,
) -> np.ndarray:
    works, rests = _working(calendar)
    weighted = counts * weights[:, None]
    calls = np.zeros(TYPES)
    shapes = np.zeros((TYPES, SLOTS))
    for kind in range(TYPES):
        mine = types == kind
        shapes[kind] = weighted[mine].sum(axis=0)
        calls[kind] = shapes[kind].sum()
    every = weighted.sum(axis=0)
    pool = every / every.sum() if every.sum() > 0 else np.full(SLOTS, 1.0 / SLOTS)

    def own(kind: int, prior: np.ndarray) -> np.ndarray:
        blended: np.ndarray = (shapes[kind] + PROFILE_PRIOR_CALLS * prior) / (
            calls[kind] + PROFILE_PRIOR_CALLS
        )
        return blended

    profiles = np.zeros((TYPES, SLOTS))
    for kind in range(WEEK):
        profiles[kind] = own(kind, pool)
    weekend = profiles[rests].mean(axis=0) if rests else pool
    profiles[HOLIDAY] = own(HOLIDAY, weekend)
    profiles[WORKDAY] = own(WORKDAY, profiles[works].mean(axis=0))
    return profiles


def _holt(series: np.ndarray) -> tuple[float, float, float, float]:
    """Level, trend and the (α, β) that forecast `series` seven days ahead best; all
    pairs of the grid at once, one pass over the days."""
    grid_alpha, grid_beta = np.meshgrid(ALPHAS, BETAS, indexing="ij")
    alpha, beta = grid_alpha.ravel(), grid_beta.ravel()
    known = series[~np.isnan(series)]
    start = float(known[:WEEK].mean()) if len(known) else 0.0
    level = np.full(len(alpha), start)
    trend = np.zeros(len(alpha))
    ahead = sum(DAMPING**i for i in range(1, WEEK + 1))
    pending: list[np.ndarray] = []  # the forecasts made for the next seven days
    squared = np.zeros(len(alpha))
    for t, value in enumerate(series):
        if len(pending) == WEEK:
            made = pending.pop(0)
            if not np.isnan(value) and t >= 2 * WEEK:
                squared += (value - made) ** 2
        predicted = level + DAMPING * trend
        if np.isnan(value):
            level, trend = predicted, DAMPING * trend
        else:
            new_level = alpha * value + (1 - alpha) * predicted
            trend = beta * (new_level - level) + (1 - beta) * DAMPING * trend
            level = new_level
        pending.append(level + trend * ahead)
    best = int(np.argmin(squared))
    return float(level[best]), float(trend[best]), float(alpha[best]), float(beta[best])


def fit(
    counts: np.ndarray, types: np.ndarray, calendar: WorkingCalendar | None = None
) -> SeasonalModel:
    """Learn from `counts` (days × SLOTS) whose days have `types`."""
    if counts.ndim != 2 or counts.shape[1] != SLOTS or len(counts) != len(types):
        raise ValueError("counts must be days × 48 half-hours, one type per day")
    if len(counts) < MIN_HISTORY_DAYS:
        raise ValueError(f"a forecast needs at least {MIN_HISTORY_DAYS} days of history")
    age = np.arange(len(counts))[::-1]
    weights = 0.5 ** (age / HALF_LIFE_DAYS)
    totals = counts.sum(axis=1).astype(float)
    factors = _factors(totals, types, weights, calendar)
    with np.errstate(invalid="ignore", divide="ignore"):
        adjusted = np.where(factors[types] > 0, totals / factors[types], np.nan)
    level, trend, alpha, beta = _holt(adjusted)
    return SeasonalModel(
        level=level,
        trend=trend,
        alpha=alpha,
        beta=beta,
        factors=factors,
        profiles=_profiles(counts.astype(float), types, weights, calendar),
    )


def seasonal_naive(counts: np.ndarray, days: int) -> np.ndarray:
    """The last week of `counts`, repeated for `days` days."""
    last = counts[-WEEK:].astype(float)
    out: np.ndarray = np.concatenate([last] * (days // WEEK + 1))[:days]
    return out


@dataclass(frozen=True)
class Errors:
    """Forecast against what came, per half-hour: mean absolute error (calls), weighted
    absolute percentage error (all errors over all calls), mean absolute percentage
    error over the half-hours that had calls, bias (net over- or under-forecast over all
    calls) and the WAPE of the days' totals."""

    mae: float
    wape: float | None
    mape: float | None
    bias: float | None
    day_wape: float | None

    def rounded(self) -> dict[str, float | None]:
        return {
            "mae": round(self.mae, 3),
            "wape": None if self.wape is None else round(self.wape, 4),
            "mape": None if self.mape is None else round(self.mape, 4),
            "bias": None if self.bias is None else round(self.bias, 4),
            "day_wape": None if self.day_wape is None else round(self.day_wape, 4),
        }


def errors(forecast: np.ndarray, actual: np.ndarray) -> Errors:
    actual = actual.astype(float)
    gap = forecast - actual
    calls = float(actual.sum())
    had = actual > 0
    day_gap = np.abs(forecast.sum(axis=1) - actual.sum(axis=1)).sum()
    return Errors(
        mae=float(np.abs(gap).mean()),
        wape=float(np.abs(gap).sum() / calls) if calls else None,
        mape=float((np.abs(gap[had]) / actual[had]).mean()) if had.any() else None,
        bias=float(gap.sum() / calls) if calls else None,
        day_wape=float(day_gap / calls) if calls else None,
    )


@dataclass(frozen=True)
class Holdout:
    weeks: int
    model: Errors
    baseline: Errors
    forecast: np.ndarray
    actual: np.ndarray

    @property
    def skill(self) -> float | None:
        """1 − the model's MAE / the naive forecast's: above 0, the model is better."""
        if self.baseline.mae == 0:
            return None
        return 1.0 - self.model.mae / self.baseline.mae


def holdout_weeks(days: int, wanted: int) -> int:
    """How many of the last weeks can be held out and still leave enough to fit."""
    return max(0, min(wanted, (days - MIN_HISTORY_DAYS) // WEEK))


def holdout(
    counts: np.ndarray,
    types: np.ndarray,
    weeks: int,
    calendar: WorkingCalendar | None = None,
) -> Holdout | None:
    """Fit on all but the last `weeks` weeks, forecast them, compare with what came and
    with the seasonal naive forecast. None when the history is too short for it."""
    weeks = holdout_weeks(len(counts), weeks)
    if weeks == 0:
        return None
    cut = len(counts) - weeks * WEEK
    model = fit(counts[:cut], types[:cut], calendar)
    forecast = model.forecast(types[cut:])
    actual = counts[cut:]
    naive = seasonal_naive(counts[:cut], len(actual))
    return Holdout(weeks, errors(forecast, actual), errors(naive, actual), forecast, actual)
