"""An API that says which uvicorn worker answered, for tests that run several:

python -m shared.serve --factory tests.support.probe_app:create_app --workers 2
"""

from __future__ import annotations

import os
import time

from fastapi import APIRouter, FastAPI

from shared.api import create_service_app
from shared.settings import Settings


def create_app() -> FastAPI:
    router = APIRouter()

    @router.get("/pid")
    def pid() -> dict[str, int]:
        time.sleep(0.01)  # long enough for concurrent requests to spread over the workers
        return {"pid": os.getpid()}

    return create_service_app(
        service="probe", title="Probe", description="", settings=Settings(), routers=[router]
    )
