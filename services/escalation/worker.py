"""The escalation worker: `python -m services.escalation.worker`.

Its consumer takes in intake's complaints, customer feedback and callers' urges (from
intake.events) and duty managers' SMS acknowledgements (from notify's sms.events); its
outbox relay publishes every lifecycle event (to complaints.lifecycle); its SLA
scheduler hands open complaints over at each shift change and acts on breached
deadlines (sla.py). Several workers may run: each breach is acted on once."""

from collections.abc import Sequence

from services.escalation.config import get_config
from services.escalation.db import inbox, outbox
from services.escalation.handlers import handlers
from services.escalation.sla import scheduler_loop
from shared.db import Database
from shared.outbox import Outbox
from shared.settings import Settings
from shared.topics import INTAKE_EVENTS, SMS_EVENTS
from shared.worker import Loop, WorkerSpec, run_worker


def loops(db: Database, settings: Settings) -> Sequence[Loop]:
    return [scheduler_loop(db, Outbox(outbox, lanes=settings.outbox_lanes), get_config())]


SPEC = WorkerSpec(
    service="escalation",
    outbox=outbox,
    inbox=inbox,
    topics=[INTAKE_EVENTS, SMS_EVENTS],
    handlers=handlers,
    loops=loops,
)


def main() -> None:
    run_worker(SPEC)


if __name__ == "__main__":
    main()
