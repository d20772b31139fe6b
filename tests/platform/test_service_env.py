"""The service fixture every API test stands on: real migrations, real tokens."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from services.intake.main import create_app
from tests.conftest import ServiceEnv

pytestmark = pytest.mark.postgres


def test_a_service_answers_ready_with_its_own_schema_and_knows_its_callers(
    service_env: Callable[[str], ServiceEnv],
) -> None:
    env = service_env("intake")
    with TestClient(create_app(env.settings)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert env.db.schema == env.settings.schema_for("intake") != "intake"
        headers = env.token("agent", "A001")
        assert client.get("/healthz", headers=headers).status_code == 200
