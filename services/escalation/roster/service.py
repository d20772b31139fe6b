"""Database reads and writes for the roster; the caller owns the transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
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


def covering(session: Session, at: datetime) -> Any:
    """The shift on duty at `at`: the one that started last, if shifts touch."""
    query = (
        select(shifts)
        .where(shifts.c.starts_at <= at, shifts.c.ends_at > at)
        .order_by(shifts.c.starts_at.desc(), shifts.c.id)
        .limit(1)
    )
    return session.execute(query).first()


def overlapping(session: Session, starts_at: datetime, ends_at: datetime) -> Any:
    """A shift sharing any moment with [starts_at, ends_at), or None."""
    query = (
        select(shifts)
        .where(and_(shifts.c.starts_at < ends_at, shifts.c.ends_at > starts_at))
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
) -> list[Any]:
    query = select(shifts)
    if since is not None:
        query = query.where(shifts.c.ends_at > since)
    if until is not None:
        query = query.where(shifts.c.starts_at < until)
    if staff_id is not None:
        query = query.where(
            (shifts.c.staff_id == staff_id) | (shifts.c.backup_staff_id == staff_id)
        )
    return list(session.execute(query.order_by(shifts.c.starts_at, shifts.c.id).limit(limit)))


def lock_desk(session: Session) -> Any:
    """The duty desk row, locked until the transaction ends (created on first use)."""
    row = session.execute(
        select(duty_desk).where(duty_desk.c.id == DESK_ID).with_for_update()
    ).first()
    if row is None:
        session.execute(insert(duty_desk), [{"id": DESK_ID}])
        row = session.execute(
            select(duty_desk).where(duty_desk.c.id == DESK_ID).with_for_update()
        ).first()
    return row


def set_desk(session: Session, *, staff_id: str, shift_id: str | None, since: datetime) -> None:
    session.execute(
        update(duty_desk)
        .where(duty_desk.c.id == DESK_ID)
        .values(staff_id=staff_id, shift_id=shift_id, since=since)
    )
