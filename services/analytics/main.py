"""The analytics API: `uvicorn --factory services.analytics.main:create_app --port 8004`."""

from fastapi import FastAPI

from shared.api import create_service_app
from shared.settings import Settings

SERVICE = "analytics"


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        service=SERVICE,
        title="Analytics",
        description="Root-cause analytics, reports and the dashboard.",
        settings=settings or Settings(),
        routers=[],
    )
