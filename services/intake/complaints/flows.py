"""What intake does, each in one transaction: register a complaint (with its event),
record feedback, add a note, and keep the lifecycle read copy.

The HTTP layer and the import command both come through here, and both register through
`registration`, so an imported complaint is stored and announced exactly like one an
agent typed in.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from services.intake.complaints import registration, service
from services.intake.complaints.models import (
    ComplaintCreate,
    FeedbackCreate,
    FeedbackRead,
    NoteCreate,
    NoteRead,
    UrgeCreate,
    UrgeRead,
)
from services.intake.complaints.registration import NewComplaint, Registered
from services.intake.config import IntakeConfig
from services.intake.search import service as search
from services.intake.search.words import document
from shared.auth.principal import Principal
from shared.consumer import Refused
from shared.contracts import (
    FEEDBACK_RECEIVED,
    NOTE_ADDED,
    URGE_REQUESTED,
    FeedbackReceived,
    LifecycleChanged,
    NoteAdded,
    SmsInbound,
    UrgeRequested,
)
from shared.db import Database
from shared.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.events import Actor, registry
from shared.outbox import Outbox
from shared.tenants import DEFAULT_TENANT, tenant, tenants
from shared.vocabulary import (
    FeedbackResult,
    FeedbackSource,
    NoteSource,
    Role,
    SmsIntent,
    State,
)

SOURCE = registration.SOURCE


def client_of(data: ComplaintCreate, principal: Principal) -> str:
    """The client a complaint is made to: the one the agent chose or whose number was
    dialled; else the agent's own client; else, in a centre of one client, that one.
    An agent of one client registers only for it (403); a centre of several clients
    needs to be told which (422 naming `tenant`)."""
    named = data.named_tenant
    if principal.tenant is not None:
        if named is not None and named != principal.tenant:
            raise Forbidden(
                f"this token belongs to client '{principal.tenant}'; it does not register "
                f"complaints for '{named}'",
                tenant=principal.tenant,
            )
        chosen = principal.tenant
    elif named is not None:
        chosen = named
    elif not tenants().several:
        chosen = DEFAULT_TENANT
    else:
        raise Unprocessable(
            "tenant",
            "this centre answers for several clients: choose one "
            f"({', '.join(tenants().ids)}; GET /tenants) or send the dialled_number",
        )
    # The body's category was checked against the client it names; one taken from the
    # token is checked against that client's categories here.
    categories = tenant(chosen).taxonomy()
    if categories.get(data.category) is None:
        raise Unprocessable(
            "category",
            f"unknown category {data.category!r} for client '{chosen}'; "
            f"allowed: {', '.join(categories.ids)}",
        )
    return chosen


def register(
    executor: registration.Executor,
    outbox: Outbox,
    data: ComplaintCreate,
    *,
    staff_id: str,
    role: str,
    now: datetime,
    config: IntakeConfig,
    tenant: str = DEFAULT_TENANT,
    idempotency_key: str | None = None,
) -> Awaitable[Registered]:
    """Register a complaint an agent typed in, for `tenant` (`client_of`); with an
    Idempotency-Key, a retry gets the first answer back (201 new, 200 the same again,
    409 the key with another body).

    Await the answer; a plain function, so a registration is one coroutine fewer."""
    new = NewComplaint.from_request(data, staff_id=staff_id, role=role, now=now, tenant=tenant)
    return executor.execute(
        registration.steps(
            new,
            outbox,
            config,
            idempotency_key=idempotency_key,
            request_hash=registration.request_hash(data) if idempotency_key else "",
        )
    )


def store_complaint(
    session: Session,
    outbox: Outbox,
    new: NewComplaint,
    config: IntakeConfig,
    *,
    complaint_id: str | None = None,
) -> Registered:
    """Register `new` in the caller's transaction (the import command's rows)."""
    return registration.execute(
        session.connection(), registration.steps(new, outbox, config, complaint_id=complaint_id)
    )


def purge_idempotency_keys(db: Database, *, now: datetime, config: IntakeConfig) -> int:
    with db.transaction() as session:
        return service.purge_idempotency(
            session, before=now - timedelta(days=config.idempotency_days)
        )


# --- feedback and notes -----------------------------------------------------------------


def _complaint_or_404(session: Session, complaint_id: str, tenant: str | None = None) -> Any:
    """By id or by reference: the caller on the phone reads out the reference. Another
    client's complaint, for someone who works for one (`tenant`), is not there."""
    row = service.find_complaint(session, complaint_id)
    if row is None or (tenant is not None and row.tenant != tenant):
        raise NotFound(f"no complaint {complaint_id}", complaint_id=complaint_id)
    return row


def record_feedback(
    db: Database,
    outbox: Outbox,
    complaint_id: str,
    data: FeedbackCreate,
    *,
    staff_id: str,
    role: str,
    now: datetime,
    tenant: str | None = None,
) -> FeedbackRead:
    """The customer's verdict on the reply; only a replied complaint can take one."""
    with db.transaction() as session:
        row = _complaint_or_404(session, complaint_id, tenant)
        if row.status != State.REPLIED:
            raise Conflict(
                f"complaint {row.reference} is '{row.status}': feedback is taken once "
                "the complaint is 'replied'",
                state=row.status,
                allowed_actions=[],
            )
        return store_feedback(
            session, outbox, row, data, actor=Actor(id=staff_id, role=role), now=now
        )


def store_feedback(
    session: Session, outbox: Outbox, row: Any, data: FeedbackCreate, *, actor: Actor, now: datetime
) -> FeedbackRead:
    """Store a verdict on `row` (a replied complaint) and announce it, in `session`."""
    record = {
        "complaint_id": row.id,
        "result": data.result,
        "comment": data.comment or None,
        "source": data.source,
        "recorded_by": actor.id,
        "recorded_at": now,
    }
    record["id"] = service.add_feedback(session, record)
    outbox.add(
        session,
        registry.new(
            FEEDBACK_RECEIVED.name,
            FeedbackReceived(
                complaint_id=row.id,
                reference=row.reference,
                result=data.result,
                comment=record["comment"],
                source=data.source,
                recorded_by=actor.id,
            ),
            source=SOURCE,
            tenant=row.tenant,
            actor=actor,
            complaint_id=row.id,
            occurred_at=now,
        ),
    )
    return FeedbackRead.model_validate(record)


def add_note(
    db: Database,
    outbox: Outbox,
    complaint_id: str,
    data: NoteCreate,
    *,
    staff_id: str,
    role: str,
    now: datetime,
    tenant: str | None = None,
    department_id: str | None = None,
) -> NoteRead:
    with db.transaction() as session:
        row = _complaint_or_404(session, complaint_id, tenant)
        if department_id is not None and row.department_id != department_id:
            raise NotFound(f"no complaint {complaint_id}", complaint_id=complaint_id)
        return store_note(session, outbox, row, data, actor=Actor(id=staff_id, role=role), now=now)


def store_note(
    session: Session, outbox: Outbox, row: Any, data: NoteCreate, *, actor: Actor, now: datetime
) -> NoteRead:
    """Attach a note to `row` and announce it, in `session`."""
    record = {
        "complaint_id": row.id,
        "text": data.text,
        "source": data.source,
        "added_by": actor.id,
        "added_at": now,
    }
    record["id"] = service.add_note(session, record)
    search.add_words(session, row.id, document(data.text))
    outbox.add(
        session,
        registry.new(
            NOTE_ADDED.name,
            NoteAdded(
                complaint_id=row.id,
                reference=row.reference,
                text=data.text,
                source=data.source,
                added_by=actor.id,
            ),
            source=SOURCE,
            tenant=row.tenant,
            actor=actor,
            complaint_id=row.id,
            occurred_at=now,
        ),
    )
    return NoteRead.model_validate(record)


# --- a caller who calls again -----------------------------------------------------------


def request_urge(
    db: Database,
    outbox: Outbox,
    complaint_id: str,
    data: UrgeCreate,
    *,
    staff_id: str,
    role: str,
    now: datetime,
    tenant: str | None = None,
) -> UrgeRead:
    """The caller called again about an open complaint (催办): keep their words and ask
    the escalation service to urge whoever holds it. A closed complaint is not urged:
    the agent hears what the caller can do instead."""
    with db.transaction() as session:
        row = _complaint_or_404(session, complaint_id, tenant)
        if row.status == State.CLOSED:
            raise Conflict(
                f"complaint {row.reference} is closed ({row.closure_reason or 'closed'}), so "
                "there is nobody to urge: register a new complaint if this is a new problem, "
                "or ask the duty desk to reopen this one (重办) if the answer did not solve it",
                state=row.status,
                closure_reason=row.closure_reason,
                allowed_actions=[],
            )
        record = {
            "complaint_id": row.id,
            "text": data.text,
            "requested_by": staff_id,
            "requested_at": now,
        }
        record["id"] = service.add_urge(session, record)
        outbox.add(
            session,
            registry.new(
                URGE_REQUESTED.name,
                UrgeRequested(
                    complaint_id=row.id,
                    reference=row.reference,
                    text=data.text,
                    requested_by=staff_id,
                ),
                source=SOURCE,
                tenant=row.tenant,
                actor=Actor(id=staff_id, role=role),
                complaint_id=row.id,
                occurred_at=now,
            ),
        )
        return UrgeRead(**record, reference=row.reference, status=row.status)


# --- what customers text back -----------------------------------------------------------


def record_customer_sms(session: Session, outbox: Outbox, sms: SmsInbound, *, now: datetime) -> str:
    """A customer's SMS that notify matched to a complaint: "1"/"2" to the satisfaction
    question is their verdict (as if an agent had taken it on the phone), anything else
    is attached to the complaint as the customer's message. Returns what was done.

    Nothing a customer texts is dropped: a verdict that comes when the complaint no
    longer waits for one (already closed, or reopened meanwhile) is kept as a message.
    """
    if (
        sms.complaint_id is None
        or sms.staff_id is not None
        or sms.intent in (SmsIntent.ACK, SmsIntent.OPT_OUT)
    ):
        return "ignored"
    row = service.get_complaint(session, sms.complaint_id)
    if row is None or (row.customer_phone and row.customer_phone != sms.phone):
        return "ignored"
    actor = Actor(id="customer", role=Role.CUSTOMER)
    if sms.intent in (SmsIntent.SATISFIED, SmsIntent.UNSATISFIED) and row.status == State.REPLIED:
        store_feedback(
            session,
            outbox,
            row,
            FeedbackCreate(result=FeedbackResult(sms.intent), source=FeedbackSource.SMS),
            actor=actor,
            now=now,
        )
        return "feedback"
    text = sms.text.strip()[:5000]
    if not text:
        return "ignored"
    store_note(
        session,
        outbox,
        row,
        NoteCreate(text=text, source=NoteSource.CUSTOMER_SMS),
        actor=actor,
        now=now,
    )
    return "note"


# --- the lifecycle read copy ------------------------------------------------------------


def apply_lifecycle(
    session: Session, payload: LifecycleChanged, at: datetime, tenant: str = DEFAULT_TENANT
) -> bool:
    """Keep the state the escalation service decided, and a reply's words for search;
    older or repeated events are no-ops. An event naming another client than the
    complaint's is refused (dead-lettered, nothing applied)."""
    applied = service.apply_status(
        session,
        tenant=tenant,
        complaint_id=payload.complaint_id,
        seq=payload.history_seq,
        status=payload.to_state,
        at=at,
        holder_staff_id=payload.holder_staff_id,
        department_id=payload.department_id,
        closure_reason=payload.closure_reason,
        assisting=payload.assisting,
    )
    if not applied:
        refuse_another_client(session, payload.complaint_id, tenant)
    elif payload.resolution:
        keep_reply(session, payload, at)
    return applied


def refuse_another_client(session: Session, complaint_id: str | None, tenant: str) -> None:
    """Refuse an event about a complaint of another client than the one it names."""
    held = service.tenant_of(session, complaint_id) if complaint_id else None
    if held is not None and held != tenant:
        raise Refused(
            f"the event names client '{tenant}', but complaint {complaint_id} was made to '{held}'",
            error_class="tenant",
        )


def keep_reply(session: Session, payload: LifecycleChanged, at: datetime) -> None:
    """The resolution a department (or the desk) gave, once: every later event of the
    complaint carries it again, and only a new one (a reply after a reopening, a closure
    that words it anew) is a reply of its own."""
    resolution = payload.resolution or ""
    if search.last_reply(session, payload.complaint_id) == resolution:
        return
    search.add_reply(
        session,
        {
            "complaint_id": payload.complaint_id,
            "history_seq": payload.history_seq,
            "action": payload.action,
            "department_id": payload.department_id,
            "resolution": resolution,
            "replied_at": at,
        },
    )
    search.add_words(session, payload.complaint_id, document(resolution))
