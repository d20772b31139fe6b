"""The read models built from events: one fact row per complaint, a slim log of the
lifecycle events reports need, and QA's root-cause revisions; and the API schemas that
read and revise them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import BigInteger, Boolean, Column, Date, Index, Integer, String, Text, false
from sqlmodel import Field as Col

from services.analytics.db import AnalyticsTable
from shared.db import UTCDateTime
from shared.tenants import DEFAULT_TENANT
from shared.vocabulary import RootCause, State


def _utc(nullable: bool = True) -> Any:
    return Col(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


def _text() -> Any:
    return Col(default=None, sa_column=Column(Text, nullable=True))


def _tenant() -> Any:
    """The client (shared.tenants) the row belongs to, from its events' envelopes."""
    return Col(
        default=DEFAULT_TENANT,
        sa_column=Column(String(32), nullable=False, server_default=DEFAULT_TENANT),
    )


class ComplaintFact(AnalyticsTable, table=True):
    """Everything reports ask about one complaint, kept current event by event.

    Days and months are the centre's local ones (ANALYTICS_TIMEZONE), stamped when the
    complaint arrives, so a month's report is an index range rather than a computation.
    Stage columns: time spent in the stage over all its visits, and whether every visit
    ended by its deadline (None: not entered yet, or still in it for the first time).
    """

    __tablename__ = "complaint_facts"
    __table_args__ = (
        Index("ix_facts_month_department", "registered_month", "department_id"),
        Index("ix_facts_registered_at", "registered_at"),
        Index("ix_facts_day_category", "registered_day", "category"),
        Index("ix_facts_customer_time", "customer_key", "registered_at"),
        Index("ix_facts_tenant_month", "tenant", "registered_month", "department_id"),
        Index("ix_facts_tenant_day", "tenant", "registered_day"),
    )

    complaint_id: str = Col(primary_key=True, max_length=64)
    # Set by the first event read for the complaint; an event naming another client
    # later is refused (facts.flows).
    tenant: str = _tenant()
    reference: str = Col(max_length=32)
    # E.164 phone, or `ref:<id>` for a customer an older system knew by id only.
    customer_key: str | None = Col(default=None, max_length=80)
    customer_phone: str | None = Col(default=None, max_length=20)
    # Only to mask it where a text names the customer (shared.privacy); never shown.
    customer_name: str | None = Col(default=None, max_length=64)
    category: str = Col(max_length=40)
    severity: str = Col(max_length=16)
    nature: str = Col(max_length=16)
    channel: str = Col(max_length=16)
    strong_emotion: bool = Col(default=False)
    imported: bool = Col(default=False)
    description: str | None = _text()
    # Where it happened, as the agent wrote it down.
    location: str | None = Col(default=None, max_length=200)
    registered_at: datetime = _utc(nullable=False)
    registered_day: date = Col(sa_column=Column(Date, nullable=False))
    registered_month: str = Col(max_length=7)
    # Who registered it (complaint.received's envelope actor): the centre's staffing
    # across its clients.
    registered_by: str | None = Col(default=None, max_length=64)
    registered_by_role: str | None = Col(default=None, max_length=32)

    state: str = Col(max_length=24, default=State.RECEIVED.value)
    # The department responsible now (or at the end); None while at the duty desk.
    department_id: str | None = Col(default=None, max_length=64)
    assigned_at: datetime | None = _utc()
    acknowledged_at: datetime | None = _utc()
    dispatched_at: datetime | None = _utc()  # the latest dispatch, to department_id
    accepted_at: datetime | None = _utc()
    replied_at: datetime | None = _utc()
    closed_at: datetime | None = _utc()
    reopened_at: datetime | None = _utc()

    # The stage the complaint is in now, since when, and its deadline.
    stage: str | None = Col(default=None, max_length=16)
    stage_entered_at: datetime | None = _utc()
    due_at: datetime | None = _utc()
    acknowledgement_seconds: int | None = None
    acknowledgement_met: bool | None = None
    handling_seconds: int | None = None
    handling_met: bool | None = None
    acceptance_seconds: int | None = None
    acceptance_met: bool | None = None
    resolution_seconds: int | None = None
    resolution_met: bool | None = None
    follow_up_seconds: int | None = None
    follow_up_met: bool | None = None
    deadlines_missed: int = 0

    escalation_level: int = 0  # the highest reached
    escalations: int = 0
    urges: int = 0
    returns: int = 0
    reopens: int = 0

    resolution: str | None = _text()
    # As the handler reported it, and as reports use it (QA's latest revision, if any).
    root_cause_reported: str | None = Col(default=None, max_length=16)
    root_cause: str | None = Col(default=None, max_length=16)
    root_cause_revisions: int = 0
    feedback: str | None = Col(default=None, max_length=16)  # the latest answer
    unsatisfied: int = 0  # how many times the customer said unsatisfied
    # The customer's verdicts (satisfied or unsatisfied, never "not reached"): on the
    # first answer they gave, and the last they gave. A customer who said unsatisfied and
    # could not be reached after the next answer stays unsatisfied.
    first_verdict: str | None = Col(default=None, max_length=16)
    final_verdict: str | None = Col(default=None, max_length=16)
    closure_reason: str | None = Col(default=None, max_length=16)
    # The knowledge base's article the agent answered the caller from (complaint.received),
    # and whether the complaint was closed at first contact (当场解答) and stays closed.
    answered_from_article: int | None = Col(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer(), "sqlite"), nullable=True),
    )
    first_contact_resolved: bool = Col(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=false())
    )
    # A duplicate merged into this master complaint: reports count the master once, and
    # every caller.
    merged_into: str | None = Col(default=None, max_length=36)
    # The clock stood still (挂起) this long in all, and since when it stands still now;
    # the total when the current stage began, so a stage's time leaves its pauses out.
    paused_seconds: int = 0
    paused_since: datetime | None = _utc()
    stage_paused_from: int = 0

    last_seq: int = 0  # the lifecycle history entry applied last
    updated_at: datetime = _utc(nullable=False)


class FactEvent(AnalyticsTable, table=True):
    """One lifecycle event, as trends and department reports need it."""

    __tablename__ = "fact_events"
    __table_args__ = (
        Index("ix_fact_events_department_month", "department_id", "month", "event_type"),
        Index("ix_fact_events_day_type", "day", "event_type"),
        Index("ix_fact_events_complaint", "complaint_id", "occurred_at"),
        Index("ix_fact_events_tenant_month", "tenant", "month"),
    )

    event_id: str = Col(primary_key=True, max_length=36)
    complaint_id: str = Col(max_length=64)
    tenant: str = _tenant()
    event_type: str = Col(max_length=64)
    action: str = Col(max_length=32)
    occurred_at: datetime = _utc(nullable=False)
    day: date = Col(sa_column=Column(Date, nullable=False))
    month: str = Col(max_length=7)
    department_id: str | None = Col(default=None, max_length=64)
    from_state: str = Col(max_length=24)
    to_state: str = Col(max_length=24)
    reason_code: str | None = Col(default=None, max_length=32)
    reason: str | None = _text()
    escalation_level: int = 0


class AssistPartFact(AnalyticsTable, table=True):
    """An assisting department's part of a joint complaint (协办): when it was asked for,
    its deadline, how it ended and whether in time — a department's figures as a helper,
    beside those as the lead."""

    __tablename__ = "assist_parts"
    __table_args__ = (
        Index("ix_assist_parts_department_month", "department_id", "month"),
        Index("ix_assist_parts_tenant_month", "tenant", "month"),
    )

    complaint_id: str = Col(primary_key=True, max_length=64)
    department_id: str = Col(primary_key=True, max_length=64)
    tenant: str = _tenant()
    lead_department_id: str | None = Col(default=None, max_length=64)
    month: str = Col(max_length=7)  # of the dispatch that asked for it
    dispatched_at: datetime = _utc(nullable=False)
    due_at: datetime | None = _utc()
    status: str = Col(max_length=16)
    settled_at: datetime | None = _utc()
    met: bool | None = None  # contributed by its deadline (None: not contributed)


class DepartmentName(AnalyticsTable, table=True):
    """The latest name the directory gave each department, from the lifecycle events, so
    reports print names rather than ids."""

    __tablename__ = "department_names"

    department_id: str = Col(primary_key=True, max_length=64)
    # The client the department works for (a department serves one client).
    tenant: str = _tenant()
    name: str = Col(max_length=100)
    named_at: datetime = _utc(nullable=False)


class ComplaintSubject(AnalyticsTable, table=True):
    """What a complaint is about (services/analytics/text/subjects.py), read once from
    its text: the place or organisation it names, its district, and its problem's most
    telling words, space-separated. `version` says with which reading and gazetteer; a
    row of another version is read again when hot issues need it."""

    __tablename__ = "complaint_subjects"

    complaint_id: str = Col(primary_key=True, max_length=64)
    tenant: str = _tenant()
    version: str = Col(max_length=32)
    lang: str = Col(max_length=4)
    place: str | None = Col(default=None, max_length=64)
    place_key: str | None = Col(default=None, max_length=64)
    area: str | None = Col(default=None, max_length=32)
    words: str = Col(default="", max_length=400)


class HotIssueAlert(AnalyticsTable, table=True):
    """A hot issue the desk was told about: once per issue while it stays hot. An issue
    is one client's (its key says whose)."""

    __tablename__ = "hot_issue_alerts"

    key: str = Col(primary_key=True, max_length=32)
    tenant: str = _tenant()
    label: str = Col(max_length=200)
    callers: int = 0
    alerted_at: datetime = _utc(nullable=False)


class HotIssueAnswer(AnalyticsTable, table=True):
    """A period's hot issues as computed last, for whichever process asks next: the
    worker computes the current month's ahead, the API serves them."""

    __tablename__ = "hot_issue_answers"

    ask_key: str = Col(primary_key=True, max_length=32)
    # The client the answer is about (its ask names it, so the key does too); None: every
    # client the centre serves, each client's issues apart.
    tenant: str | None = Col(default=None, max_length=32)
    stamp: str = Col(max_length=200)
    computed_at: datetime = _utc(nullable=False)
    answer: str = Col(sa_column=Column(Text, nullable=False))


class RootCauseRevision(AnalyticsTable, table=True):
    """QA's word on a complaint's root cause; its id is the id of the event that carries it."""

    __tablename__ = "root_cause_revisions"
    __table_args__ = (Index("ix_revisions_complaint", "complaint_id", "revised_at"),)

    id: str = Col(primary_key=True, max_length=36)
    complaint_id: str = Col(max_length=64)
    tenant: str = _tenant()
    root_cause: str = Col(max_length=16)
    previous: str | None = Col(default=None, max_length=16)
    note: str | None = _text()
    revised_by: str = Col(max_length=64)
    revised_at: datetime = _utc(nullable=False)


# --- API schemas ----------------------------------------------------------------------


class RootCauseUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    root_cause: RootCause = Field(description=f"one of {', '.join(RootCause)}")
    note: str | None = Field(default=None, max_length=2000, description="why QA changed it")


class SuggestionDraft(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolution: str = Field(
        min_length=1,
        max_length=4000,
        description="the resolution being written: what the department found and did",
    )


class RootCauseRead(BaseModel):
    complaint_id: str
    tenant: str = DEFAULT_TENANT
    reference: str
    root_cause: str | None
    root_cause_reported: str | None
    revisions: int
    revised_by: str | None = None
    revised_at: datetime | None = None
