"""Keeping the directory: each change checked against what it refers to, in one transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.escalation.directory import service
from services.escalation.directory.models import (
    DepartmentCreate,
    DepartmentRead,
    DepartmentUpdate,
    StaffCreate,
    StaffRead,
    StaffUpdate,
)
from shared.auth.principal import Role
from shared.db import Database
from shared.errors import Conflict, NotFound, Unprocessable


def _check_department(session: Session, data: DepartmentUpdate) -> None:
    if data.head_staff_id is not None and service.get_staff(session, data.head_staff_id) is None:
        raise Unprocessable(
            "head_staff_id", f"no staff {data.head_staff_id!r} in the directory; add them first"
        )


def _check_staff(session: Session, data: StaffUpdate) -> None:
    if data.role == Role.DEPARTMENT and data.department_id is None:
        raise Unprocessable("department_id", "a department user needs a department")
    if data.department_id is not None:
        department = service.get_department(session, data.department_id)
        if department is None:
            raise Unprocessable("department_id", f"no department {data.department_id!r}")


def create_department(db: Database, data: DepartmentCreate, *, now: datetime) -> DepartmentRead:
    values: dict[str, Any] = {**data.model_dump(), "created_at": now, "updated_at": now}
    try:
        with db.transaction() as session:
            if service.get_department(session, data.id) is not None:
                raise Conflict(f"department {data.id!r} already exists", department_id=data.id)
            _check_department(session, data)
            service.insert_department(session, values=values)
    except IntegrityError:  # created by a concurrent request after our check
        raise Conflict(f"department {data.id!r} already exists", department_id=data.id) from None
    return DepartmentRead.model_validate(values)


def replace_department(
    db: Database, department_id: str, data: DepartmentUpdate, *, now: datetime
) -> DepartmentRead:
    with db.transaction() as session:
        row = service.get_department(session, department_id)
        if row is None:
            raise NotFound(f"no department {department_id!r}", department_id=department_id)
        _check_department(session, data)
        values = {**data.model_dump(), "updated_at": now}
        service.update_department(session, department_id=department_id, values=values)
    return DepartmentRead.model_validate({**row._mapping, **values})


def create_staff(db: Database, data: StaffCreate, *, now: datetime) -> StaffRead:
    values: dict[str, Any] = {**data.model_dump(), "created_at": now, "updated_at": now}
    try:
        with db.transaction() as session:
            if service.get_staff(session, data.id) is not None:
                raise Conflict(f"staff {data.id!r} already exists", staff_id=data.id)
            _check_staff(session, data)
            service.insert_staff(session, values=values)
    except IntegrityError:
        raise Conflict(f"staff {data.id!r} already exists", staff_id=data.id) from None
    return StaffRead.model_validate(values)


def replace_staff(db: Database, staff_id: str, data: StaffUpdate, *, now: datetime) -> StaffRead:
    with db.transaction() as session:
        row = service.get_staff(session, staff_id)
        if row is None:
            raise NotFound(f"no staff {staff_id!r}", staff_id=staff_id)
        _check_staff(session, data)
        values = {**data.model_dump(), "updated_at": now}
        service.update_staff(session, staff_id=staff_id, values=values)
    return StaffRead.model_validate({**row._mapping, **values})
