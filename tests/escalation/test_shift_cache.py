"""The worker's batch of new complaints reads the roster once: the manager on duty it
picks from the shifts read ahead is, at every moment, the one the roster's query picks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, insert

from services.escalation.directory.service import staff
from services.escalation.roster import service
from shared.db import Database

pytestmark = pytest.mark.postgres

DAY = datetime(2026, 12, 7, tzinfo=UTC)


def at(hour: float) -> datetime:
    return DAY + timedelta(hours=hour)


# (id, roster, manager, from, to): touching, overlapping (the later start wins), and a
# client's own roster beside the centre's.
SHIFTS = [
    ("s-a", None, "DM1", 8, 12),
    ("s-b", None, "DM2", 11, 16),
    ("s-c", None, "DM3", 16, 20),
    ("s-d", None, "DM1", 16, 17),  # starts with s-c: the lower id wins the tie
    ("s-w", "waters", "DM2", 9, 10),
]


@pytest.fixture
def roster_db(migrated: Callable[[str], Database]) -> Database:
    db = migrated("escalation")
    now = DAY
    with db.transaction() as session:
        session.execute(
            insert(staff),
            [
                {
                    "id": name,
                    "name": name,
                    "phone": f"+861380013800{n}",
                    "role": "duty_manager",
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for n, name in enumerate(("DM1", "DM2", "DM3"))
            ],
        )
        for shift_id, roster, manager, start, end in SHIFTS:
            service.insert_shift(
                session,
                values={
                    "id": shift_id,
                    "tenant": roster,
                    "staff_id": manager,
                    "starts_at": at(start),
                    "ends_at": at(end),
                    "created_by": "AD01",
                    "created_at": now,
                },
            )
    return db


def test_the_shift_on_duty_from_the_shifts_read_ahead_is_the_querys_at_every_moment(
    roster_db: Database,
) -> None:
    # Every minute of the day's edges and changes, and the boundaries to the microsecond.
    moments = sorted(
        {at(7.5) + timedelta(minutes=m) for m in range(0, 13 * 60 + 1)}
        | {
            at(h) + d
            for h in (8, 11, 12, 16, 17, 20)
            for d in (-timedelta(microseconds=1), timedelta(0))
        }
    )
    with roster_db.read() as plain, roster_db.read() as cached:
        cached.info[service.CACHE] = {}
        reads = 0

        def count(*_: object) -> None:
            nonlocal reads
            reads += 1

        event.listen(cached, "do_orm_execute", count)
        picked: dict[tuple[datetime, str | None], str | None] = {}
        for moment in moments:
            for roster in (None, "waters"):
                expected = service.covering(plain, moment, roster)
                got = service.covering(cached, moment, roster)
                assert (got.id if got else None) == (expected.id if expected else None), (
                    moment,
                    roster,
                )
                picked[moment, roster] = got.id if got else None
    assert picked[at(11), None] == "s-b"
    assert picked[at(16), None] == "s-c"
    assert picked[at(12) - timedelta(microseconds=1), None] == "s-b"
    assert picked[at(9.5), "waters"] == "s-w"
    assert picked[at(20), None] is None
    # Read once per roster for each five minutes of moments, not once per moment.
    assert reads <= 2 * (13 * 60 // 5 + 2)
