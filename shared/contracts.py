"""The event contracts between the services: every event type, its payload and topic.

Importing this module registers the types in `shared.events.registry`. A payload
change that old consumers could misread gets a new version and an upcaster here.

Who publishes what, each on the topic only it writes (shared/topics.py), with its own
name as the envelope's `source`; consumers take an event only from there:
- intake, on `intake.events`: `complaint.received`, `complaint.feedback_received`,
  `complaint.note_added`, `complaint.urge_requested`, `complaint.attachment_added`; and
  of its knowledge base `knowledge.article_approved` and `knowledge.article_withdrawn`
  (keyed by no complaint: `changed_at` orders one article's events).
- escalation, on `complaints.lifecycle`: every lifecycle event (`complaint.assigned` …
  `complaint.closed`), each with the same `LifecycleChanged` payload, so a consumer that
  only needs the state (intake's read copy, analytics) reads one shape and a consumer
  that needs the details (notify) finds who to tell, their phones and a short summary in
  it; and `duty.handed_over` at a shift change.
- notify, on `sms.events`: `sms.sent`, `sms.delivered`, `sms.failed`, `sms.inbound`.
- analytics, on `analytics.events`: `analytics.root_cause_revised` (QA's correction of
  a complaint's root cause, keyed by the complaint, so a rebuild from the topics replays
  it) and `analytics.hot_issue_detected` (many callers about one problem at one place
  within a day, keyed by the issue; notify tells the desk).

Events keyed by complaint on two topics keep their order within each topic only: a
consumer of both may read a complaint's lifecycle event before its `complaint.received`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, Field

from shared import vocabulary
from shared.events import EventRegistry, EventType, Payload, registry
from shared.topics import ANALYTICS_EVENTS, INTAKE_EVENTS, SMS_EVENTS, TOPIC_OWNERS
from shared.topics import COMPLAINTS_LIFECYCLE as LIFECYCLE
from shared.vocabulary import (
    LIFECYCLE_EVENTS,
    Action,
    ArticleStep,
    AttachmentSource,
    Audience,
    Channel,
    ClosureReason,
    EventName,
    FeedbackResult,
    FeedbackSource,
    Nature,
    NoteSource,
    Role,
    RootCause,
    Severity,
    SmsIntent,
    State,
)

# --- intake -------------------------------------------------------------------------


class ComplaintReceived(Payload):
    """A complaint as the agent registered it, with everything downstream needs."""

    complaint_id: str
    reference: str
    # E.164, e.g. +8613800138000 or a landline +861065123456. None for an anonymous
    # caller, and for complaints imported from a system that knew the customer by
    # another id (customer_ref); neither gets SMS.
    customer_phone: str | None
    customer_ref: str | None = None
    customer_name: str | None = None
    channel: Channel
    category: str
    severity: Severity
    nature: Nature
    strong_emotion: bool = False
    description: str
    occurred_at: AwareDatetime | None = None
    registered_at: AwareDatetime
    registered_by: str
    # The caller's file at registration time, as the agent saw it.
    open_complaints: int = 0
    complaints_last_30_days: int = 0
    repeat: bool = False
    # Loaded by the import command from an older system: already happened, maybe long
    # ago, so consumers may skip what only makes sense live (an SMS to the caller).
    imported: bool = False
    external_id: str | None = None
    # Dialled after the number connects (010-6512 3456 转 801).
    customer_extension: str | None = None
    # Where it happened, as the caller said it (事发地点: an estate, a street, a school,
    # a shop); hot issues group complaints by it where the text names no place.
    location: str | None = None
    # False: a landline or no number at all; SMS cannot reach the customer, so the
    # answer is taken by a follow-up call.
    customer_textable: bool = True
    # The caller would not give a number: no customer file, no SMS, no follow-up call.
    anonymous: bool = False
    # An imported row that was closed in the old system lands `closed` (with these
    # facts from the file) instead of becoming live work; None: live work.
    imported_state: State | None = None
    imported_resolution: str | None = None
    imported_department: str | None = None
    imported_closed_at: AwareDatetime | None = None
    # The agent answered the caller from this article of the knowledge base (intake's
    # number for it); None: from no article.
    answered_from_article: int | None = None


class FeedbackReceived(Payload):
    complaint_id: str
    reference: str
    result: FeedbackResult
    comment: str | None = None
    source: FeedbackSource = FeedbackSource.PHONE
    recorded_by: str


class NoteAdded(Payload):
    complaint_id: str
    reference: str
    text: str
    source: NoteSource = NoteSource.AGENT
    added_by: str


class UrgeRequested(Payload):
    """The caller called again about an open complaint (催办): escalation urges whoever
    holds it, with the caller's words."""

    complaint_id: str
    reference: str
    text: str  # what the caller said, as the agent took it down
    requested_by: str  # the agent who took the call


class AttachmentAdded(Payload):
    """A photo or document was attached to the complaint and stored. The bytes stay with
    intake (served to those who may see the complaint); the event says what it is."""

    complaint_id: str
    reference: str
    attachment_id: str
    name: str
    content_type: str  # as the bytes showed it, not as the sender named it
    size: int = Field(ge=1)
    sha256: str
    source: AttachmentSource
    added_by: str


class ArticleApproved(Payload):
    """An article of the knowledge base that agents of the envelope's client read from
    now, within its window of validity."""

    article_id: int
    version: int
    category: str
    question: str
    keywords: list[str] = Field(default_factory=list)
    owner_department: str | None = None
    valid_from: AwareDatetime | None = None
    valid_until: AwareDatetime | None = None
    # When intake changed it: a later change of the same article supersedes this one.
    changed_at: AwareDatetime


class ArticleWithdrawn(Payload):
    """An article agents no longer read: retired, or revised into a draft to edit."""

    article_id: int
    step: ArticleStep
    changed_at: AwareDatetime


# --- escalation ---------------------------------------------------------------------


class Recipient(Payload):
    """Someone notify should tell about this change."""

    audience: Audience
    phone: str
    staff_id: str | None = None
    name: str | None = None
    # The complaint this person registered, where it is not the event's own: the caller
    # of a duplicate merged into it hears of the master's outcome under their reference.
    reference: str | None = None


class LifecycleChanged(Payload):
    """One accepted lifecycle action: where the complaint went, and who must know.

    Facts come structured, for notify to word in each reader's language: `details` holds
    the action's own fields (`reason_code` of a return, `until` of a request for more
    time, `via`, `comment`, …) and, where they apply, `breach` (an SLA deadline passed:
    `stage`, `due_at`, `step`, `late_minutes`) and `closure_blocked_by` (a `ClosureBlock`
    word). `reason` and `summary` are free text: a person's words, or English for logs.
    """

    complaint_id: str
    reference: str
    action: Action
    from_state: State
    to_state: State
    history_seq: int = Field(ge=1)
    holder_staff_id: str | None = None
    holder_role: Role | None = None
    department_id: str | None = None
    # The department's name in the directory when the change happened, for messages and
    # reports that would otherwise print a bare id.
    department_name: str | None = None
    closure_reason: ClosureReason | None = None
    bounce_count: int = 0
    reopen_count: int = 0
    urge_count: int = 0
    escalation_level: int = 0
    category: str | None = None
    severity: Severity | None = None
    strong_emotion: bool = False
    nature: Nature | None = None
    anonymous: bool = False  # no customer to follow up with (see ComplaintReceived)
    due_at: AwareDatetime | None = None  # the current SLA deadline, if any
    # The clock stopped (挂起) since then, and the time it stood still in earlier pauses:
    # analytics leaves both out of the time a stage took.
    paused_since: AwareDatetime | None = None
    paused_seconds: int = 0
    # The departments assisting the lead (协办), whatever their part's status: their
    # clerks may read the complaint.
    assisting: list[str] = Field(default_factory=list)
    resolution: str | None = None
    root_cause: RootCause | None = None
    reason: str | None = None
    # The action's own fields (reason_code, instructions, until, decision, amount, …).
    details: dict[str, Any] = Field(default_factory=dict)
    recipients: list[Recipient] = Field(default_factory=list)
    summary: str = ""  # one line in English for logs: reference, category, what happened
    # As registered: False when the customer's number cannot take an SMS.
    customer_textable: bool = True


class HandedOverItem(Payload):
    complaint_id: str
    reference: str
    state: State
    severity: Severity | None = None
    category: str | None = None
    due_at: AwareDatetime | None = None
    escalation_level: int = 0


class DutyHandedOver(Payload):
    """At a shift change, the outgoing duty manager's open complaints moved to the
    incoming one (each also has its own `complaint.handed_over` entry and event): one
    event, so the incoming manager gets one summary SMS rather than one per complaint."""

    shift_id: str | None = None
    from_staff_id: str | None = None
    to_staff_id: str
    recipients: list[Recipient] = Field(default_factory=list)  # the incoming manager
    at: AwareDatetime
    complaints: list[HandedOverItem] = Field(default_factory=list)
    summary: str = ""  # one line for an SMS: how many, how many urgent or overdue
    # The client whose own duty roster changed hands; None: the centre's shared roster,
    # which answers for every client without a roster of its own (shared.tenants).
    roster_tenant: str | None = None


# --- notify -------------------------------------------------------------------------


class SmsEvent(Payload):
    message_id: str
    phone: str
    complaint_id: str | None = None
    template: str | None = None
    segments: int = 1
    provider: str | None = None
    provider_message_id: str | None = None
    error: str | None = None
    at: AwareDatetime


class SmsInbound(Payload):
    """An SMS a person sent us, matched to a complaint where it could be."""

    message_id: str
    phone: str
    text: str
    received_at: AwareDatetime
    complaint_id: str | None = None
    # What the text means in context: `ack` from a duty manager, `satisfied` /
    # `unsatisfied` from a customer, `opt_out`, or `message` for anything else.
    intent: SmsIntent = SmsIntent.MESSAGE
    staff_id: str | None = None


# --- analytics ----------------------------------------------------------------------


class RootCauseRevised(Payload):
    """QA revised a complaint's root cause; reports use the latest revision."""

    complaint_id: str
    reference: str
    root_cause: RootCause
    previous: RootCause | None = None
    note: str | None = None
    revised_by: str
    revised_at: AwareDatetime


class HotIssueDetected(Payload):
    """A hot issue crossed the alert threshold: `callers` distinct callers reported the
    same problem at the same place (or with the same organisation) within the day before
    `detected_at`. Sent once per issue `key` while it stays hot."""

    key: str
    # "<place>：<problem>" in the complaints' own language, as the dashboard shows it.
    label: str
    lang: str
    place: str | None = None
    words: list[str] = Field(default_factory=list)
    callers: int
    complaints: int
    threshold: int
    first_at: AwareDatetime
    last_at: AwareDatetime
    detected_at: AwareDatetime
    # The departments its complaints went to, and a few of its references to look up.
    department_ids: list[str] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)


COMPLAINT_RECEIVED = registry.register(
    EventName.COMPLAINT_RECEIVED, ComplaintReceived, topic=INTAKE_EVENTS
)
FEEDBACK_RECEIVED = registry.register(
    EventName.FEEDBACK_RECEIVED, FeedbackReceived, topic=INTAKE_EVENTS
)
NOTE_ADDED = registry.register(EventName.NOTE_ADDED, NoteAdded, topic=INTAKE_EVENTS)
URGE_REQUESTED = registry.register(EventName.URGE_REQUESTED, UrgeRequested, topic=INTAKE_EVENTS)
ARTICLE_APPROVED = registry.register(
    EventName.ARTICLE_APPROVED, ArticleApproved, topic=INTAKE_EVENTS
)
ARTICLE_WITHDRAWN = registry.register(
    EventName.ARTICLE_WITHDRAWN, ArticleWithdrawn, topic=INTAKE_EVENTS
)
ATTACHMENT_ADDED = registry.register(
    EventName.ATTACHMENT_ADDED, AttachmentAdded, topic=INTAKE_EVENTS
)
# It belongs to no one complaint, so it is keyed by its own event id.
DUTY_HANDED_OVER = registry.register(EventName.DUTY_HANDED_OVER, DutyHandedOver, topic=LIFECYCLE)
LIFECYCLE_TYPES: dict[str, EventType[LifecycleChanged]] = {
    name: registry.register(name, LifecycleChanged, topic=LIFECYCLE) for name in LIFECYCLE_EVENTS
}
SMS_SENT = registry.register(EventName.SMS_SENT, SmsEvent, topic=SMS_EVENTS)
SMS_DELIVERED = registry.register(EventName.SMS_DELIVERED, SmsEvent, topic=SMS_EVENTS)
SMS_FAILED = registry.register(EventName.SMS_FAILED, SmsEvent, topic=SMS_EVENTS)
SMS_INBOUND = registry.register(EventName.SMS_INBOUND, SmsInbound, topic=SMS_EVENTS)
ROOT_CAUSE_REVISED = registry.register(
    EventName.ROOT_CAUSE_REVISED, RootCauseRevised, topic=ANALYTICS_EVENTS
)
# Not about one complaint: keyed by the issue.
HOT_ISSUE_DETECTED = registry.register(
    EventName.HOT_ISSUE_DETECTED, HotIssueDetected, topic=ANALYTICS_EVENTS
)
# Every event type is registered with its payload: a name added to the vocabulary
# without a contract fails here, at import, in every service.
_UNREGISTERED = set(EventName) - set(registry.names())
if _UNREGISTERED:
    raise RuntimeError(f"event types without a contract: {sorted(_UNREGISTERED)}")


def publisher(name: str) -> str:
    """The service that publishes an event type: the envelope's `source` it must carry."""
    if name in vocabulary.INTAKE_EVENTS:
        return "intake"
    if name in LIFECYCLE_EVENTS or name == EventName.DUTY_HANDED_OVER:
        return "escalation"
    return {"sms": "notify", "analytics": "analytics"}.get(name.split(".")[0], "")


def misplaced(types: EventRegistry = registry) -> dict[str, str]:
    """Event types registered on a topic their publisher does not write, with that topic."""
    return {
        name: types.get(name).topic
        for name in types.names()
        if TOPIC_OWNERS.get(types.get(name).topic) != publisher(name)
    }


# A type on a topic its publisher does not write could never be believed by a consumer
# (nor, on a secured broker, be written at all): fail at import instead.
if misplaced():
    raise RuntimeError(f"event types on a topic their publisher does not own: {misplaced()}")


def money(value: Decimal | None) -> str | None:
    """Amounts travel as strings, never floats."""
    return None if value is None else str(value)


def iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
