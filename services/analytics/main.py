"""The analytics API: `uvicorn --factory services.analytics.main:create_app --port 8004`."""

from __future__ import annotations

import threading

from fastapi import FastAPI

from services.analytics.dashboard.views import router as dashboard_router
from services.analytics.db import outbox
from services.analytics.reports.views import router as reports_router
from services.analytics.staffing.views import router as staffing_router
from services.analytics.text.tokens import warm_up
from services.analytics.worker import SPEC as WORKER
from shared.api import create_service_app
from shared.clock import Clock, SystemClock
from shared.metrics import MetricsSpec
from shared.outbox import Outbox
from shared.settings import Settings

SERVICE = "analytics"


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings or Settings()

    def startup(app: FastAPI) -> None:
        app.state.outbox = Outbox(outbox, lanes=settings.outbox_lanes)
        app.state.clock = clock or SystemClock()
        # In the background: the API answers at once, text views are quick when asked.
        threading.Thread(target=warm_up, name="text-warm-up", daemon=True).start()

    return create_service_app(
        service=SERVICE,
        title="Analytics",
        description="Root-cause analytics, reports and the dashboard.",
        settings=settings,
        routers=[reports_router, staffing_router, dashboard_router],
        on_startup=startup,
        metrics=MetricsSpec.of_worker(WORKER),
    )
