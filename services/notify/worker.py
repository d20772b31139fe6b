"""The notify worker: `python -m services.notify.worker`.

Its consumer turns intake's `complaint.received` (intake.events), the lifecycle events
(complaints.lifecycle) and analytics' `analytics.hot_issue_detected` (analytics.events)
into stored messages; its sender hands them to the SMS provider, retrying with backoff,
and merges held notices into digests; its outbox relay publishes `sms.sent`,
`sms.delivered`, `sms.failed` and `sms.inbound` (to sms.events, which it does not read
itself)."""

from __future__ import annotations

from collections.abc import Sequence

from services.notify.config import get_config
from services.notify.db import inbox, outbox
from services.notify.handlers import handlers, make_context
from services.notify.providers import provider_for
from services.notify.sender import Sender
from shared.db import Database
from shared.settings import Settings
from shared.topics import ANALYTICS_EVENTS, COMPLAINTS_LIFECYCLE, INTAKE_EVENTS
from shared.worker import Loop, WorkerSpec, run_worker


def loops(db: Database, settings: Settings) -> Sequence[Loop]:
    config = get_config()
    sender = Sender(db, make_context(config, settings), provider_for(config))
    return [sender.run]


SPEC = WorkerSpec(
    service="notify",
    outbox=outbox,
    inbox=inbox,
    topics=[INTAKE_EVENTS, COMPLAINTS_LIFECYCLE, ANALYTICS_EVENTS],
    handlers=handlers,
    loops=loops,
)


def main() -> None:
    run_worker(SPEC)


if __name__ == "__main__":
    main()
