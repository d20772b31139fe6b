"""The analytics worker: `python -m services.analytics.worker`.

Its consumer keeps the read models (complaint facts, the lifecycle event log, root-cause
revisions) from every complaint event; its outbox relay publishes QA's revisions."""

from services.analytics.db import inbox, outbox
from services.analytics.handlers import handlers
from shared.topics import COMPLAINTS_LIFECYCLE
from shared.worker import WorkerSpec, run_worker

SPEC = WorkerSpec(
    service="analytics",
    outbox=outbox,
    inbox=inbox,
    topics=[COMPLAINTS_LIFECYCLE],
    handlers=handlers,
)


def main() -> None:
    run_worker(SPEC)


if __name__ == "__main__":
    main()
