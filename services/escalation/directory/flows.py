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

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from services.escalation.clients import known
from services.escalation.complaints.service import complaints
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
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.outbox import Outbox
from shared.tenants import DEFAULT_TENANT
from shared.vocabulary import ClerkAssignment

log = logging.getLogger(__name__)


def _grant(values: Any) -> tokens.Grant:
    return tokens.Grant(
        staff_id=values["id"],
        role=values["role"],
        department_id=values["department_id"],
        active=bool(values["active"]),
        tenant=values["tenant"],
    )


def _put_grant(auth_db: Database, values: dict[str, Any], *, now: datetime) -> None:
    with auth_db.transaction() as session:
        if tokens.put_grant(session, _grant(values), now=now):
            log.info(
                "token grant of %s: %s of %s, active=%s",
                values["id"],
                values["role"],
                values["tenant"] or "every client",
                values["active"],
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


def _seen_by(row: Any, keeper: str | None) -> bool:
    """Whether a directory entry is one the keeper sees: someone who works for one client
    sees only that client's departments and people (None: the centre's, every one)."""
    return row is not None and (keeper is None or row.tenant == keeper)


def _client_asked(asked: str | None, keeper: str | None) -> str | None:
    """The client named in a body, as its keeper may name it: one who works for a client
    names only their own."""
    if keeper is not None and asked is not None and asked != keeper:
        raise Forbidden(f"this token belongs to client '{keeper}', not '{asked}'", tenant=keeper)
    return known(asked) if asked is not None else None


def _check_department(
    session: Session, data: DepartmentUpdate, tenant: str, keeper: str | None
) -> None:
    if data.head_staff_id is None:
        return
    head = service.get_staff(session, data.head_staff_id)
    if not _seen_by(head, keeper):
        raise Unprocessable(
            "head_staff_id", f"no staff {data.head_staff_id!r} in the directory; add them first"
        )
    if head.tenant is not None and head.tenant != tenant:
        raise Unprocessable(
            "head_staff_id",
            f"{data.head_staff_id} works for client {head.tenant}, not for {tenant}",
        )


def _staff_tenant(
    session: Session, data: StaffUpdate, *, was: Any, keeper: str | None
) -> str | None:
    """The client a member of staff works for: a clerk's department's; a viewer's one
    (the default when none is named); anyone else's as named, None for the centre's own.
    Left out, it stays what it was (a keeper's client, for someone new)."""
    named = "tenant" in data.model_fields_set
    kept = was.tenant if was is not None else None
    asked = _client_asked(data.tenant, keeper) if named else kept
    if keeper is not None:
        asked = keeper
    if data.role == Role.DEPARTMENT and data.department_id is not None:
        department = service.get_department(session, data.department_id)
        if named and data.tenant != department.tenant:
            raise Unprocessable(
                "tenant",
                f"a clerk's client is always their department's: {data.department_id} "
                f"works for {department.tenant}",
            )
        return str(department.tenant)
    if data.role == Role.VIEWER:
        return asked or DEFAULT_TENANT
    return asked


def _check_staff(session: Session, data: StaffUpdate, keeper: str | None) -> None:
    if data.role == Role.DEPARTMENT and data.department_id is None:
        raise Unprocessable("department_id", "a department user needs a department")
    if data.department_id is not None:
        department = service.get_department(session, data.department_id)
        if not _seen_by(department, keeper):
            raise Unprocessable("department_id", f"no department {data.department_id!r}")


def _in_use(session: Session, department_id: str) -> bool:
    """Whether a department has people or complaints, which are its client's for good."""
    people = exists().where(service.staff.c.department_id == department_id)
    held = exists().where(complaints.c.department_id == department_id)
    return bool(session.execute(select(people | held)).scalar())


def create_department(
    db: Database, data: DepartmentCreate, *, now: datetime, keeper: str | None = None
) -> DepartmentRead:
    """A department of the client named (a keeper's own; else the default client)."""
    tenant = _client_asked(data.tenant, keeper) or keeper or DEFAULT_TENANT
    values: dict[str, Any] = {
        **data.model_dump(),
        "tenant": tenant,
        "created_at": now,
        "updated_at": now,
    }
    values["assignment"] = data.assignment or ClerkAssignment.QUEUE
    try:
        with db.transaction() as session:
            if service.get_department(session, data.id) is not None:
                raise Conflict(f"department {data.id!r} already exists", department_id=data.id)
            _check_department(session, data, tenant, keeper)
            service.insert_department(session, values=values)
    except IntegrityError:  # created by a concurrent request after our check
        raise Conflict(f"department {data.id!r} already exists", department_id=data.id) from None
    return DepartmentRead.model_validate(values)


def replace_department(
    db: Database,
    department_id: str,
    data: DepartmentUpdate,
    *,
    now: datetime,
    keeper: str | None = None,
) -> DepartmentRead:
    """Change a department; its client only while it has neither people nor complaints."""
    with db.transaction() as session:
        row = service.get_department(session, department_id)
        if not _seen_by(row, keeper):
            raise NotFound(f"no department {department_id!r}", department_id=department_id)
        tenant = _client_asked(data.tenant, keeper) or row.tenant
        if tenant != row.tenant and _in_use(session, department_id):
            raise Unprocessable(
                "tenant",
                f"{department_id} has staff or complaints of client {row.tenant}, which stay "
                "that client's: add a department for the other client instead",
            )
        _check_department(session, data, tenant, keeper)
        values = {**data.model_dump(), "tenant": tenant, "updated_at": now}
        if data.assignment is None:  # a client that knows nothing of it keeps it as it is
            del values["assignment"]
        service.update_department(session, department_id=department_id, values=values)
    return DepartmentRead.model_validate({**row._mapping, **values})


def create_staff(
    db: Database,
    auth_db: Database,
    data: StaffCreate,
    *,
    now: datetime,
    keeper: str | None = None,
) -> StaffRead:
    values: dict[str, Any] = {**data.model_dump(), "created_at": now, "updated_at": now}
    try:
        with db.transaction() as session:
            if service.get_staff(session, data.id) is not None:
                raise Conflict(f"staff {data.id!r} already exists", staff_id=data.id)
            _check_staff(session, data, keeper)
            values["tenant"] = _staff_tenant(session, data, was=None, keeper=keeper)
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
    keeper: str | None = None,
) -> StaffRead:
    """Deactivating someone, or changing their role or department, revokes their tokens
    in every service at once. A clerk who leaves their department so leaves the
    complaints they owned there (workload.flows.hand_back), given the outbox for the
    events that says so."""
    with db.transaction() as session:
        row = service.get_staff(session, staff_id)
        if not _seen_by(row, keeper):
            raise NotFound(f"no staff {staff_id!r}", staff_id=staff_id)
        _check_staff(session, data, keeper)
        values = {
            **data.model_dump(),
            "tenant": _staff_tenant(session, data, was=row, keeper=keeper),
            "updated_at": now,
        }
        service.update_staff(session, staff_id=staff_id, values=values)
        _put_grant(auth_db, {"id": staff_id, **values}, now=now)
        left = row.department_id
        if outbox is not None and config is not None and left is not None:
            was = workload.still_clerk_of(row._mapping, left)
            if was and not workload.still_clerk_of(values, left):
                workload.hand_back(session, outbox, staff_id, left, now=now, config=config)
    return StaffRead.model_validate({**row._mapping, **values})
