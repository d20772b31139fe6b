"""Database reads and writes for the directory; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from services.escalation.directory.models import Department, Staff
from shared.db import table_of

departments = table_of(Department)
staff = table_of(Staff)


# A caller that reads the same few people many times in one transaction (the SLA sweep)
# puts a dict under this key in `session.info`; lookups then hit the database once each.
CACHE = "directory_cache"


def _cached(session: Session, key: tuple[Any, ...], load: Any) -> Any:
    cache = session.info.get(CACHE)
    if cache is None:
        return load()
    if key not in cache:
        cache[key] = load()
    return cache[key]


def get_department(session: Session, department_id: str) -> Any:
    """One department, or None."""
    query = select(departments).where(departments.c.id == department_id)
    return _cached(session, ("department", department_id), lambda: session.execute(query).first())


def lock_department(session: Session, department_id: str) -> Any:
    """One department, read afresh and locked until the transaction ends; or None."""
    query = select(departments).where(departments.c.id == department_id).with_for_update()
    return session.execute(query).first()


def list_departments(
    session: Session, *, active: bool | None = None, tenant: str | None = None
) -> list[Any]:
    """Departments by id, optionally of one client."""
    query = select(departments).order_by(departments.c.id)
    if active is not None:
        query = query.where(departments.c.active.is_(active))
    if tenant is not None:
        query = query.where(departments.c.tenant == tenant)
    return list(session.execute(query))


def insert_department(session: Session, *, values: dict[str, Any]) -> None:
    """Store a new department."""
    session.execute(insert(departments), [values])


def update_department(session: Session, *, department_id: str, values: dict[str, Any]) -> None:
    """Change a department's fields."""
    session.execute(update(departments).where(departments.c.id == department_id).values(**values))


def get_staff(session: Session, staff_id: str) -> Any:
    """One member of staff, or None."""
    query = select(staff).where(staff.c.id == staff_id)
    return _cached(session, ("staff", staff_id), lambda: session.execute(query).first())


def list_staff(
    session: Session,
    *,
    role: str | None = None,
    department_id: str | None = None,
    active: bool | None = None,
    tenant: str | None = None,
    serving: str | None = None,
) -> list[Any]:
    """Staff by id, optionally of one role, department or activity; of one client
    (`tenant`), or those who may serve one (`serving`: its own and the centre's)."""
    query = select(staff).order_by(staff.c.id)
    if tenant is not None:
        query = query.where(staff.c.tenant == tenant)
    if serving is not None:
        query = query.where(or_(staff.c.tenant.is_(None), staff.c.tenant == serving))
    if role is not None:
        query = query.where(staff.c.role == role)
    if department_id is not None:
        query = query.where(staff.c.department_id == department_id)
    if active is not None:
        query = query.where(staff.c.active.is_(active))
    key = ("staff list", role, department_id, active, tenant, serving)
    found: list[Any] = _cached(session, key, lambda: list(session.execute(query)))
    return found


def staff_by_ids(session: Session, ids: Iterable[str]) -> dict[str, Any]:
    """The staff among these ids that the directory knows, by id."""
    wanted = sorted({i for i in ids if i})
    if not wanted:
        return {}
    rows = session.execute(select(staff).where(staff.c.id.in_(wanted)))
    return {row.id: row for row in rows}


def insert_staff(session: Session, *, values: dict[str, Any]) -> None:
    """Store a new member of staff."""
    session.execute(insert(staff), [values])


def update_staff(session: Session, *, staff_id: str, values: dict[str, Any]) -> None:
    """Change a member of staff's fields."""
    session.execute(update(staff).where(staff.c.id == staff_id).values(**values))


def first_active(session: Session, *, role: str) -> Any:
    """The active member of staff with this role whose id sorts first, or None."""
    query = (
        select(staff)
        .where(staff.c.role == role, staff.c.active.is_(True))
        .order_by(staff.c.id)
        .limit(1)
    )
    return session.execute(query).first()
