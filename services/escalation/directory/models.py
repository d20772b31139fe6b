"""Departments and staff: the tables and the API schemas that read and write them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy import JSON, Column
from sqlmodel import Field as Col

from services.escalation.config import get_config
from services.escalation.db import EscalationTable, tenant_column
from shared.auth.principal import ROLES
from shared.db import UTCDateTime
from shared.phones import InvalidPhone, normalise_phone
from shared.tenants import TENANT_PATTERN
from shared.vocabulary import ClerkAssignment

DEPARTMENT_ID = r"^[a-z0-9][a-z0-9_\-]{0,63}$"  # the same slug a department user's token carries
STAFF_ID = r"^[A-Za-z0-9._\-]{1,64}$"


def _utc(**kw: Any) -> Any:
    return Col(sa_column=Column(UTCDateTime(), **kw))


# --- tables ---------------------------------------------------------------------------


class Department(EscalationTable, table=True):
    __tablename__ = "departments"

    id: str = Col(primary_key=True, max_length=64)
    name: str = Col(max_length=100)
    # Who gets the SMS when a ticket lands in the department's queue (E.164).
    contact_phones: list[str] = Col(sa_column=Column(JSON, nullable=False))
    # Not a foreign key: a department is created before the staff who belong to it.
    head_staff_id: str | None = Col(default=None, max_length=64)
    active: bool = Col(default=True)
    created_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False)
    # How its complaints find their clerk (services/escalation/workload).
    assignment: str = Col(default=ClerkAssignment.QUEUE.value, max_length=16)
    # The client it works for: only that client's complaints come to it.
    tenant: str = tenant_column(index=True)


class Staff(EscalationTable, table=True):
    __tablename__ = "staff"

    id: str = Col(primary_key=True, max_length=64)
    name: str = Col(max_length=64)
    phone: str = Col(max_length=20)
    role: str = Col(max_length=32, index=True)
    department_id: str | None = Col(
        default=None, max_length=64, foreign_key="departments.id", index=True
    )
    active: bool = Col(default=True)
    created_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False)
    # The client they work for; None: the centre's own staff, who serve every client. A
    # clerk's is their department's; a viewer's always one.
    tenant: str | None = Col(default=None, max_length=32, index=True)


# --- API schemas ----------------------------------------------------------------------

_Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def _textable(raw: str) -> str:
    """Staff and department desks are told by SMS: a mobile number, in E.164."""
    try:
        return normalise_phone(raw, region=get_config().phone_region)
    except InvalidPhone as exc:
        raise ValueError(f"{raw!r}: {exc}") from None


class DepartmentUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: _Name = Field(examples=["账务部 Billing"])
    contact_phones: list[str] = Field(
        default_factory=list,
        max_length=10,
        description="Phones told when a ticket reaches the department's queue",
        examples=[["13800138001"]],
    )
    head_staff_id: str | None = Field(
        default=None, description="A staff id already in the directory; told on escalation"
    )
    active: bool = True
    assignment: ClerkAssignment | None = Field(
        default=None,
        description="How its complaints find their clerk: clerks take them from the queue "
        "(`queue`), or each goes as it arrives to the next clerk in turn (`round_robin`) or "
        "to the one with the fewest open (`least_loaded`). Left out: unchanged (`queue` "
        "for a new department)",
    )
    tenant: str | None = Field(
        default=None,
        pattern=TENANT_PATTERN,
        description="The client (tenant) it works for; only that client's complaints come to "
        "it. Left out: unchanged (`default` for a new department, or the client of an "
        "administrator who works for one)",
        examples=["default"],
    )

    @field_validator("contact_phones")
    @classmethod
    def _phones(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(_textable(phone) for phone in value))


class DepartmentCreate(DepartmentUpdate):
    id: str = Field(pattern=DEPARTMENT_ID, examples=["billing"])


class DepartmentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    contact_phones: list[str]
    head_staff_id: str | None
    active: bool
    created_at: datetime
    updated_at: datetime
    assignment: ClerkAssignment = ClerkAssignment.QUEUE
    tenant: str


class StaffUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: _Name = Field(examples=["李经理"])
    phone: str = Field(examples=["13900139000"])
    role: str = Field(description=f"One of: {', '.join(ROLES)}", examples=["duty_manager"])
    department_id: str | None = Field(
        default=None, description="Required for the `department` role", examples=[None]
    )
    active: bool = True
    tenant: str | None = Field(
        default=None,
        pattern=TENANT_PATTERN,
        description="The client (tenant) they work for; null: the centre's own staff, who "
        "serve every client. A clerk's is their department's, a viewer's always one "
        "(`default` when not named). Left out: unchanged (for someone new: the centre's, "
        "or the client of an administrator who works for one)",
        examples=[None],
    )

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        return _textable(value)

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        if value not in ROLES:
            raise ValueError(f"must be one of: {', '.join(ROLES)} (got {value!r})")
        return value


class StaffCreate(StaffUpdate):
    id: str = Field(pattern=STAFF_ID, examples=["DM01"])


class StaffRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    phone: str
    role: str
    department_id: str | None
    active: bool
    created_at: datetime
    updated_at: datetime
    tenant: str | None = Field(description="The client they work for; null: every client")
