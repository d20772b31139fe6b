"""The escalation API: `uvicorn --factory services.escalation.main:create_app --port 8002`."""

from fastapi import FastAPI

from shared.api import create_service_app
from shared.settings import Settings

SERVICE = "escalation"


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        service=SERVICE,
        title="Escalation",
        description=(
            "The complaint lifecycle, duty roster, departments, SLA timers and the audit history."
        ),
        settings=settings or Settings(),
        routers=[],
    )
