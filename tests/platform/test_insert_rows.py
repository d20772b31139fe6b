"""Many rows in one insert whose text does not depend on how many rows there are: a
consumer's batch of events claimed in its inbox, the events its handlers announce
written to its outbox."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import select

from services.intake.db import inbox, outbox
from shared.db import Database, create_database, insert_rows
from shared.migrations import upgrade

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def outbox_rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "event_id": f"00000000-0000-0000-0000-{start + i:012d}",
            "topic": "intake.events",
            "key": f"C{(start + i) % 3}",
            "lane": (start + i) % 4,
            "event_type": "complaint.received",
            "value": f'{{"n": {start + i}, "text": "话费多扣了"}}',
            "headers": [["event_type", "complaint.received"], ["n", str(start + i)]],
            "created_at": T0 + timedelta(seconds=start + i),
        }
        for i in range(n)
    ]


def claims(ids: list[int]) -> list[dict[str, Any]]:
    return [
        {
            "consumer": "notify",
            "event_id": f"e-{i}",
            "event_type": "complaint.received",
            "topic": None if i % 2 else "intake.events",
            "partition": None if i % 2 else i % 3,
            "offset": None if i % 2 else 10_000_000_000 + i,
            "processed_at": T0,
        }
        for i in ids
    ]


def check(db: Database) -> None:
    with db.transaction() as session:
        insert_rows(session, outbox, outbox_rows(3))
        insert_rows(session, outbox, outbox_rows(120, start=3))
    with db.read() as session:
        got = session.execute(select(outbox).order_by(outbox.c.id)).all()
    # In the order given: the relay publishes by id.
    assert [r.event_id for r in got] == [r["event_id"] for r in outbox_rows(123)]
    assert got[7].headers == [["event_type", "complaint.received"], ["n", "7"]]
    assert got[7].value == '{"n": 7, "text": "话费多扣了"}'
    assert (got[7].lane, got[7].created_at) == (3, T0 + timedelta(seconds=7))

    with db.transaction() as session:
        first = insert_rows(
            session, inbox, claims([1, 2, 3]), skip_existing=True, returning="event_id"
        )
        again = insert_rows(
            session, inbox, claims([2, 3, 4, 5]), skip_existing=True, returning="event_id"
        )
    assert sorted(first) == ["e-1", "e-2", "e-3"]
    assert sorted(again) == ["e-4", "e-5"]  # 2 and 3 were there already
    with db.read() as session:
        row = session.execute(select(inbox).where(inbox.c.event_id == "e-4")).one()
        odd = session.execute(select(inbox).where(inbox.c.event_id == "e-5")).one()
    assert (row.topic, row.partition, row.offset) == ("intake.events", 1, 10_000_000_004)
    assert (odd.topic, odd.partition, odd.offset) == (None, None, None)


@pytest.mark.postgres
def test_rows_inserted_in_order_with_one_statement_text_for_any_count_of_rows(
    migrated: Callable[[str], Database],
) -> None:
    db = migrated("intake")
    texts: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("INSERT INTO"):
            texts.append(statement)

    sqlalchemy.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        check(db)
    finally:
        sqlalchemy.event.remove(db.engine, "before_cursor_execute", seen)
    # 3 rows and 120 rows: one text; the inbox's claims: one more.
    assert len(texts) == 4
    assert len(set(texts)) == 2


def test_on_sqlite_the_same_rows_go_in(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    upgrade("intake", url=url, schema="intake")
    db = create_database(url, schema="intake")
    try:
        check(db)
    finally:
        db.dispose()
