"""The escalation worker: `python -m services.escalation.worker` (outbox relay and consumer)."""

from services.escalation.db import inbox, outbox
from shared.worker import WorkerSpec, run_worker

SPEC = WorkerSpec(service="escalation", outbox=outbox, inbox=inbox)


def main() -> None:
    run_worker(SPEC)


if __name__ == "__main__":
    main()
