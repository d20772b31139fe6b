"""An analytics API on the test PostgreSQL, its clock at the end of the fixture month."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.analytics.db import inbox
from services.analytics.handlers import handlers_for
from services.analytics.main import create_app
from shared.clock import ManualClock
from shared.db import Database
from shared.events import Envelope, encode, registry
from shared.inbox import claim
from tests.analytics.story import BEIJING, NOW
from tests.conftest import ServiceEnv


def load(db: Database, envelopes: Iterable[Envelope]) -> int:
    """Apply events as the worker would (decoded from their bytes, inbox first); return
    how many had an effect."""
    handlers = handlers_for(BEIJING)
    applied = 0
    with db.transaction() as session:
        for envelope in envelopes:
            event = registry.decode(encode(envelope))
            if claim(session, inbox, consumer="analytics", envelope=event.envelope):
                handlers[event.type](session, event)
                applied += 1
    return applied


@dataclass
class Analytics:
    client: TestClient
    env: ServiceEnv
    clock: ManualClock
    supervisor: dict[str, str]
    qa: dict[str, str]
    viewer: dict[str, str]

    def get(self, path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
        response = self.client.get(path, params=params, headers=headers or self.supervisor)
        assert response.status_code == 200, response.text
        return response.json() if "json" in response.headers["content-type"] else response.text


@pytest.fixture
def analytics(service_env: Callable[[str], ServiceEnv]) -> Iterator[Analytics]:
    env = service_env("analytics")
    clock = ManualClock(NOW)
    with TestClient(create_app(env.settings, clock=clock)) as client:
        yield Analytics(
            client=client,
            env=env,
            clock=clock,
            supervisor=env.token("supervisor", "S001"),
            qa=env.token("qa", "QA01"),
            viewer=env.token("viewer", "CLIENT1"),
        )
