"""Attaching a file to a complaint, and reading it back.

An upload is judged before anything is kept: its size, what its bytes are (not what it
is called), whether its name agrees with them, and what the virus scanner says. Only
then are the bytes written to the object store, and only once the store has them is the
row written, with its event, in one transaction. Should that transaction fail, the
object is deleted again: there is never a row without its bytes, nor (short of the
store failing that delete too, which is logged) bytes without a row.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.intake.attachments import content, service
from services.intake.attachments.content import Foreign, Kind
from services.intake.attachments.models import AttachmentRead
from services.intake.attachments.scan import Scanner, ScannerUnavailable, Verdict, scanner_for
from services.intake.attachments.store import (
    ObjectMissing,
    ObjectStore,
    StoreUnavailable,
    store_for,
)
from services.intake.complaints import service as complaints
from services.intake.config import IntakeConfig
from shared.auth.principal import Principal
from shared.contracts import ATTACHMENT_ADDED, AttachmentAdded
from shared.db import Database
from shared.errors import ApiError, Conflict, Forbidden, NotFound, Unprocessable
from shared.events import Actor, registry
from shared.outbox import Outbox
from shared.privacy import sight
from shared.settings import Settings
from shared.tenants import may_see
from shared.vocabulary import AttachmentSource, Role, State

log = logging.getLogger(__name__)

SOURCE = "intake"
FIELD = "file"
# Who attaches: the centre's staff on the complaint, and the clerk of the department that
# holds it (their reply's documents).
UPLOADERS = (Role.AGENT, Role.DUTY_MANAGER, Role.SUPERVISOR, Role.DEPARTMENT)
# A department holds a complaint from dispatch until its reply has had the customer's
# verdict: a reply's documents may follow the reply.
_HELD_BY_DEPARTMENT = frozenset({State.DISPATCHED, State.IN_PROGRESS, State.REPLIED})


class TooLarge(ApiError):
    status = 413
    code = "payload_too_large"


class UnsupportedType(ApiError):
    status = 415
    code = "unsupported_media_type"


class Unavailable(ApiError):
    status = 503
    code = "unavailable"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.headers = {"Retry-After": "30"}


@dataclass
class Attachments:
    """The store, the scanner and the centre's rules, made once per process."""

    store: ObjectStore
    scanner: Scanner
    kinds: tuple[Kind, ...]
    max_bytes: int
    max_per_complaint: int
    fail_open: bool = False

    @classmethod
    def from_config(cls, config: IntakeConfig, settings: Settings) -> Attachments:
        return cls(
            store=store_for(config, settings),
            scanner=scanner_for(config),
            kinds=content.accepted_kinds(config.attachment_types),
            max_bytes=config.attachment_max_bytes,
            max_per_complaint=config.attachment_max_per_complaint,
            fail_open=config.attachment_scan_fail_open,
        )

    # --- judging an upload ----------------------------------------------------------

    def judge(self, data: bytes, sent_name: str | None) -> tuple[Kind, str]:
        """What the file is and the name it is kept under; refused with the reason."""
        if len(data) > self.max_bytes:
            raise TooLarge(
                f"{FIELD}: {_size(len(data))} is over the limit of {_size(self.max_bytes)} "
                "for one attachment",
                fields=[{"field": FIELD, "message": f"at most {_size(self.max_bytes)}"}],
                limit=self.max_bytes,
            )
        if not data:
            raise Unprocessable(FIELD, "the file is empty")
        name = content.clean_name(sent_name)
        extension = content.extension_of(name)
        found = content.identify(data)
        named = f"named {extension} but " if extension else ""
        if isinstance(found, Foreign) or found not in self.kinds:
            what = found.label
            reason = (
                f"{named}the content is {what}, which is not accepted; "
                f"attach {content.describe(self.kinds)} only"
            )
            raise UnsupportedType(
                f"{FIELD}: {reason}",
                fields=[{"field": FIELD, "message": reason}],
                looks_like=what,
            )
        if not name:
            name = "attachment"
        if not extension:
            name += found.extension
        elif extension not in found.extensions:
            raise Unprocessable(
                FIELD,
                f"{named}the content is {found.label} ({found.extension}): rename it, or "
                "attach the file the name promises",
                looks_like=found.label,
            )
        return found, name

    def scan(self, data: bytes, name: str) -> Verdict:
        try:
            verdict = self.scanner.scan(data, name=name)
        except ScannerUnavailable as exc:
            if self.fail_open:
                log.warning("virus scanner unavailable, %s stored unscanned: %s", name, exc)
                return Verdict(infected=False, scan="unscanned")
            log.warning("virus scanner unavailable, %s refused: %s", name, exc)
            raise Unavailable(
                "the virus scanner is not answering, so nothing was stored; try again in a minute",
                scanner=type(self.scanner).__name__,
            ) from None
        if verdict.infected:
            reason = f"refused by the virus scanner: {verdict.signature or 'infected'}"
            raise Unprocessable(FIELD, reason, signature=verdict.signature)
        return verdict


@dataclass(frozen=True)
class Upload:
    data: bytes
    name: str | None
    source: AttachmentSource | None = None


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n} bytes"


def visible_complaint(session: Any, complaint_id: str, principal: Principal) -> Any:
    """The complaint (`complaint_id` may be its reference); 404 unless it exists and this
    caller may see it: a department's clerk sees their department's only, someone who
    works for one client that client's only."""
    row = complaints.find_complaint(session, complaint_id)
    if (
        row is None
        or not may_see(principal, row.tenant)
        or (principal.role == Role.DEPARTMENT and row.department_id != principal.department_id)
    ):
        # Not 403: whether the complaint exists is none of another department's business.
        raise NotFound(f"no complaint {complaint_id}", complaint_id=complaint_id)
    return row


def _may_attach(row: Any, principal: Principal) -> None:
    if principal.role == Role.DEPARTMENT and row.status not in _HELD_BY_DEPARTMENT:
        raise Forbidden(
            f"complaint {row.reference} is '{row.status}', no longer with your department: "
            "only the department that holds it attaches to it",
            state=row.status,
        )


def _source_of(principal: Principal, asked: AttachmentSource | None) -> AttachmentSource:
    """A clerk's files are their department's reply; the centre's staff attach their own
    or what a customer sent by the web form or MMS."""
    if principal.role == Role.DEPARTMENT:
        if asked not in (None, AttachmentSource.DEPARTMENT):
            raise Unprocessable("source", "a department's clerk attaches as 'department'")
        return AttachmentSource.DEPARTMENT
    if asked == AttachmentSource.DEPARTMENT:
        raise Unprocessable("source", "only the department's clerk attaches as 'department'")
    return asked or AttachmentSource.AGENT


def _too_many(attachments: Attachments, reference: str) -> Conflict:
    return Conflict(
        f"complaint {reference} already has {attachments.max_per_complaint} attachments, "
        "the most one complaint takes",
        limit=attachments.max_per_complaint,
    )


def add(
    db: Database,
    outbox: Outbox,
    attachments: Attachments,
    complaint_id: str,
    upload: Upload,
    *,
    principal: Principal,
    now: datetime,
) -> AttachmentRead:
    """Judge, scan, store, then record and announce one file (see the module)."""
    with db.read() as session:
        row = visible_complaint(session, complaint_id, principal)
        _may_attach(row, principal)
        if service.count_of(session, row.id) >= attachments.max_per_complaint:
            raise _too_many(attachments, row.reference)
    source = _source_of(principal, upload.source)
    kind, name = attachments.judge(upload.data, upload.name)
    verdict = attachments.scan(upload.data, name)
    digest = hashlib.sha256(upload.data).hexdigest()
    attachment_id = str(uuid.uuid4())
    key = f"{row.id}/{attachment_id}"
    try:
        attachments.store.put(key, upload.data, content_type=kind.mime, sha256=digest)
    except StoreUnavailable as exc:
        log.error("attachment %s for %s not stored: %s", name, row.reference, exc)
        raise Unavailable(
            "the object store did not take the file, so nothing was stored; try again in a minute"
        ) from None
    record = {
        "id": attachment_id,
        "complaint_id": row.id,
        "name": name,
        "content_type": kind.mime,
        "size": len(upload.data),
        "sha256": digest,
        "object_key": key,
        "source": source.value,
        "uploaded_by": principal.staff_id,
        "uploader_role": principal.role.value,
        "uploaded_at": now,
        "scan": verdict.scan,
    }
    try:
        with db.transaction() as session:
            # Two uploads at once must not both take the last place.
            service.lock_complaint(session, row.id)
            if service.count_of(session, row.id) >= attachments.max_per_complaint:
                raise _too_many(attachments, row.reference)
            service.add_attachment(session, record)
            outbox.add(session, _announcement(row, record, principal, now))
    except BaseException:
        _forget(attachments.store, key)
        raise
    return AttachmentRead.model_validate(record)


def _forget(store: ObjectStore, key: str) -> None:
    try:
        store.delete(key)
    except StoreUnavailable as exc:
        log.error("object %s has no row and could not be deleted: %s", key, exc)


def _announcement(row: Any, record: dict[str, Any], principal: Principal, now: datetime) -> Any:
    return registry.new(
        ATTACHMENT_ADDED.name,
        AttachmentAdded(
            complaint_id=row.id,
            reference=row.reference,
            attachment_id=record["id"],
            name=record["name"],
            content_type=record["content_type"],
            size=record["size"],
            sha256=record["sha256"],
            source=record["source"],
            added_by=principal.staff_id,
        ),
        source=SOURCE,
        tenant=row.tenant,
        actor=Actor(id=principal.staff_id, role=principal.role.value),
        complaint_id=row.id,
        occurred_at=now,
    )


# --- reading ----------------------------------------------------------------------------


def listed(db: Database, complaint_id: str, principal: Principal) -> list[AttachmentRead]:
    """The complaint's attachments as this caller may see them: the names masked for
    those who may not read what the customer wrote (a name can carry theirs)."""
    sees = sight(principal.role)
    with db.read() as session:
        row = visible_complaint(session, complaint_id, principal)
        found = service.attachments_of(session, row.id)
    return [
        AttachmentRead.model_validate(
            {**a._mapping, "name": sees.text_of(a.name, names=(row.customer_name,)) or a.name}
        )
        for a in found
    ]


@dataclass(frozen=True)
class Opened:
    complaint: Any
    attachment: Any
    data: bytes
    kind: Kind | None


def may_open(principal: Principal) -> None:
    """The bytes are for those who may read the customer's own words: a photo or a scan
    can show their face, ID card or address, and cannot be masked as a text is."""
    if not sight(principal.role).text:
        raise Forbidden(
            f"role '{principal.role.value}' does not open attachments: a photo or document "
            "can show who the customer is, and cannot be masked; the list shows what there is",
            role=principal.role.value,
        )


def open_attachment(
    db: Database,
    attachments: Attachments,
    complaint_id: str,
    attachment_id: str,
    principal: Principal,
) -> Opened:
    may_open(principal)
    with db.read() as session:
        row = visible_complaint(session, complaint_id, principal)
        found = service.get_attachment(session, row.id, attachment_id)
    if found is None:
        raise NotFound(
            f"no attachment {attachment_id} on complaint {row.reference}",
            attachment_id=attachment_id,
        )
    try:
        data = attachments.store.get(found.object_key)
    except (StoreUnavailable, ObjectMissing) as exc:
        log.error("attachment %s of %s unreadable: %r", found.id, row.reference, exc)
        raise Unavailable("the object store did not give the file back; try again") from None
    if hashlib.sha256(data).hexdigest() != found.sha256:
        log.error("attachment %s of %s does not match its sha256", found.id, row.reference)
        raise Unavailable("the stored file does not match what was attached") from None
    return Opened(row, found, data, content.BY_MIME.get(found.content_type))
