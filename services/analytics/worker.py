"""The analytics worker: `python -m services.analytics.worker` (outbox relay and consumer)."""

from services.analytics.db import inbox, outbox
from shared.worker import WorkerSpec, run_worker

SPEC = WorkerSpec(service="analytics", outbox=outbox, inbox=inbox)


def main() -> None:
    run_worker(SPEC)


if __name__ == "__main__":
    main()
