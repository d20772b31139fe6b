"""Spikes: a category's day against its trailing baseline.

For each category and day, the baseline is the `baseline_days` days before it (days
without complaints count as zero). The statistic is a z-score,
z = (count − mean) / √max(variance, mean, 1): the variance is floored at the mean, as
for Poisson counts, so a category that was flat at 1 a day is not a spike at 3.
A day is a spike when its count reaches `min_count` and z reaches `threshold`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

STATISTIC = (
    "z = (count - mean) / sqrt(max(variance, mean, 1)) over the trailing {days} days "
    "(population variance; zero days included)"
)


def find_spikes(
    counts: Mapping[str, Mapping[date, int]],
    *,
    start: date,
    end: date,
    baseline_days: int,
    min_count: int,
    threshold: float,
) -> dict[str, Any]:
    spikes: list[dict[str, Any]] = []
    days = (end - start).days + 1
    for category, per_day in counts.items():
        for offset in range(days):
            day = start + timedelta(days=offset)
            count = per_day.get(day, 0)
            if count < min_count:
                continue
            window = [
                per_day.get(day - timedelta(days=back), 0) for back in range(1, baseline_days + 1)
            ]
            mean = sum(window) / baseline_days
            variance = sum((x - mean) ** 2 for x in window) / baseline_days
            z = (count - mean) / math.sqrt(max(variance, mean, 1.0))
            if z >= threshold:
                spikes.append(
                    {
                        "category": category,
                        "day": day.isoformat(),
                        "count": count,
                        "baseline_mean": round(mean, 2),
                        "baseline_std": round(math.sqrt(variance), 2),
                        "z": round(z, 2),
                    }
                )
    spikes.sort(key=lambda s: (-s["z"], s["day"], s["category"]))
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "statistic": STATISTIC.format(days=baseline_days),
        "baseline_days": baseline_days,
        "min_count": min_count,
        "threshold": threshold,
        "spikes": spikes,
    }
