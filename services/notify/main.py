"""The notify API: `uvicorn --factory services.notify.main:create_app --port 8003`.

The development SMS gateway is a separate app: `services.notify.gateway:create_app`."""

from fastapi import FastAPI

from services.notify.config import NotifyConfig, get_config
from services.notify.db import access_log
from services.notify.handlers import make_context
from services.notify.messages import service as messages
from services.notify.messages.views import router as messages_router
from services.notify.metrics import sms_collectors
from services.notify.providers import provider_for
from services.notify.webhooks.receipts import ReceiptLine
from services.notify.webhooks.views import router as webhooks_router
from services.notify.worker import SPEC as WORKER
from shared.api import create_service_app
from shared.metrics import MetricsSpec
from shared.settings import Settings

SERVICE = "notify"


def create_app(settings: Settings | None = None, config: NotifyConfig | None = None) -> FastAPI:
    settings = settings or Settings()

    def startup(app: FastAPI) -> None:
        # Read at start: a bad NOTIFY_* setting or template file stops the start.
        notify_config = config or get_config()
        app.state.notify = make_context(notify_config, settings)
        app.state.provider = provider_for(notify_config)
        app.state.receipts = ReceiptLine(app.state.db, app.state.notify, app.state.provider.name)

    return create_service_app(
        service=SERVICE,
        title="Notify",
        description="SMS to duty managers, departments and customers, and their replies.",
        settings=settings,
        routers=[
            messages_router,
            webhooks_router,
            access_log.router(complaint_ids_of=messages.complaint_ids_of),
        ],
        on_startup=startup,
        metrics=MetricsSpec.of_worker(WORKER, collectors=sms_collectors),
    )
