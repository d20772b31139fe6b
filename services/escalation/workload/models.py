"""Who came to own which complaint when (the assignment log), and the workload the API
shows: each active clerk's open complaints and how they got them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Column, Index
from sqlmodel import Field as Col

from services.escalation.db import EscalationTable, tenant_column
from shared.db import UTCDateTime
from shared.vocabulary import ClerkAssignment


def _utc(**kw: Any) -> Any:
    return Col(sa_column=Column(UTCDateTime(), **kw))


class ClerkAssignmentEntry(EscalationTable, table=True):
    """Each time a clerk came to own a complaint at their department: taken from the
    queue, accepted while nobody owned it, given by the head or the desk, or by the rota.
    Only added to: the figures of a day, the rota's turn and the least loaded's tie
    (who waited longest) are read from it; who owns a complaint now is the complaint's
    holder."""

    __tablename__ = "clerk_assignments"
    __table_args__ = (
        Index("ix_clerk_assignments_department_at", "department_id", "at"),
        Index("ix_clerk_assignments_staff_at", "staff_id", "at"),
    )

    id: int | None = Col(default=None, primary_key=True)
    complaint_id: str = Col(max_length=36, foreign_key="complaint_states.id")
    department_id: str = Col(max_length=64)
    tenant: str = tenant_column()  # the complaint's
    staff_id: str = Col(max_length=64)
    # The action that made them the owner, who did it, and for the rota, which rule chose.
    action: str = Col(max_length=32)
    actor_id: str = Col(max_length=64)
    via: str | None = Col(default=None, max_length=16)
    at: datetime = _utc(nullable=False)


# --- API schemas ----------------------------------------------------------------------


class ClerkBody(BaseModel):
    clerk: str = Field(description="A clerk of the complaint's department", examples=["B08"])
    reason: str | None = Field(default=None, description="Why, in a sentence (optional)")


class ReleaseBody(BaseModel):
    reason: str | None = Field(default=None, description="Why, in a sentence (optional)")


class ClerkLoad(BaseModel):
    staff_id: str
    name: str
    head: bool = Field(description="The department's head (the rota leaves them out)")
    open: int = Field(
        description="Complaints they own at the department, dispatched or in progress"
    )
    overdue: int = Field(description="Of those, past their due time")
    due_soon: int = Field(description="Of those, due within `due_within_minutes`, not yet overdue")
    taken_today: int = Field(
        description="Complaints that became theirs since the start of the centre's day, by "
        "any way: taken, accepted while nobody owned them, assigned"
    )
    last_assigned_at: datetime | None = Field(description="When a complaint last became theirs")


class Workload(BaseModel):
    department_id: str
    tenant: str = Field(description="The department's client")
    assignment: ClerkAssignment = Field(description="How the department hands out complaints")
    clerks: list[ClerkLoad] = Field(description="Each active clerk of the department, by id")
    unowned: int = Field(description="Complaints in the department's queue nobody owns yet")
    unowned_overdue: int
    due_within_minutes: int
    day_starts_at: datetime = Field(
        description="The start of the centre's day `taken_today` counts from"
    )
