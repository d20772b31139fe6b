"""The directory API: departments and staff, kept by an administrator."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.escalation.clients import TenantQuery, scoped
from services.escalation.config import ConfigDep
from services.escalation.directory import flows, service
from services.escalation.directory.models import (
    DepartmentCreate,
    DepartmentRead,
    DepartmentUpdate,
    StaffCreate,
    StaffRead,
    StaffUpdate,
)
from shared.auth.deps import CurrentPrincipal, require_roles
from shared.auth.principal import Principal, Role
from shared.clock import utcnow
from shared.deps import AuthDb, Db, OutboxDep
from shared.errors import NotFound
from shared.logs import mask_phone
from shared.privacy import sight
from shared.tenants import may_see

router = APIRouter(tags=["directory"])

Admin = Annotated[Principal, require_roles(Role.ADMIN)]
# Staff entries carry phone numbers: only those who assign work or keep the directory.
StaffReader = Annotated[Principal, require_roles(Role.ADMIN, Role.DUTY_MANAGER, Role.SUPERVISOR)]


@router.post(
    "/departments",
    status_code=201,
    response_model=DepartmentRead,
    responses={409: {"description": "a department with this id exists"}},
)
def create_department(db: Db, data: DepartmentCreate, principal: Admin) -> DepartmentRead:
    """Add a department that complaints of its client (`tenant`) can be dispatched to. An
    administrator who works for one client adds departments of that client only."""
    return flows.create_department(db, data, now=utcnow(), keeper=principal.tenant)


def _department_seen(row: object, principal: Principal) -> DepartmentRead:
    """A department as the caller may see it: its contact mobiles (its clerks' own, as
    often as not) in full for those who see staff phones (shared.privacy), else masked."""
    department = DepartmentRead.model_validate(row)
    if not sight(principal.role).staff_phone:
        department.contact_phones = [mask_phone(p) for p in department.contact_phones]
    return department


@router.get("/departments", response_model=list[DepartmentRead])
def list_departments(
    db: Db,
    principal: CurrentPrincipal,
    active: Annotated[bool | None, Query(description="Only active (or inactive) ones")] = None,
    tenant: TenantQuery = None,
) -> list[DepartmentRead]:
    """Every department, by id: what a duty manager can dispatch to (a complaint goes
    only to a department of its own client). Someone who works for one client sees that
    client's only."""
    client = scoped(principal, tenant)
    with db.read() as session:
        rows = service.list_departments(session, active=active, tenant=client)
    return [_department_seen(row, principal) for row in rows]


@router.get("/departments/{department_id}", response_model=DepartmentRead)
def get_department(db: Db, department_id: str, principal: CurrentPrincipal) -> DepartmentRead:
    with db.read() as session:
        row = service.get_department(session, department_id)
    if row is None or not may_see(principal, row.tenant):
        raise NotFound(f"no department {department_id!r}", department_id=department_id)
    return _department_seen(row, principal)


@router.put("/departments/{department_id}", response_model=DepartmentRead)
def replace_department(
    db: Db, department_id: str, data: DepartmentUpdate, principal: Admin
) -> DepartmentRead:
    """Change a department's name, contact phones, head or whether it takes tickets; its
    client only while it has neither staff nor complaints."""
    return flows.replace_department(db, department_id, data, now=utcnow(), keeper=principal.tenant)


@router.post(
    "/staff",
    status_code=201,
    response_model=StaffRead,
    responses={409: {"description": "a member of staff with this id exists"}},
)
def create_staff(db: Db, auth_db: AuthDb, data: StaffCreate, principal: Admin) -> StaffRead:
    """Add a member of staff: duty managers, supervisors and department clerks need a phone.
    From then on they may hold tokens of their role, for their client (`tenant`; none:
    every client). An administrator who works for one client adds that client's only."""
    return flows.create_staff(db, auth_db, data, now=utcnow(), keeper=principal.tenant)


def _staff_seen(row: object, principal: Principal) -> bool:
    """Someone who works for one client sees that client's people, not the centre's."""
    return principal.tenant is None or getattr(row, "tenant", None) == principal.tenant


@router.get("/staff", response_model=list[StaffRead])
def list_staff(
    db: Db,
    principal: StaffReader,
    role: str | None = None,
    department_id: str | None = None,
    active: bool | None = None,
    tenant: TenantQuery = None,
) -> list[StaffRead]:
    """Staff by id, optionally of one role, one department or one client (`tenant`: those
    who work for that client, not the centre's own). Someone who works for one client
    sees that client's only."""
    client = scoped(principal, tenant)
    with db.read() as session:
        rows = service.list_staff(
            session, role=role, department_id=department_id, active=active, tenant=client
        )
    return [StaffRead.model_validate(row) for row in rows]


@router.get("/staff/{staff_id}", response_model=StaffRead)
def get_staff(db: Db, staff_id: str, principal: StaffReader) -> StaffRead:
    with db.read() as session:
        row = service.get_staff(session, staff_id)
    if row is None or not _staff_seen(row, principal):
        raise NotFound(f"no staff {staff_id!r}", staff_id=staff_id)
    return StaffRead.model_validate(row)


@router.put("/staff/{staff_id}", response_model=StaffRead)
def replace_staff(
    db: Db,
    auth_db: AuthDb,
    outbox: OutboxDep,
    config: ConfigDep,
    staff_id: str,
    data: StaffUpdate,
    principal: Admin,
) -> StaffRead:
    """Change a member of staff; `active: false` when they leave (their history stays).
    Deactivating them or changing their role or department revokes their tokens at once,
    and a clerk's open complaints go back to their department's queue (or, where it
    hands them out by a rota, on to the next clerk)."""
    return flows.replace_staff(
        db,
        auth_db,
        staff_id,
        data,
        now=utcnow(),
        outbox=outbox,
        config=config,
        keeper=principal.tenant,
    )
