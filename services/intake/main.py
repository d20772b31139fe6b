"""The intake API: `uvicorn --factory services.intake.main:create_app --port 8001`."""

import threading

from fastapi import FastAPI

from services.intake.attachments.flows import Attachments
from services.intake.attachments.views import UPLOAD_PATH
from services.intake.attachments.views import router as attachments_router
from services.intake.complaints import service as complaints
from services.intake.complaints.registration import executor_for
from services.intake.complaints.views import router as complaints_router
from services.intake.config import IntakeConfig, get_config
from services.intake.db import access_log, outbox
from services.intake.knowledge.views import router as knowledge_router
from services.intake.search.views import router as search_router
from services.intake.search.words import warm_up
from services.intake.worker import SPEC as WORKER
from shared.api import create_service_app
from shared.metrics import MetricsSpec
from shared.outbox import Outbox
from shared.settings import Settings
from shared.taxonomy import taxonomy

SERVICE = "intake"
# A file's multipart envelope (boundaries, headers, the form's other fields) beside it.
_MULTIPART_ROOM = 64 * 1024


def create_app(settings: Settings | None = None, config: IntakeConfig | None = None) -> FastAPI:
    settings = settings or Settings()
    config = config or get_config()

    async def startup(app: FastAPI) -> None:
        taxonomy()  # a broken taxonomy file stops the start, not the first request
        # The segmenter's dictionary, loaded beside the start rather than by the first
        # registration (which waits for it if it comes sooner).
        threading.Thread(target=warm_up, name="words-warm-up", daemon=True).start()
        app.state.outbox = Outbox(outbox, lanes=settings.outbox_lanes)
        app.state.attachments = Attachments.from_config(config, settings)
        app.state.registrar = executor_for(app.state.db, pool_size=settings.db_pool_size)
        await app.state.registrar.open()

    async def shutdown(app: FastAPI) -> None:
        await app.state.registrar.close()

    return create_service_app(
        service=SERVICE,
        title="Intake",
        description="Complaint registration, customer files and customer feedback.",
        settings=settings,
        # Search's first: /complaints/similar is no complaint's id.
        routers=[
            search_router,
            complaints_router,
            attachments_router,
            knowledge_router,
            access_log.router(complaint_ids_of=complaints.ids_of),
        ],
        on_startup=startup,
        on_shutdown=shutdown,
        metrics=MetricsSpec.of_worker(WORKER),
        # A file a little over the limit still reaches intake, which names the limit.
        larger_bodies=[(UPLOAD_PATH, config.attachment_max_bytes + 1024 * 1024 + _MULTIPART_ROOM)],
    )
