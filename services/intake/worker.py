"""The intake worker: `python -m services.intake.worker` (outbox relay and consumer)."""

from services.intake.db import inbox, outbox
from shared.worker import WorkerSpec, run_worker

SPEC = WorkerSpec(service="intake", outbox=outbox, inbox=inbox)


def main() -> None:
    run_worker(SPEC)


if __name__ == "__main__":
    main()
