"""The message log, opt-outs, the complaint contacts and the staff contacts notify keeps:
the tables and the API schemas that read them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import JSON, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field as Col

from services.notify.db import NotifyTable
from shared.db import UTCDateTime
from shared.tenants import DEFAULT_TENANT

Direction = Literal["out", "in"]
# pending → sending → submitted → sent → delivered | failed; `unknown` after a send whose
# answer was lost (reconciled before any resend); `held` waits for a digest;
# `digested` went out inside one; `suppressed` was not sent (the customer opted out);
# `cancelled` was held for quiet hours and no longer true when they ended (why: its
# cancel_reason); `refused` was never to be sent: a country the centre does not allow, the
# number's daily cap, or nobody known to send it to (a hot-issue alert before notify has
# heard who is on duty: stored without a phone); why: its refused_reason; `received` is
# an inbound message.
Status = Literal[
    "pending",
    "sending",
    "unknown",
    "submitted",
    "sent",
    "delivered",
    "failed",
    "held",
    "digested",
    "suppressed",
    "cancelled",
    "refused",
    "received",
]
# How far along each status is: a receipt moves a message only to a higher rank, and a
# final status (rank 4) never changes.
RANK: dict[str, int] = {
    "pending": 0,
    "held": 0,
    "sending": 1,
    "unknown": 1,
    "submitted": 2,
    "sent": 3,
    "delivered": 4,
    "failed": 4,
    "digested": 4,
    "suppressed": 4,
    "cancelled": 4,
    "refused": 4,
    "received": 4,
}
# What the sender takes up when due.
DUE = ("pending", "unknown")


def _utc(**kw: Any) -> Any:
    return Col(sa_column=Column(UTCDateTime(), **kw))


def _tenant(**kw: Any) -> Any:
    """The client (shared.tenants) a row belongs to; rows from before clients are the
    default client's."""
    return Col(
        default=DEFAULT_TENANT,
        max_length=32,
        sa_column_kwargs={"server_default": DEFAULT_TENANT},
        **kw,
    )


class Message(NotifyTable, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("provider", "provider_message_id", name="uq_messages_provider_id"),
        Index("ix_messages_phone_time", "phone", "created_at"),
        Index("ix_messages_complaint_time", "complaint_id", "created_at"),
        # A client's message log, newest first.
        Index("ix_messages_tenant_time", "tenant", "created_at"),
        Index(
            "ix_messages_due",
            "due_at",
            postgresql_where=text("status IN ('pending', 'unknown')"),
            sqlite_where=text("status IN ('pending', 'unknown')"),
        ),
        # The sender's claim: messages whose sender died mid-call (the lease ran out).
        Index(
            "ix_messages_sending",
            "lease_until",
            postgresql_where=text("status = 'sending'"),
            sqlite_where=text("status = 'sending'"),
        ),
        Index(
            "ix_messages_held",
            "phone",
            postgresql_where=text("status = 'held'"),
            sqlite_where=text("status = 'held'"),
        ),
    )

    id: str = Col(primary_key=True, max_length=36)
    direction: str = Col(max_length=3)
    # The client the message was for (or from): its signature, templates and sender.
    tenant: str = _tenant()
    # One message per (event, recipient, template): a redelivered event finds its key.
    dedupe_key: str | None = Col(default=None, max_length=200, unique=True)
    event_id: str | None = Col(default=None, max_length=36)
    event_type: str | None = Col(default=None, max_length=100)
    complaint_id: str | None = Col(default=None, max_length=64)
    reference: str | None = Col(default=None, max_length=32)
    department_id: str | None = Col(default=None, max_length=64)
    phone: str = Col(max_length=20)
    audience: str | None = Col(default=None, max_length=20)
    staff_id: str | None = Col(default=None, max_length=64)
    template: str | None = Col(default=None, max_length=40)
    language: str | None = Col(default=None, max_length=10)
    body: str = Col(sa_column=Column(Text, nullable=False))
    encoding: str = Col(max_length=8)
    segments: int = Col(default=1)
    units: int = Col(default=0)
    urgent: bool = Col(default=False)
    # What a reply to this message means: `ack` (duty manager), `feedback` (customer).
    reply_kind: str | None = Col(default=None, max_length=10)
    status: str = Col(max_length=12)
    # When the sender may take it: now, after quiet hours, or after a retry's wait.
    due_at: datetime | None = _utc(nullable=True)
    held_reason: str | None = Col(default=None, max_length=20)
    lease_until: datetime | None = _utc(nullable=True)
    attempts: int = Col(default=0)
    last_error: str | None = Col(default=None, sa_column=Column(Text))
    provider: str | None = Col(default=None, max_length=16)
    provider_message_id: str | None = Col(default=None, max_length=64)
    # Inbound: what the text meant, and the message of ours it answers.
    intent: str | None = Col(default=None, max_length=12)
    in_reply_to: str | None = Col(default=None, max_length=36)
    # A held notice: the digest it went out in, and its line there.
    digest_id: str | None = Col(default=None, max_length=36)
    digest_line: str | None = Col(default=None, sa_column=Column(Text))
    # A message that asked for a reply: when it was answered (by that reply, or by the
    # complaint moving on), so a later bare "1" is not read as answering it.
    answered_at: datetime | None = _utc(nullable=True)
    # A cancelled message: why (opted_out, complaint_closed, complaint_reopened,
    # survey_answered, superseded).
    cancel_reason: str | None = Col(default=None, max_length=40)
    # A refused message: why (country_not_allowed, daily_cap).
    refused_reason: str | None = Col(default=None, max_length=40)
    created_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False)
    submitted_at: datetime | None = _utc(nullable=True)
    finished_at: datetime | None = _utc(nullable=True)


class OptOut(NotifyTable, table=True):
    """A phone that asked for no more customer SMS (退订 / TD / T / STOP) from a client:
    one row for each client sending from the number it texted."""

    __tablename__ = "opt_outs"

    phone: str = Col(primary_key=True, max_length=20)
    tenant: str = _tenant(primary_key=True)
    keyword: str = Col(max_length=20)
    opted_out_at: datetime = _utc(nullable=False)


class Contact(NotifyTable, table=True):
    """What intake told us about a complaint and its customer, and where the lifecycle
    has taken it since, for the messages that follow (the closure SMS, the masked phone
    in a duty manager's message, whether a message held for the night still holds)."""

    __tablename__ = "complaint_contacts"

    complaint_id: str = Col(primary_key=True, max_length=64)
    # The client the complaint belongs to: an event naming another is refused.
    tenant: str = _tenant()
    reference: str = Col(max_length=32)
    customer_phone: str | None = Col(default=None, max_length=20)
    customer_name: str | None = Col(default=None, max_length=64)
    category: str | None = Col(default=None, max_length=40)
    severity: str | None = Col(default=None, max_length=16)
    strong_emotion: bool = Col(default=False)
    description: str | None = Col(default=None, sa_column=Column(Text))
    imported: bool = Col(default=False)
    registered_at: datetime = _utc(nullable=False)
    nature: str | None = Col(default=None, max_length=16)
    # False: a landline or no mobile; nothing is texted to it.
    customer_textable: bool = Col(default=True)
    # Where the complaint is (from the lifecycle events, the newest by history_seq), and
    # when the customer last gave their verdict: a message held for the night is checked
    # against these before it goes.
    state: str | None = Col(default=None, max_length=24)
    state_seq: int = Col(default=0)
    answered_at: datetime | None = _utc(nullable=True)


class DutyManagerSeen(NotifyTable, table=True):
    """A duty manager as the lifecycle last named them at a roster's desk: told of a new
    complaint, or of complaints handed over to them at a shift change. The one named
    most recently (by the event's time) on a roster is taken to be on duty there now;
    notify keeps no roster of its own, and an alert for that desk goes to them."""

    __tablename__ = "duty_managers_seen"

    # The client whose own roster it is; '' the centre's shared roster (clients.py).
    roster: str = Col(primary_key=True, max_length=32, sa_column_kwargs={"server_default": ""})
    staff_id: str = Col(primary_key=True, max_length=64)
    # The roster's client (the default client for the shared roster), as its events name it.
    tenant: str = _tenant()
    phone: str = Col(max_length=20)
    name: str | None = Col(default=None, max_length=64)
    seen_at: datetime = _utc(nullable=False)
    # The event type that named them.
    seen_in: str = Col(max_length=100)


class DepartmentContact(NotifyTable, table=True):
    """A department's SMS contacts (its shared phones, not a clerk's) as the newest
    lifecycle event that texted them listed them all."""

    __tablename__ = "department_contacts"

    tenant: str = _tenant(primary_key=True)
    department_id: str = Col(primary_key=True, max_length=64)
    name: str | None = Col(default=None, max_length=100)
    phones: list[str] = Col(sa_column=Column(JSON, nullable=False))
    seen_at: datetime = _utc(nullable=False)
    seen_in: str = Col(max_length=100)


# --- API schemas ----------------------------------------------------------------------


class MessageRead(BaseModel):
    id: str
    tenant: str
    direction: Direction
    phone: str
    complaint_id: str | None
    reference: str | None
    audience: str | None
    staff_id: str | None
    template: str | None
    language: str | None
    body: str
    encoding: str
    segments: int
    urgent: bool
    status: Status
    held_reason: str | None
    cancel_reason: str | None
    refused_reason: str | None = None
    due_at: datetime | None
    attempts: int
    last_error: str | None
    provider: str | None
    provider_message_id: str | None
    intent: str | None
    in_reply_to: str | None
    event_type: str | None
    created_at: datetime
    submitted_at: datetime | None
    finished_at: datetime | None


class MessagePage(BaseModel):
    items: list[MessageRead]
    next_cursor: str | None
