"""Keeping the directory: each change checked against what it refers to, in one transaction.

Who may hold a bearer token is the directory's say: each change to a member of staff is
copied to the token store's grants (shared.auth.store), which every service verifies
tokens against, in the same request. The grant is written before the directory commits,
so a directory change that fails leaves at worst a grant that is stricter than before;
`reconcile_grants` (at each start) puts right whatever drifted.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.escalation.config import EscalationConfig
from services.escalation.directory import service
from services.escalation.directory.models import (
    DepartmentCreate,
    DepartmentRead,
    DepartmentUpdate,
    StaffCreate,
    StaffRead,
    StaffUpdate,
)
from services.escalation.workload import flows as workload
from shared.auth import store as tokens
from shared.auth.principal import Role
from shared.db import Database
from shared.errors import Conflict, NotFound, Unprocessable
from shared.outbox import Outbox
from shared.vocabulary import ClerkAssignment

log = logging.getLogger(__name__)


def _grant(values: Any) -> tokens.Grant:
    return tokens.Grant(
        staff_id=values["id"],
        role=values["role"],
        department_id=values["department_id"],
        active=bool(values["active"]),
    )


def _put_grant(auth_db: Database, values: dict[str, Any], *, now: datetime) -> None:
    with auth_db.transaction() as session:
        if tokens.put_grant(session, _grant(values), now=now):
            log.info(
                "token grant of %s: %s, active=%s", values["id"], values["role"], values["active"]
            )


def reconcile_grants(db: Database, auth_db: Database, *, now: datetime) -> int:
    """Make the token store's grants say what the whole directory says; how many changed."""

    def everyone() -> Iterator[tokens.Grant]:
        for row in rows:
            yield _grant(row._mapping)

    with db.read() as session:
        rows = service.list_staff(session)
    with auth_db.transaction() as session:
        changed = tokens.reconcile_grants(session, everyone(), now=now)
    if changed:
        log.info("token grants reconciled with the directory: %d changed", changed)
    return changed


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
    values["assignment"] = data.assignment or ClerkAssignment.QUEUE
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
        if data.assignment is None:  # a client that knows nothing of it keeps it as it is
            del values["assignment"]
        service.update_department(session, department_id=department_id, values=values)
    return DepartmentRead.model_validate({**row._mapping, **values})


def create_staff(db: Database, auth_db: Database, data: StaffCreate, *, now: datetime) -> StaffRead:
    values: dict[str, Any] = {**data.model_dump(), "created_at": now, "updated_at": now}
    try:
        with db.transaction() as session:
            if service.get_staff(session, data.id) is not None:
                raise Conflict(f"staff {data.id!r} already exists", staff_id=data.id)
            _check_staff(session, data)
            service.insert_staff(session, values=values)
            _put_grant(auth_db, values, now=now)
    except IntegrityError:
        raise Conflict(f"staff {data.id!r} already exists", staff_id=data.id) from None
    return StaffRead.model_validate(values)


def replace_staff(
    db: Database,
    auth_db: Database,
    staff_id: str,
    data: StaffUpdate,
    *,
    now: datetime,
    outbox: Outbox | None = None,
    config: EscalationConfig | None = None,
) -> StaffRead:
    """Deactivating someone, or changing their role or department, revokes their tokens
    in every service at once. A clerk who leaves their department so leaves the
    complaints they owned there (workload.flows.hand_back), given the outbox for the
    events that says so."""
    with db.transaction() as session:
        row = service.get_staff(session, staff_id)
        if row is None:
            raise NotFound(f"no staff {staff_id!r}", staff_id=staff_id)
        _check_staff(session, data)
        values = {**data.model_dump(), "updated_at": now}
        service.update_staff(session, staff_id=staff_id, values=values)
        _put_grant(auth_db, {"id": staff_id, **values}, now=now)
        left = row.department_id
        if outbox is not None and config is not None and left is not None:
            was = workload.still_clerk_of(row._mapping, left)
            if was and not workload.still_clerk_of(values, left):
                workload.hand_back(session, outbox, staff_id, left, now=now, config=config)
    return StaffRead.model_validate({**row._mapping, **values})
