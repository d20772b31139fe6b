"""The intake worker: `python -m services.intake.worker`.

Its outbox relay publishes what the API registered (to intake.events); its consumer keeps
the lifecycle read copy from the escalation service's events (complaints.lifecycle) and
records what customers text back (notify's `sms.inbound`, on sms.events), indexing the
words of replies and notes for search; a daily loop forgets old Idempotency-Keys."""

from __future__ import annotations

import logging
import threading

from services.intake.complaints.flows import purge_idempotency_keys
from services.intake.config import get_config
from services.intake.db import inbox, outbox
from services.intake.handlers import handlers
from services.intake.search.words import warm_up
from shared.clock import utcnow
from shared.db import Database
from shared.settings import Settings
from shared.topics import COMPLAINTS_LIFECYCLE, SMS_EVENTS
from shared.worker import Loop, WorkerSpec, run_worker

log = logging.getLogger(__name__)


def _loops(db: Database, _settings: Settings) -> list[Loop]:
    # The segmenter's dictionary, loaded while the consumer starts: a reply's words are
    # indexed as the reply is taken in, and its state should not wait a second for it.
    threading.Thread(
        target=warm_up, kwargs={"weights": False}, name="words-warm-up", daemon=True
    ).start()

    def purge(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                gone = purge_idempotency_keys(db, now=utcnow(), config=get_config())
                if gone:
                    log.info("forgot %d expired idempotency keys", gone)
            except Exception as exc:  # the next round tries again
                log.warning("idempotency key purge failed: %s", exc)
            stop.wait(3600)

    return [purge]


SPEC = WorkerSpec(
    service="intake",
    outbox=outbox,
    inbox=inbox,
    topics=[COMPLAINTS_LIFECYCLE, SMS_EVENTS],
    handlers=handlers,
    loops=_loops,
)


def main() -> None:
    run_worker(SPEC)


if __name__ == "__main__":
    main()
