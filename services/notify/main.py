"""The notify API: `uvicorn --factory services.notify.main:create_app --port 8003`."""

from fastapi import FastAPI

from shared.api import create_service_app
from shared.settings import Settings

SERVICE = "notify"


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        service=SERVICE,
        title="Notify",
        description="SMS to duty managers, departments and customers, and their replies.",
        settings=settings or Settings(),
        routers=[],
    )
