"""Complaints in their lifecycle and their audit history: the tables and the API schemas.

The table is `complaint_states`, not `complaints`: intake owns the complaints as
registered, and no two services hold a table of the same name.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model
from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Index, Integer, Numeric, Text
from sqlmodel import Field as Col

from services.escalation.db import EscalationTable, tenant_column
from services.escalation.lifecycle import fields_of
from shared.db import UTCDateTime
from shared.vocabulary import Action, Awaiting, State, values

STATES = values(State)
_STATE_LIST = ", ".join(f"'{state}'" for state in STATES)


def _utc(**kw: Any) -> Any:
    return Col(sa_column=Column(UTCDateTime(), **kw))


# --- tables ---------------------------------------------------------------------------


class Complaint(EscalationTable, table=True):
    """One row per complaint: what the lifecycle rules need, and what queues sort by."""

    __tablename__ = "complaint_states"
    __table_args__ = (
        CheckConstraint(f"state IN ({_STATE_LIST})", name="ck_complaint_states_state"),
        Index("ix_complaint_states_holder", "holder_staff_id", "due_at"),
        Index("ix_complaint_states_desk", "holder_role", "state", "due_at"),
        Index("ix_complaint_states_department", "department_id", "state", "due_at"),
        Index("ix_complaint_states_next_breach_at", "next_breach_at"),
        Index("ix_complaint_states_duty_manager", "duty_manager_id"),
        Index("ix_complaint_states_tenant", "tenant", "state", "due_at"),
    )

    id: str = Col(primary_key=True, max_length=36)
    reference: str = Col(max_length=32, unique=True)
    # The client it was registered for (the envelope of intake's complaint.received); it
    # never changes, and only that client's departments, staff and events touch it.
    tenant: str = tenant_column()
    customer_phone: str | None = Col(default=None, max_length=20)
    customer_name: str | None = Col(default=None, max_length=64)
    # False: a landline or no number; the customer is then never an SMS recipient.
    customer_textable: bool = Col(default=True)
    channel: str = Col(max_length=16)
    category: str = Col(max_length=40)
    severity: str = Col(max_length=16)
    nature: str = Col(max_length=16)
    strong_emotion: bool = Col(default=False)
    description: str = Col(sa_column=Column(Text, nullable=False))
    # Loaded from an older system: the customer is not told about it by SMS.
    imported: bool = Col(default=False)
    # No caller to call back: no follow-up, and the desk closes it after the answer.
    anonymous: bool = Col(default=False)
    registered_at: datetime = _utc(nullable=False)
    received_at: datetime = _utc(nullable=False)
    # Who took the call (the agent may close it at first contact), and the knowledge
    # base's article they answered it from (intake's number), as registered.
    registered_by: str | None = Col(default=None, max_length=64)
    answered_from_article: int | None = Col(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), nullable=True),
    )

    state: str = Col(max_length=24)
    # The action that brought it into its state (a return, a reopen, …), for queues.
    entered_by: str | None = Col(default=None, max_length=32)
    holder_staff_id: str | None = Col(default=None, max_length=64)
    holder_role: str | None = Col(default=None, max_length=32)
    department_id: str | None = Col(default=None, max_length=64)
    duty_manager_id: str | None = Col(default=None, max_length=64)
    bounce_count: int = Col(default=0)
    reopen_count: int = Col(default=0)
    urge_count: int = Col(default=0)
    escalation_level: int = Col(default=0)
    acknowledged_at: datetime | None = _utc(nullable=True)
    acknowledged_by: str | None = Col(default=None, max_length=64)
    # A department's request for more time, while it waits for the duty manager.
    extension_until: datetime | None = _utc(nullable=True)
    extension_reason: str | None = Col(default=None, sa_column=Column(Text))
    extension_requested_by: str | None = Col(default=None, max_length=64)
    extended_until: datetime | None = _utc(nullable=True)
    loss_verified: bool = Col(default=False)
    compensation_amount: Decimal | None = Col(
        default=None, sa_column=Column(Numeric(12, 2, asdecimal=True))
    )
    compensation_declined: bool = Col(default=False)
    resolution: str | None = Col(default=None, sa_column=Column(Text))
    root_cause: str | None = Col(default=None, max_length=16)
    feedback: str | None = Col(default=None, max_length=16)
    follow_up_attempts: int = Col(default=0)
    last_follow_up_at: datetime | None = _utc(nullable=True)
    closure_reason: str | None = Col(default=None, max_length=16)
    with_compensation: bool = Col(default=False)
    # 挂起: a department's request to stop the clock, while it waits for the desk.
    pause_waiting_on: str | None = Col(default=None, max_length=16)
    pause_reason: str | None = Col(default=None, sa_column=Column(Text))
    pause_requested_by: str | None = Col(default=None, max_length=64)
    pause_resume_at: datetime | None = _utc(nullable=True)
    # The clock stands still since `paused_at`, until resumed by hand or at `paused_until`.
    paused_at: datetime | None = _utc(nullable=True)
    paused_until: datetime | None = _utc(nullable=True)
    pause_count: int = Col(default=0)
    paused_seconds: int = Col(default=0)
    # A duplicate closed into its master complaint (重复件并案).
    merged_into: str | None = Col(default=None, max_length=36, index=True)
    # Joint handling (主办/协办): each assisting department's part, as the lifecycle sees
    # it ([{"department_id": …, "status": …}]); its deadline and texts in complaint_assists.
    assists: list[dict[str, str]] = Col(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )

    # The SLA stage the complaint is in and when it is due (None once closed).
    stage: str | None = Col(default=None, max_length=24)
    due_at: datetime | None = _utc(nullable=True)
    # SLA breaches (sla.py): how many steps of this deadline's ladder were taken, when
    # the next falls due (None: nothing more), and the time between steps, stamped
    # with the deadline.
    breach_step: int = Col(default=0)
    next_breach_at: datetime | None = _utc(nullable=True)
    breach_interval_seconds: int | None = Col(default=None)
    # The last history entry: its number and its hash.
    history_seq: int = Col(default=0)
    history_head: str | None = Col(default=None, max_length=64)
    updated_at: datetime = _utc(nullable=False)


class AssistRow(EscalationTable, table=True):
    """An assisting department's part of a joint complaint: its own deadline (a timer
    urges the department when it passes) and what it contributed."""

    __tablename__ = "complaint_assists"
    __table_args__ = (
        Index("ix_complaint_assists_department", "department_id", "status"),
        Index("ix_complaint_assists_next_breach_at", "next_breach_at"),
    )

    complaint_id: str = Col(primary_key=True, max_length=36, foreign_key="complaint_states.id")
    department_id: str = Col(primary_key=True, max_length=64)
    tenant: str = tenant_column()  # the complaint's
    status: str = Col(max_length=16)
    dispatched_at: datetime = _utc(nullable=False)
    due_at: datetime | None = _utc(nullable=True)
    next_breach_at: datetime | None = _utc(nullable=True)
    accepted_at: datetime | None = _utc(nullable=True)
    settled_at: datetime | None = _utc(nullable=True)  # contributed, declined or released
    contribution: str | None = Col(default=None, sa_column=Column(Text))
    reason: str | None = Col(default=None, sa_column=Column(Text))  # why declined or released
    urged_at: datetime | None = _utc(nullable=True)


class HistoryEntry(EscalationTable, table=True):
    """One accepted action, for ever: a PostgreSQL trigger refuses UPDATE and DELETE."""

    __tablename__ = "complaint_history"

    complaint_id: str = Col(primary_key=True, max_length=36, foreign_key="complaint_states.id")
    seq: int = Col(primary_key=True)
    # The complaint's client; not hashed: the complaint's own row is the one that says.
    tenant: str = tenant_column()
    at: datetime = _utc(nullable=False)
    actor_id: str = Col(max_length=64)
    actor_role: str = Col(max_length=32)
    action: str = Col(max_length=32)
    from_state: str = Col(max_length=24)
    to_state: str = Col(max_length=24)
    event_type: str = Col(max_length=100)
    event_id: str = Col(max_length=36)
    payload: dict[str, Any] = Col(sa_column=Column(JSON, nullable=False))
    prev_hash: str = Col(max_length=64)
    hash: str = Col(max_length=64)


# --- API schemas ----------------------------------------------------------------------


class ExtensionRequestRead(BaseModel):
    until: datetime
    reason: str | None
    requested_by: str | None


class AssistRead(BaseModel):
    department_id: str
    department_name: str | None = None
    status: str
    due_at: datetime | None = None
    overdue: bool = False
    contribution: str | None = None
    reason: str | None = None
    settled_at: datetime | None = None


class PauseRequestRead(BaseModel):
    waiting_on: str
    reason: str | None
    requested_by: str | None
    resume_at: datetime | None


class ComplaintRead(BaseModel):
    """A complaint's place in its lifecycle, and what the caller may do next."""

    id: str
    reference: str
    tenant: str = Field(description="The client (tenant) it was registered for")
    state: str
    holder_staff_id: str | None
    holder_role: str | None
    department_id: str | None
    duty_manager_id: str | None
    category: str
    severity: str
    nature: str
    strong_emotion: bool
    channel: str
    customer_phone: str | None
    customer_name: str | None
    description: str
    imported: bool = Field(default=False, description="Loaded from an older system")
    registered_at: datetime
    received_at: datetime
    registered_by: str | None = Field(default=None, description="Who took the call")
    answered_from_article: int | None = Field(
        default=None, description="The knowledge base's article the caller was answered from"
    )
    stage: str | None = Field(description="The SLA stage the due time belongs to")
    due_at: datetime | None
    overdue: bool
    extended_until: datetime | None
    pending_extension: ExtensionRequestRead | None
    pending_pause: PauseRequestRead | None = None
    paused_at: datetime | None = Field(default=None, description="The clock stands still since")
    paused_until: datetime | None = Field(
        default=None, description="When the clock starts again by itself"
    )
    pause_count: int = 0
    paused_seconds: int = Field(default=0, description="Time the clock stood still, pauses ended")
    merged_into: str | None = Field(default=None, description="The master complaint's id")
    merged_into_reference: str | None = None
    merged_duplicates: list[str] = Field(
        default_factory=list, description="References of the duplicates merged into this one"
    )
    assists: list[AssistRead] = Field(
        default_factory=list, description="Joint handling: each assisting department's part"
    )
    escalation_level: int
    bounce_count: int
    reopen_count: int
    urge_count: int
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    resolution: str | None
    root_cause: str | None
    feedback: str | None
    follow_up_attempts: int
    last_follow_up_at: datetime | None = Field(
        description="When the last failed follow-up call that counted was made"
    )
    closure_reason: str | None
    anonymous: bool
    loss_verified: bool
    compensation_amount: str | None
    compensation_declined: bool = Field(
        description="The duty desk decided that no compensation is due"
    )
    with_compensation: bool
    history_seq: int
    updated_at: datetime
    allowed_actions: list[str] = Field(
        description="What the caller may attempt now (the fields are judged when they do)"
    )


# What each field of an action's body is for, as the API documents it.
_FIELD_DOCS = {
    "department_id": "the department to send it to",
    "instructions": "what the department should do",
    "resolution": "the answer the customer gets",
    "root_cause": "why it happened",
    "with_compensation": "the resolution pays compensation (compensation claims only)",
    "reason_code": "why it is returned",
    "reason": "why, in a sentence",
    "until": "the new deadline, ISO 8601 with a zone: 2026-03-01T18:00+08:00",
    "decision": "approve or deny the request (more time, or pausing the clock)",
    "waiting_on": "whom the complaint waits on while its clock stands still",
    "resume_at": "when the clock starts again by itself (at most the centre's longest pause)",
    "master": "the master complaint, by reference (TS…) or id",
    "assisting": "departments that assist the lead (协办), each contributing its part",
    "contribution": "the assisting department's part of the answer",
    "compensation_amount": 'the verified amount, like "120.50"',
    "level": "the escalation level to raise to",
    "staff_id": "the duty manager (taken by the service itself)",
    "clerk": "a clerk of the holding department (staff id)",
    "result": "the customer's verdict (taken by the service itself)",
    "comment": "what the customer said",
    "closed_at": "when the older system closed it (taken by the import command itself)",
    "customer_confirmed": "true: the caller said the answer settles it (当场解答)",
}


def _body_model(action: Action) -> type[BaseModel]:
    """The body `action` reads, for the OpenAPI document. Fields are documented with their
    types but judged by the lifecycle after the state and the caller's rights, so a call
    in the wrong state hears 409 before a complaint about its fields (422)."""
    specs = fields_of(action)
    required = [spec.name for spec in specs if spec.required]

    def schema_extra(schema: dict[str, Any]) -> None:
        if required:
            schema["required"] = required
        for prop in schema.get("properties", {}).values():
            prop.pop("default", None)

    fields: dict[str, Any] = {
        spec.name: (
            Any,
            Field(
                default=None,
                description=_FIELD_DOCS.get(spec.name),
                json_schema_extra=dict(spec.schema),
            ),
        )
        for spec in specs
    }
    name = "".join(part.title() for part in action.value.split("_")) + "Body"
    config = ConfigDict(extra="forbid", json_schema_extra=schema_extra)
    model: type[BaseModel] = create_model(name, __config__=config, **fields)
    model.__doc__ = f"The body of `{action.api_name}` ({action.zh})."
    return model


ACTION_BODIES: Mapping[Action, type[BaseModel]] = {action: _body_model(action) for action in Action}


class ActionResult(BaseModel):
    action: str
    event_type: str
    from_state: str
    to_state: str
    history_seq: int
    complaint: ComplaintRead


class HistoryEntryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    tenant: str
    at: datetime
    actor_id: str
    actor_role: str
    action: str
    from_state: str
    to_state: str
    event_type: str
    event_id: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class ChainCheck(BaseModel):
    valid: bool
    first_bad_seq: int | None = Field(
        description="The first entry that is altered, missing or out of place"
    )
    entries: int
    problem: str | None = None


class QueueItem(BaseModel):
    id: str
    reference: str
    tenant: str
    state: str
    category: str
    severity: str
    strong_emotion: bool
    holder_staff_id: str | None
    holder_role: str | None
    department_id: str | None
    stage: str | None
    due_at: datetime | None
    overdue: bool
    escalation_level: int
    bounce_count: int
    reopen_count: int
    pending_extension: bool
    pending_pause: bool = False
    paused: bool = False
    # In a department's queue: the department assists on it (协办) rather than leads.
    assisting: bool = False
    received_at: datetime
    awaiting: str | None = Field(
        description="What it waits for from the reader: "
        + ", ".join(f"`{word}` ({word.en})" for word in Awaiting)
    )
    awaiting_zh: str | None
    awaiting_en: str | None
    # A department's queue shows what to do without opening each complaint.
    description: str | None = Field(default=None, description="In a department's queue")
    instructions: str | None = Field(
        default=None, description="In a department's queue: the duty manager's, at dispatch"
    )


class Queue(BaseModel):
    items: list[QueueItem]
    overdue: int = Field(description="How many of the items are past their due time")


class DepartmentLoad(BaseModel):
    department_id: str
    name: str
    tenant: str
    open: int = Field(description="Dispatched to it or in progress there")
    waiting: int = Field(description="Dispatched and not yet accepted (签收)")
    overdue: int = Field(description="Of the open ones, past their due time")
