"""The notify worker: `python -m services.notify.worker` (outbox relay and consumer)."""

from services.notify.db import inbox, outbox
from shared.worker import WorkerSpec, run_worker

SPEC = WorkerSpec(service="notify", outbox=outbox, inbox=inbox)


def main() -> None:
    run_worker(SPEC)


if __name__ == "__main__":
    main()
