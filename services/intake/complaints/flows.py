"""What intake does, each in one transaction: register a complaint (with its event),
record feedback, add a note, and keep the lifecycle read copy.

The HTTP layer and the import command both come through here, so an imported complaint
is stored and announced exactly like one an agent typed in.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from services.intake.complaints import service
from services.intake.complaints.models import (
    ComplaintCreate,
    ComplaintCreated,
    CustomerFile,
    FeedbackCreate,
    FeedbackRead,
    NoteCreate,
    NoteRead,
)
from services.intake.config import IntakeConfig
from shared.contracts import (
    COMPLAINT_RECEIVED,
    FEEDBACK_RECEIVED,
    NOTE_ADDED,
    ComplaintReceived,
    FeedbackReceived,
    LifecycleChanged,
    NoteAdded,
    SmsInbound,
)
from shared.db import Database
from shared.errors import Conflict, NotFound
from shared.events import Actor, Envelope, registry
from shared.outbox import Outbox
from shared.vocabulary import (
    FeedbackResult,
    FeedbackSource,
    NoteSource,
    Role,
    SmsIntent,
    State,
)

SOURCE = "intake"


@dataclass(frozen=True)
class NewComplaint:
    """A complaint ready to store: validated and normalised by whoever built it."""

    customer_key: str
    customer_phone: str | None
    customer_name: str | None
    channel: str
    category: str
    severity: str
    nature: str
    strong_emotion: bool
    description: str
    occurred_at: datetime | None
    registered_at: datetime
    registered_by: str
    registered_by_role: str
    customer_ref: str | None = None
    external_id: str | None = None
    imported: bool = False

    @classmethod
    def from_request(
        cls, data: ComplaintCreate, *, staff_id: str, role: str, now: datetime
    ) -> NewComplaint:
        return cls(
            customer_key=data.customer_phone,
            customer_phone=data.customer_phone,
            customer_name=data.customer_name,
            channel=data.channel,
            category=data.category,
            severity=data.severity,
            nature=data.nature,
            strong_emotion=data.strong_emotion,
            description=data.description,
            occurred_at=data.occurred_at,
            registered_at=now,
            registered_by=staff_id,
            registered_by_role=role,
        )


@dataclass(frozen=True)
class Registered:
    body: dict[str, Any]
    # 201 for a new complaint; 200 when an Idempotency-Key replays an earlier answer.
    status_code: int


def reference_for(number: int, at: datetime, config: IntakeConfig) -> str:
    """TS20261122-000123: the local date of registration and a number unique for ever."""
    local = at.astimezone(ZoneInfo(config.timezone))
    return f"{config.reference_prefix}{local:%Y%m%d}-{number:06d}"


def request_hash(data: ComplaintCreate) -> str:
    """Of the normalised request: the same complaint retyped with spaces is the same body."""
    canonical = json.dumps(
        data.model_dump(mode="json"), sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def build_complaint(
    new: NewComplaint,
    *,
    complaint_id: str,
    number: int,
    file: CustomerFile,
    config: IntakeConfig,
) -> tuple[dict[str, Any], Envelope]:
    """The complaint row and its `complaint.received` event, before either is stored."""
    reference = reference_for(number, new.registered_at, config)
    row = {
        "id": complaint_id,
        "number": number,
        "reference": reference,
        "customer_key": new.customer_key,
        "customer_phone": new.customer_phone,
        "customer_name": new.customer_name,
        "channel": new.channel,
        "category": new.category,
        "severity": new.severity,
        "nature": new.nature,
        "strong_emotion": new.strong_emotion,
        "description": new.description,
        "occurred_at": new.occurred_at,
        "registered_at": new.registered_at,
        "registered_by": new.registered_by,
        "external_id": new.external_id,
        "status": State.RECEIVED,
        "status_seq": 0,
        "status_updated_at": None,
        "holder_staff_id": None,
        "department_id": None,
        "closure_reason": None,
    }
    payload = ComplaintReceived(
        complaint_id=complaint_id,
        reference=reference,
        customer_phone=new.customer_phone,
        customer_ref=new.customer_ref,
        customer_name=new.customer_name,
        channel=new.channel,
        category=new.category,
        severity=new.severity,
        nature=new.nature,
        strong_emotion=new.strong_emotion,
        description=new.description,
        occurred_at=new.occurred_at,
        registered_at=new.registered_at,
        registered_by=new.registered_by,
        open_complaints=file.open_complaints,
        complaints_last_30_days=file.complaints_last_30_days,
        repeat=file.repeat,
        imported=new.imported,
        external_id=new.external_id,
    )
    event = registry.new(
        COMPLAINT_RECEIVED.name,
        payload,
        source=SOURCE,
        actor=Actor(id=new.registered_by, role=new.registered_by_role),
        complaint_id=complaint_id,
        occurred_at=new.registered_at,
    )
    return row, event


def created_body(row: dict[str, Any], file: CustomerFile) -> dict[str, Any]:
    """The 201 answer: the complaint and the caller's file."""
    return ComplaintCreated.model_validate({**row, "customer_file": file}).model_dump(mode="json")


def store_complaint(
    session: Session,
    outbox: Outbox,
    new: NewComplaint,
    config: IntakeConfig,
    *,
    complaint_id: str | None = None,
) -> tuple[dict[str, Any], CustomerFile]:
    """Number, customer file, customer, complaint and `complaint.received`, in the
    caller's transaction. Returns the stored row and the file as it was before."""
    number = service.next_number(session)
    file = service.customer_file(
        session,
        customer_key=new.customer_key,
        now=new.registered_at,
        window_days=config.repeat_window_days,
        repeat_min=config.repeat_min,
    )
    row, event = build_complaint(
        new,
        complaint_id=complaint_id or str(uuid.uuid4()),
        number=number,
        file=file,
        config=config,
    )
    service.upsert_customer(
        session,
        key=new.customer_key,
        phone=new.customer_phone,
        external_ref=new.customer_ref,
        name=new.customer_name,
        at=new.registered_at,
    )
    service.insert_complaint(session, row)
    outbox.add(session, event)
    return row, file


class _LostRace(Exception):
    """Another request with the same Idempotency-Key committed first."""


def register(
    db: Database,
    outbox: Outbox,
    data: ComplaintCreate,
    *,
    staff_id: str,
    role: str,
    now: datetime,
    config: IntakeConfig,
    idempotency_key: str | None = None,
) -> Registered:
    """Register a complaint; with an Idempotency-Key, a retry gets the first answer back."""
    digest = request_hash(data) if idempotency_key else ""
    if idempotency_key:
        with db.read() as session:
            replay = _replay(session, staff_id, idempotency_key, digest)
        if replay is not None:
            return replay
    new = NewComplaint.from_request(data, staff_id=staff_id, role=role, now=now)
    if db.is_postgres:
        from services.intake.complaints import pg

        stored = pg.register(
            db, outbox, new, config, idempotency_key=idempotency_key, request_hash=digest
        )
        if stored is not None:
            return Registered(body=stored, status_code=201)
        return _replay_after_race(db, staff_id, idempotency_key, digest)
    try:
        with db.transaction() as session:
            row, file = store_complaint(session, outbox, new, config)
            body = created_body(row, file)
            if idempotency_key and not service.claim_idempotency(
                session,
                staff_id=staff_id,
                key=idempotency_key,
                request_hash=digest,
                complaint_id=row["id"],
                response=body,
                now=now,
            ):
                raise _LostRace
    except _LostRace:
        return _replay_after_race(db, staff_id, idempotency_key, digest)
    return Registered(body=body, status_code=201)


def _replay_after_race(db: Database, staff_id: str, key: str | None, digest: str) -> Registered:
    # Nothing of this request was kept: the complaint, its customer update and its
    # event went with the rollback, and the request that won answers for both.
    with db.read() as session:
        replay = _replay(session, staff_id, key or "", digest)
    if replay is None:  # pragma: no cover - the winner committed before we lost
        raise RuntimeError("idempotency key conflict without a stored answer")
    return replay


def _replay(session: Session, staff_id: str, key: str, digest: str) -> Registered | None:
    stored = service.get_idempotency(session, staff_id=staff_id, key=key)
    if stored is None:
        return None
    return replay_answer(
        key=key,
        digest=digest,
        stored_hash=stored.request_hash,
        complaint_id=stored.complaint_id,
        response=dict(stored.response),
    )


def replay_answer(
    *, key: str, digest: str, stored_hash: str, complaint_id: str, response: dict[str, Any]
) -> Registered:
    """The answer to a request whose Idempotency-Key is already stored."""
    if stored_hash != digest:
        raise Conflict(
            "Idempotency-Key was already used for a different complaint; "
            "use a new key for a new complaint",
            idempotency_key=key,
            complaint_id=complaint_id,
        )
    return Registered(body=response, status_code=200)


def purge_idempotency_keys(db: Database, *, now: datetime, config: IntakeConfig) -> int:
    with db.transaction() as session:
        return service.purge_idempotency(
            session, before=now - timedelta(days=config.idempotency_days)
        )


# --- feedback and notes -----------------------------------------------------------------


def _complaint_or_404(session: Session, complaint_id: str) -> Any:
    row = service.get_complaint(session, complaint_id)
    if row is None:
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
) -> FeedbackRead:
    """The customer's verdict on the reply; only a replied complaint can take one."""
    with db.transaction() as session:
        row = _complaint_or_404(session, complaint_id)
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
    department_id: str | None = None,
) -> NoteRead:
    with db.transaction() as session:
        row = _complaint_or_404(session, complaint_id)
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
            actor=actor,
            complaint_id=row.id,
            occurred_at=now,
        ),
    )
    return NoteRead.model_validate(record)


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


def apply_lifecycle(session: Session, payload: LifecycleChanged, at: datetime) -> bool:
    """Keep the state the escalation service decided; older or repeated events are no-ops."""
    return service.apply_status(
        session,
        complaint_id=payload.complaint_id,
        seq=payload.history_seq,
        status=payload.to_state,
        at=at,
        holder_staff_id=payload.holder_staff_id,
        department_id=payload.department_id,
        closure_reason=payload.closure_reason,
    )
