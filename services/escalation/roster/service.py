"""Database reads and writes for the roster; the caller owns the transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from services.escalation.roster.models import DutyDesk, Shift
from shared.db import table_of

shifts = table_of(Shift)
duty_desk = table_of(DutyDesk)
DESK_ID = 1


def insert_shift(session: Session, *, values: dict[str, Any]) -> None:
    session.execute(insert(shifts), [values])


def delete_shift(session: Session, shift_id: str) -> None:
    session.execute(delete(shifts).where(shifts.c.id == shift_id))


def get_shift(session: Session, shift_id: str) -> Any:
    return session.execute(select(shifts).where(shifts.c.id == shift_id)).first()


def on_roster(roster: str | None) -> ColumnElement[bool]:
    """The shifts of one roster: a client's own, or (None) the centre's shared one."""
    return shifts.c.tenant.is_(None) if roster is None else shifts.c.tenant == roster


# A caller that asks who is on duty for many moments close together in one transaction
# (a consumer's batch of new complaints) puts a dict under this key in `session.info`:
# the roster's shifts of a few minutes ahead are then read once, and each moment's shift
# picked from them as the query below would.
CACHE = "shift_cache"
AHEAD = timedelta(minutes=5)


def covering(session: Session, at: datetime, roster: str | None = None) -> Any:
    """The roster's shift on duty at `at`: the one that started last, if shifts touch."""
    cache = session.info.get(CACHE)
    if cache is not None:
        return _covering_from(cache, session, at, roster)
    query = (
        select(shifts)
        .where(shifts.c.starts_at <= at, shifts.c.ends_at > at, on_roster(roster))
        .order_by(shifts.c.starts_at.desc(), shifts.c.id)
        .limit(1)
    )
    return session.execute(query).first()


def _covering_from(
    cache: dict[str | None, tuple[datetime, datetime, list[Any]]],
    session: Session,
    at: datetime,
    roster: str | None,
) -> Any:
    held = cache.get(roster)
    if held is None or not held[0] <= at < held[1]:
        query = select(shifts).where(
            shifts.c.starts_at <= at + AHEAD, shifts.c.ends_at > at, on_roster(roster)
        )
        held = cache[roster] = (at, at + AHEAD, list(session.execute(query)))
    on = [row for row in held[2] if row.starts_at <= at < row.ends_at]
    if not on:
        return None
    latest = max(row.starts_at for row in on)
    return min((row for row in on if row.starts_at == latest), key=lambda row: row.id)


def overlapping(
    session: Session, starts_at: datetime, ends_at: datetime, roster: str | None = None
) -> Any:
    """A shift of the roster sharing any moment with [starts_at, ends_at), or None."""
    query = (
        select(shifts)
        .where(and_(shifts.c.starts_at < ends_at, shifts.c.ends_at > starts_at), on_roster(roster))
        .order_by(shifts.c.starts_at)
        .limit(1)
    )
    return session.execute(query).first()


def list_shifts(
    session: Session,
    *,
    since: datetime | None,
    until: datetime | None,
    staff_id: str | None,
    limit: int,
    serving: str | None = None,
) -> list[Any]:
    """Shifts in a stretch of time; `serving` a client: those of the rosters that may
    give it a manager, its own and the shared one."""
    query = select(shifts)
    if serving is not None:
        query = query.where(or_(shifts.c.tenant == serving, shifts.c.tenant.is_(None)))
    if since is not None:
        query = query.where(shifts.c.ends_at > since)
    if until is not None:
        query = query.where(shifts.c.starts_at < until)
    if staff_id is not None:
        query = query.where(
            (shifts.c.staff_id == staff_id) | (shifts.c.backup_staff_id == staff_id)
        )
    return list(session.execute(query.order_by(shifts.c.starts_at, shifts.c.id).limit(limit)))


def _desk(roster: str | None) -> ColumnElement[bool]:
    return duty_desk.c.id == DESK_ID if roster is None else duty_desk.c.tenant == roster


def lock_desk(session: Session, roster: str | None = None) -> Any:
    """The roster's duty desk row, locked until the transaction ends (created on first
    use; a client's under the shared desk's lock, so two schedulers create it once)."""
    query = select(duty_desk).where(_desk(roster)).with_for_update()
    row = session.execute(query).first()
    if row is None and roster is not None:
        lock_desk(session)
        row = session.execute(query).first()
        if row is None:
            taken = session.execute(select(func.max(duty_desk.c.id))).scalar()
            values = {"id": max(int(taken or 0), DESK_ID) + 1, "tenant": roster}
            session.execute(insert(duty_desk), [values])
            row = session.execute(query).first()
    elif row is None:
        session.execute(insert(duty_desk), [{"id": DESK_ID}])
        row = session.execute(query).first()
    return row


def set_desk(
    session: Session,
    *,
    staff_id: str,
    shift_id: str | None,
    since: datetime,
    roster: str | None = None,
) -> None:
    session.execute(
        update(duty_desk)
        .where(_desk(roster))
        .values(staff_id=staff_id, shift_id=shift_id, since=since)
    )
