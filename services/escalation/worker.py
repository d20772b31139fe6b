"""The escalation worker: `python -m services.escalation.worker`.

Its consumer takes in intake's complaints and customer feedback and duty managers'
SMS acknowledgements; its outbox relay publishes every lifecycle event."""

from services.escalation.db import inbox, outbox
from services.escalation.handlers import handlers
from shared.topics import COMPLAINTS_LIFECYCLE, SMS_EVENTS
from shared.worker import WorkerSpec, run_worker

SPEC = WorkerSpec(
    service="escalation",
    outbox=outbox,
    inbox=inbox,
    topics=[COMPLAINTS_LIFECYCLE, SMS_EVENTS],
    handlers=handlers,
)


def main() -> None:
    run_worker(SPEC)


if __name__ == "__main__":
    main()
