"""The analytics worker: `python -m services.analytics.worker`.

Its consumer keeps the read models (complaint facts, the lifecycle event log, root-cause
revisions) from every complaint event: intake's, escalation's and its own QA revisions,
which its outbox relay publishes (to analytics.events) and the rebuild replays."""

from services.analytics.db import inbox, outbox
from services.analytics.handlers import handlers
from shared.topics import ANALYTICS_EVENTS, COMPLAINTS_LIFECYCLE, INTAKE_EVENTS
from shared.worker import WorkerSpec, run_worker

# Also what `services.analytics.rebuild` replays by default.
TOPICS = (INTAKE_EVENTS, COMPLAINTS_LIFECYCLE, ANALYTICS_EVENTS)

SPEC = WorkerSpec(
    service="analytics",
    outbox=outbox,
    inbox=inbox,
    topics=TOPICS,
    handlers=handlers,
)


def main() -> None:
    run_worker(SPEC)


if __name__ == "__main__":
    main()
