"""The time from `POST /complaints` to the duty manager's SMS, with every process of the
platform running (bench/pipeline.py starts it), at a fixed 200 complaints a second.

    make bench ARGS=pipeline_latency   (or: python -m bench pipeline_latency [--quick])

Complaints are registered at 200/s for 30 s, each a different caller; for each, the time
from the request to its duty manager's SMS being stored by the development gateway. The
per-recipient SMS limits are raised (one duty manager would otherwise get digests). Its
figures are printed once every complaint's SMS has arrived and was matched to it.
"""

from __future__ import annotations

from collections.abc import Iterator

from bench.common import Check, Context, Figure, percentile, say
from bench.pipeline import latency, running_platform

NAME = "pipeline_latency"
DESCRIPTION = "POST /complaints → the duty manager's SMS at 200/s, the whole platform running"


def run(ctx: Context) -> Iterator[Figure | Check]:
    rate, seconds = 200, 5 if ctx.quick else 30
    with running_platform(ctx, NAME) as up:
        say(f"{NAME}: {rate}/s for {seconds}s, POST → duty manager's SMS")
        latencies, refused = latency(up.platform, up.http, up.agent, rate, seconds)
    yield Check(NAME, "refused registrations", 0, refused)
    yield Check(
        NAME, "complaints matched to their duty manager's SMS", rate * seconds, len(latencies)
    )
    for p in (50, 95, 99):
        yield Figure(
            NAME,
            f"POST → duty manager's SMS at {rate}/s, p{p}",
            round(percentile(latencies, p), 1),
            "ms",
            "goal p99 < 500 ms" if p == 99 else "",
        )
