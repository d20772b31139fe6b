"""The analytics worker: `python -m services.analytics.worker`.

Its consumer keeps the read models (complaint facts, the lifecycle event log, root-cause
revisions) from every complaint event: intake's, escalation's and its own QA revisions,
which its outbox relay publishes (to analytics.events) and the rebuild replays.

Loops beside it: one reads what recent complaints are about (their place and problem,
for hot issues) while there is nothing else to do; one computes this month's and the
last 30 days' hot issues ahead (every client's, and each client's where the centre
serves several), each minute they changed; one checks every
ANALYTICS_HOT_ISSUE_CHECK_SECONDS for an issue that crossed the alert threshold within
the day and publishes `analytics.hot_issue_detected` for it, once, in its client's name."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from services.analytics.config import get_config
from services.analytics.db import inbox, outbox
from services.analytics.handlers import handlers
from services.analytics.reports import hot
from services.analytics.text.issues import Weights
from shared.clock import utcnow
from shared.db import Database
from shared.outbox import Outbox
from shared.settings import Settings
from shared.tenants import tenants
from shared.topics import ANALYTICS_EVENTS, COMPLAINTS_LIFECYCLE, INTAKE_EVENTS
from shared.worker import Loop, WorkerSpec, run_worker

log = logging.getLogger(__name__)
# Hot issues are mostly asked about the last month: its subjects are read ahead.
READ_AHEAD_DAYS = 45
# The month's and the last 30 days' hot issues (the dashboard's) are computed this often
# while complaints arrive, so nobody waits for them.
WARM_EVERY = 60


def loops(db: Database, settings: Settings) -> list[Loop]:
    config = get_config()
    tz = config.tz()
    sender = Outbox(outbox, lanes=settings.outbox_lanes)

    def read_subjects(stop: threading.Event) -> None:
        while not stop.is_set():
            read = 0
            try:
                read = hot.fill_recent(db, now=utcnow(), tz=tz, days=READ_AHEAD_DAYS)
            except Exception as exc:  # the next round tries again
                log.warning("reading what complaints are about failed: %s", exc)
            stop.wait(1 if read else 30)

    def warm(stop: threading.Event) -> None:
        weights = Weights.parse(config.hot_issue_weights)
        while not stop.is_set():
            try:
                now = utcnow()
                today = now.astimezone(tz).date()
                # The centre's staff read every client's; a client's viewer its own.
                clients: list[str | None] = [None]
                if tenants().several:
                    clients += tenants().ids
                asks = [
                    hot.Ask(
                        start,
                        today,
                        weights=weights,
                        min_callers=config.hot_issue_min_callers,
                        tenant=client,
                    )
                    for client in clients
                    for start in (today.replace(day=1), today - timedelta(days=29))
                ]
                hot.warm(db, asks, tz=tz, now=now)
            except Exception as exc:
                log.warning("computing this month's hot issues ahead failed: %s", exc)
            stop.wait(WARM_EVERY)

    def alert(stop: threading.Event) -> None:
        while not stop.wait(config.hot_issue_check_seconds):
            try:
                told = hot.publish_alerts(
                    db,
                    sender,
                    now=utcnow(),
                    tz=tz,
                    threshold=config.hot_issue_alert_callers,
                    quiet_days=config.hot_issue_quiet_days,
                )
                for label in told:
                    log.info("hot issue alert: %s", label)
            except Exception as exc:
                log.warning("hot issue check failed: %s", exc)

    found: list[Loop] = [read_subjects, warm]
    if config.hot_issue_check_seconds > 0:
        found.append(alert)
    return found


# Also what `services.analytics.rebuild` replays by default.
TOPICS = (INTAKE_EVENTS, COMPLAINTS_LIFECYCLE, ANALYTICS_EVENTS)

SPEC = WorkerSpec(
    service="analytics",
    outbox=outbox,
    inbox=inbox,
    topics=TOPICS,
    handlers=handlers,
    loops=loops,
)


def main() -> None:
    run_worker(SPEC)


if __name__ == "__main__":
    main()
