"""Notify's figures for `/metrics`, read from its message log when scraped (shared.metrics):
whichever process sends (the worker's sender) or takes receipts (the API), the log says
what happened to every SMS."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select

from services.notify.messages.models import DUE
from services.notify.messages.service import messages
from shared.db import Database
from shared.metrics import Cached, MetricsContext, age_seconds, bounded_read, up_gauge

# The provider took these (a later receipt may still fail a `submitted` or `sent` one).
TAKEN = ("submitted", "sent", "delivered")


@dataclass(frozen=True)
class SmsCounts:
    # (direction, status) -> messages
    by_status: dict[tuple[str, str], int]
    # Outgoing messages the provider took, and those that failed for good. Messages are
    # never deleted and a status only moves forward, so both only grow.
    sent: int
    failed: int
    # The earliest moment a message still waiting for the sender was due.
    oldest_due: datetime | None


def read_counts(db: Database, *, timeout: float) -> SmsCounts:
    m = messages
    with bounded_read(db, timeout) as conn:
        rows = conn.execute(
            select(
                m.c.direction,
                m.c.status,
                func.count(),
                func.sum(case((m.c.submitted_at.is_not(None), 1), else_=0)),
            ).group_by(m.c.direction, m.c.status)
        ).all()
        oldest_due = conn.scalar(select(func.min(m.c.due_at)).where(m.c.status.in_(DUE)))
    by_status = {(direction, status): int(n) for direction, status, n, _ in rows}
    sent = sum(
        int(n) if status in TAKEN else int(submitted or 0)
        for direction, status, n, submitted in rows
        if direction == "out"
    )
    return SmsCounts(by_status, sent, by_status.get(("out", "failed"), 0), oldest_due)


class SmsCollector:
    def __init__(self, service: str, cached: Cached[SmsCounts]) -> None:
        self.service = service
        self.cached = cached

    def collect(self) -> Iterable[Metric]:
        reading = self.cached.get()
        yield up_gauge(
            "sms_up",
            "1 when the SMS counts could be read from the message log.",
            self.service,
            reading,
        )
        counts = reading.value
        if counts is None:
            return
        labels = [self.service]
        sent = CounterMetricFamily(
            "sms_sent", "Outgoing SMS the provider accepted.", labels=["service"]
        )
        sent.add_metric(labels, counts.sent)
        yield sent
        failed = CounterMetricFamily(
            "sms_failed",
            "Outgoing SMS that failed for good (after the last retry, or by receipt).",
            labels=["service"],
        )
        failed.add_metric(labels, counts.failed)
        yield failed
        by_status = GaugeMetricFamily(
            "sms_messages",
            "Messages in the log by direction (out, in) and status.",
            labels=["service", "direction", "status"],
        )
        for (direction, status), n in sorted(counts.by_status.items()):
            by_status.add_metric([self.service, direction, status], n)
        yield by_status
        due = GaugeMetricFamily(
            "sms_oldest_due_age_seconds",
            "How long past its due time the oldest message waiting for the sender is "
            "(0: none overdue).",
            labels=["service"],
        )
        due.add_metric(labels, age_seconds(counts.oldest_due))
        yield due


def sms_collectors(ctx: MetricsContext) -> Sequence[Collector]:
    cached = ctx.cached("sms", lambda: read_counts(ctx.db, timeout=ctx.timeout_seconds))
    return [SmsCollector(ctx.service, cached)]
