"""Shifts on the duty roster, and the duty desk: who holds the centre's open complaints."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy import Column, Index
from sqlmodel import Field as Col

from services.escalation.db import EscalationTable
from services.escalation.directory.models import STAFF_ID
from shared.db import UTCDateTime
from shared.params import IsoDateTime
from shared.tenants import TENANT_PATTERN

_LONGEST = timedelta(days=7)


def _utc(**kw: Any) -> Any:
    return Col(sa_column=Column(UTCDateTime(), **kw))


class Shift(EscalationTable, table=True):
    """A duty manager on duty from `starts_at` (inclusive) to `ends_at` (exclusive), on the
    centre's shared roster or on the own roster of one client (`tenant`)."""

    __tablename__ = "shifts"
    __table_args__ = (
        Index("ix_shifts_starts_at_ends_at", "starts_at", "ends_at"),
        Index("ix_shifts_tenant", "tenant", "starts_at"),
    )

    id: str = Col(primary_key=True, max_length=36)
    # The client whose own roster it is on; None: the centre's shared roster.
    tenant: str | None = Col(default=None, max_length=32)
    staff_id: str = Col(max_length=64, foreign_key="staff.id")
    backup_staff_id: str | None = Col(default=None, max_length=64, foreign_key="staff.id")
    starts_at: datetime = _utc(nullable=False)
    ends_at: datetime = _utc(nullable=False)
    created_by: str = Col(max_length=64)
    created_at: datetime = _utc(nullable=False)


class DutyDesk(EscalationTable, table=True):
    """One row per roster: the duty manager its open complaints were last handed to. A
    shift change is noticed by comparing it with who is on duty now; its row lock makes
    two schedulers hand over once. Row 1 is the centre's shared roster (`tenant` None);
    a client with a roster of its own has a row of its own."""

    __tablename__ = "duty_desk"

    id: int = Col(primary_key=True)
    tenant: str | None = Col(default=None, max_length=32, unique=True)
    staff_id: str | None = Col(default=None, max_length=64)
    shift_id: str | None = Col(default=None, max_length=36)
    since: datetime | None = _utc(nullable=True)


# --- API schemas ----------------------------------------------------------------------

_StaffId = Annotated[str, StringConstraints(strip_whitespace=True, pattern=STAFF_ID)]


class ShiftCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    staff_id: _StaffId = Field(description="The duty manager on duty")
    starts_at: IsoDateTime = Field(description="ISO 8601 with a zone, inclusive")
    ends_at: IsoDateTime = Field(description="ISO 8601 with a zone, exclusive")
    backup_staff_id: _StaffId | None = Field(
        default=None, description="Takes new complaints if the manager on duty cannot"
    )
    tenant: str | None = Field(
        default=None,
        pattern=TENANT_PATTERN,
        description="On the own roster of this client (one whose `own_roster` is set); "
        "null: the centre's shared roster (for a planner who works for one client: "
        "that client's roster)",
    )

    @model_validator(mode="after")
    def _order(self) -> ShiftCreate:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be later than starts_at")
        if self.ends_at - self.starts_at > _LONGEST:
            raise ValueError("a shift lasts at most 7 days")
        if self.backup_staff_id == self.staff_id:
            raise ValueError("backup_staff_id must be someone else than staff_id")
        return self


class ShiftRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    tenant: str | None = Field(description="The client whose own roster; null: the shared one")
    staff_id: str
    backup_staff_id: str | None
    starts_at: datetime
    ends_at: datetime
    created_by: str
    created_at: datetime


class OnDuty(BaseModel):
    at: datetime
    staff_id: str | None = Field(description="Who gets new complaints at that moment")
    role: str | None = Field(description="duty_manager, or supervisor when nobody is on duty")
    shift: ShiftRead | None
    via: str = Field(description="shift, backup, configured, or supervisors")
    name: str | None = None
    phone: str | None = None
    tenant: str | None = Field(
        default=None,
        description="The client whose new complaints this is about; null: any "
        "client the centre's shared roster serves",
    )
    roster_tenant: str | None = Field(
        default=None,
        description="Whose roster answered: the client's own, or null, the centre's shared "
        "roster (also when nobody is on duty on the client's own)",
    )
