"""The intake API: `uvicorn --factory services.intake.main:create_app --port 8001`."""

from fastapi import FastAPI

from shared.api import create_service_app
from shared.settings import Settings

SERVICE = "intake"


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        service=SERVICE,
        title="Intake",
        description="Complaint registration, customer files and customer feedback.",
        settings=settings or Settings(),
        routers=[],
    )
