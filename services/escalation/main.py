"""The escalation API: `uvicorn --factory services.escalation.main:create_app --port 8002`."""

import contextlib
import threading

from fastapi import FastAPI

from services.escalation.complaints import service as complaints
from services.escalation.complaints.views import router as complaints_router
from services.escalation.config import EscalationConfig, check_tenant_sla, get_config
from services.escalation.db import access_log, outbox
from services.escalation.directory.flows import reconcile_grants
from services.escalation.directory.views import router as directory_router
from services.escalation.roster.views import router as roster_router
from services.escalation.worker import SPEC as WORKER
from services.escalation.workload.views import router as workload_router
from shared.api import create_service_app
from shared.clock import utcnow
from shared.loops import Backoff, Stopped, retry
from shared.metrics import MetricsSpec
from shared.outbox import Outbox
from shared.settings import Settings

SERVICE = "escalation"


def create_app(settings: Settings | None = None, config: EscalationConfig | None = None) -> FastAPI:
    settings = settings or Settings()

    def startup(app: FastAPI) -> None:
        # Read at start, so a bad ESCALATION_* setting stops the start, not a request.
        app.state.escalation = config or get_config()
        check_tenant_sla()
        app.state.outbox = Outbox(outbox, lanes=settings.outbox_lanes)
        app.state.stop_reconciling = stop = threading.Event()

        def reconcile() -> None:
            reconcile_grants(app.state.db, app.state.auth_db, now=utcnow())

        try:
            reconcile()
        except Exception:
            # The API serves meanwhile: each directory change still writes its own grant.
            backoff = Backoff("reconciling token grants", first=1.0, ceiling=30.0)

            def until_done() -> None:
                with contextlib.suppress(Stopped):  # the API stopped first
                    retry(reconcile, stop, backoff)

            threading.Thread(target=until_done, name="grants", daemon=True).start()

    def shutdown(app: FastAPI) -> None:
        app.state.stop_reconciling.set()

    return create_service_app(
        service=SERVICE,
        title="Escalation",
        description=(
            "The complaint lifecycle, duty roster, departments, SLA timers and the audit history."
        ),
        settings=settings,
        routers=[
            directory_router,
            roster_router,
            complaints_router,
            workload_router,
            access_log.router(complaint_ids_of=complaints.ids_of),
        ],
        on_startup=startup,
        on_shutdown=shutdown,
        metrics=MetricsSpec.of_worker(WORKER),
    )
