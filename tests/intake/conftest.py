"""An intake API on the test PostgreSQL, with tokens for each kind of caller."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from services.intake.db import outbox
from services.intake.main import create_app
from tests.conftest import ServiceEnv


@dataclass
class Intake:
    client: TestClient
    env: ServiceEnv
    agent: dict[str, str]

    def register(self, headers: dict[str, str] | None = None, **fields: Any) -> Any:
        return self.client.post(
            "/complaints", json=complaint(**fields), headers=headers or self.agent
        )

    def outbox_rows(self) -> list[Any]:
        with self.env.db.read() as session:
            return list(session.execute(select(outbox).order_by(outbox.c.id)))

    def count(self, table: str) -> int:
        from sqlalchemy import text

        with self.env.db.read() as session:
            query = text(f"SELECT count(*) FROM {table}")  # noqa: S608 - test tables only
            return int(session.execute(query).scalar_one())


def complaint(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_phone": "138 0013 8000",
        "customer_name": "王女士",
        "channel": "phone",
        "category": "billing",
        "severity": "normal",
        "nature": "genuine",
        "strong_emotion": False,
        "description": "上月话费账单多扣了 30 元，客服一直没有回复。",
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.fixture
def intake(service_env: Callable[[str], ServiceEnv]) -> Iterator[Intake]:
    env = service_env("intake")
    with TestClient(create_app(env.settings)) as client:
        yield Intake(client=client, env=env, agent=env.token("agent", "A001"))
