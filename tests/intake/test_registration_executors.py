"""One registration, three ways of running it: on SQLite in a transaction (the API's
embedded default, the import command), on PostgreSQL in a transaction (the import
command) and on PostgreSQL's async pool (the API). The same calls leave the same rows,
the same event and the same answers behind, whichever ran them."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from services.intake.complaints import registration
from services.intake.complaints.registration import (
    Ask,
    Executor,
    NewComplaint,
    PoolExecutor,
    Registered,
    ThreadExecutor,
)
from services.intake.complaints.service import complaints, customers, idempotency
from services.intake.config import IntakeConfig
from services.intake.db import outbox
from shared.db import Database, database_for
from shared.errors import Conflict
from shared.migrations import upgrade
from shared.outbox import Outbox
from shared.settings import Settings

pytestmark = pytest.mark.postgres

AT = datetime(2026, 11, 22, 15, 30, tzinfo=UTC)  # 23:30 in Beijing: the reference's date
CONFIG = IntakeConfig()
BOX = Outbox(outbox, lanes=4)


def new(
    description: str = "上月话费账单多扣了 30 元，客服一直没有回复。", **fields: Any
) -> NewComplaint:
    values: dict[str, Any] = {
        "customer_key": "+8613800138000",
        "customer_phone": "+8613800138000",
        "customer_name": "王女士",
        "channel": "phone",
        "category": "billing",
        "severity": "normal",
        "nature": "genuine",
        "strong_emotion": False,
        "description": description,
        "occurred_at": AT - timedelta(days=2),
        "registered_at": AT,
        "registered_by": "A001",
        "registered_by_role": "agent",
    }
    return NewComplaint(**(values | fields))


def as_if_new(steps: Generator[Ask, Any, Registered]) -> Generator[Ask, Any, Registered]:
    """A request that looked its key up just before another request stored it: it goes
    on to store, and finds the key taken there."""
    ask = next(steps)
    assert ask.step == registration.STORED_ANSWER
    ask = steps.send(None)
    while True:
        answer = yield ask
        try:
            ask = steps.send(answer)
        except StopIteration as done:
            return done.value


async def story(executor: Executor, db: Database) -> dict[str, Any]:
    """An agent's calls, retries and mistakes; what each got back and what was stored.

    The races come last: a lost race may have taken a number (a PostgreSQL sequence
    never gives one back, a rolled-back SQLite counter does), and gaps are no fault."""

    async def register(
        complaint: NewComplaint,
        complaint_id: str,
        *,
        key: str | None = None,
        digest: str = "",
        race: bool = False,
    ) -> Any:
        steps = registration.steps(
            complaint,
            BOX,
            CONFIG,
            idempotency_key=key,
            request_hash=digest,
            complaint_id=complaint_id,
        )
        try:
            done = await executor.execute(as_if_new(steps) if race else steps)
        except Conflict as exc:
            return ("409", exc.details)
        return (done.status_code, done.body)

    later = AT + timedelta(minutes=5)
    answers = {
        "first": await register(new(), "c-1", key="k-1", digest="h-1"),
        "retry": await register(new(), "c-x", key="k-1", digest="h-1"),
        "key reused": await register(new("宽带断网三天。"), "c-y", key="k-1", digest="h-2"),
        "no key": await register(new("宽带断网三天。", category="network"), "c-2"),
        "imported": await register(
            new(
                customer_key="ref:C-778",
                customer_phone=None,
                customer_ref="C-778",
                customer_name=None,
                registered_at=later,
                registered_by="import",
                registered_by_role="system",
                external_id="OLD-1",
                imported=True,
                occurred_at=None,
            ),
            "c-3",
        ),
        "third call": await register(new(customer_name=None, registered_at=later), "c-4"),
        "lost race": await register(new(), "c-z", key="k-1", digest="h-1", race=True),
        "lost race, other body": await register(
            new("快递丢件。"), "c-w", key="k-1", digest="h-3", race=True
        ),
    }
    with db.read() as session:
        stored = {
            "complaints": [
                r._asdict() for r in session.execute(select(complaints).order_by(complaints.c.id))
            ],
            "customers": [
                r._asdict() for r in session.execute(select(customers).order_by(customers.c.key))
            ],
            "keys": [r._asdict() for r in session.execute(select(idempotency))],
            "events": [
                _event(r._asdict()) for r in session.execute(select(outbox).order_by(outbox.c.id))
            ],
        }
    return {"answers": answers, **stored}


def _event(row: dict[str, Any]) -> dict[str, Any]:
    """An outbox row less what is new for every event (its id, when it was written)."""
    value = json.loads(row.pop("value"))
    for name in ("id", "event_id", "created_at"):
        row.pop(name)
    value.pop("event_id")
    headers = dict(row.pop("headers"))
    assert headers.pop("correlation_id") == value.pop("correlation_id")
    return {**row, "headers": headers, "value": value}


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    settings = Settings(data_dir=tmp_path)
    upgrade("intake", url=settings.database_url_for("intake"))
    db = database_for("intake", settings)
    yield db
    db.dispose()


def run_story(executor: Executor, db: Database) -> dict[str, Any]:
    async def main() -> dict[str, Any]:
        await executor.open()
        try:
            return await story(executor, db)
        finally:
            await executor.close()

    return anyio.run(main)


@pytest.fixture
def stories(sqlite_db: Database, migrated: Callable[[str], Database]) -> dict[str, dict[str, Any]]:
    pg_sync, pg_pool = migrated("intake"), migrated("intake")
    return {
        "sqlite": run_story(ThreadExecutor(sqlite_db), sqlite_db),
        "postgresql, in a transaction": run_story(ThreadExecutor(pg_sync), pg_sync),
        "postgresql, async pool": run_story(PoolExecutor(pg_pool, size=2), pg_pool),
    }


def test_every_executor_leaves_the_same_rows_events_and_answers(
    stories: dict[str, dict[str, Any]],
) -> None:
    sqlite, *others = stories.values()
    for other in others:
        assert other["answers"] == sqlite["answers"]
        for table in ("complaints", "customers", "keys", "events"):
            assert other[table] == sqlite[table], table


def test_what_the_story_stored_is_what_registering_means(
    stories: dict[str, dict[str, Any]],
) -> None:
    got = stories["postgresql, async pool"]
    answers = got["answers"]
    status, first = answers["first"]
    assert status == 201 and first["reference"] == "TS20261122-000001"
    assert answers["retry"] == (200, first)
    assert answers["lost race"] == (200, first)
    for refused in ("key reused", "lost race, other body"):
        status, details = answers[refused]
        assert status == "409" and details["complaint_id"] == "c-1"
    # A replay takes no number, and a request that lost the race for its key stored nothing.
    assert [c["id"] for c in got["complaints"]] == ["c-1", "c-2", "c-3", "c-4"]
    assert [c["number"] for c in got["complaints"]] == [1, 2, 3, 4]
    status, third = answers["third call"]
    assert third["customer_file"] == {
        "open_complaints": 2,
        "complaints_last_30_days": 2,
        "total_complaints": 2,
        "repeat": True,
        "last_complaint_at": AT.isoformat().replace("+00:00", "Z"),
    }
    caller, imported = got["customers"]
    assert (caller["key"], caller["name"], caller["complaint_count"]) == (
        "+8613800138000",
        "王女士",  # a later call without the name keeps it
        3,
    )
    assert (caller["first_seen_at"], caller["last_complaint_at"]) == (AT, AT + timedelta(minutes=5))
    assert (imported["key"], imported["external_ref"], imported["phone"]) == (
        "ref:C-778",
        "C-778",
        None,
    )
    (key,) = got["keys"]
    assert (key["key"], key["complaint_id"], key["response"]) == ("k-1", "c-1", first)
    events = got["events"]
    assert [e["value"]["complaint_id"] for e in events] == ["c-1", "c-2", "c-3", "c-4"]
    assert all(e["event_type"] == "complaint.received" for e in events)
    assert events[2]["value"]["payload"]["imported"] is True
    assert events[3]["value"]["payload"]["open_complaints"] == 2
