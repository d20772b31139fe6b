"""The intake API: categories, registration, complaint and customer look-ups, feedback, notes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from services.intake.complaints import flows, service
from services.intake.complaints.models import (
    STATUSES,
    CategoryRead,
    ComplaintCreate,
    ComplaintCreated,
    ComplaintRead,
    CustomerRead,
    FeedbackCreate,
    FeedbackRead,
    NoteCreate,
    NoteRead,
    TenantRead,
    UrgeCreate,
    UrgeRead,
)
from services.intake.complaints.registration import REF_PREFIX
from services.intake.config import get_config
from services.intake.db import access_log
from services.intake.knowledge import flows as knowledge
from services.intake.search import flows as search_flows
from services.intake.search import service as search
from services.intake.search import words
from services.intake.search.models import ComplaintHit, SearchPage
from services.intake.search.service import Filters
from shared.access_log import Seen, seen_in
from shared.auth.deps import CurrentPrincipal, require_roles
from shared.auth.principal import Principal, Role
from shared.clock import utcnow
from shared.db import Database
from shared.deps import Db, OutboxDep
from shared.errors import Forbidden, NotFound, Unprocessable
from shared.logs import mask_phone
from shared.params import IsoDateTimeAnyZone
from shared.phones import InvalidPhone, parse_phone
from shared.privacy import mask_text, sight
from shared.taxonomy import taxonomy
from shared.tenants import may_see, scope, tenants
from shared.tenants import tenant as tenant_of
from shared.vocabulary import STAFF_ROLES

router = APIRouter()

_REGISTERS = (Role.AGENT, Role.DUTY_MANAGER, Role.SUPERVISOR)
_READS = STAFF_ROLES
# A customer's file: for those whose work is with the caller (shared.privacy).
_READS_FILES = tuple(role for role in STAFF_ROLES if sight(role).customer_file)
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")
# What the caller said, masked alike for those who may not read it as written: the place
# too, which can be their home, with their name or number in it.
_TEXTS = ("description", "location")


def _visible(row: Any, principal: Principal) -> ComplaintRead:
    """One complaint as this caller may see it (shared.privacy); 404 for another
    department's or another client's complaint."""
    assists = f",{principal.department_id}," in (getattr(row, "assisting", None) or "")
    if not may_see(principal, row.tenant) or (
        principal.role == Role.DEPARTMENT
        and row.department_id != principal.department_id
        and not assists
    ):
        # Not 403: whether the complaint exists is itself none of their business.
        raise NotFound(f"no complaint {row.id}", complaint_id=row.id)
    return ComplaintRead.model_validate(sight(principal.role).complaint(row._mapping, text=_TEXTS))


def _check_visible(session: Any, complaint_id: str, principal: Principal) -> Any:
    """The complaint (`complaint_id` may be its reference); 404 unless it exists and this
    caller may see it."""
    row = service.find_complaint(session, complaint_id)
    if row is None:
        raise NotFound(f"no complaint {complaint_id}", complaint_id=complaint_id)
    _visible(row, principal)
    return row


# A reference as intake hands them out (registration.reference_for).
_REFERENCE = re.compile(r"^[A-Za-z]{1,4}\d{8}-\d{1,12}$")


def _probes_personal_data(q: str) -> bool:
    """Words that would find a complaint by its customer's numbers, even part of one:
    `1380013` finds the texts with 138 0013 8000 in them."""
    q = q.strip()
    if _REFERENCE.match(q):
        return False
    return mask_text(q) != q or re.search(r"\d{4}", q) is not None


def _phones_shown(principal: Principal, rows: list[Any]) -> list[Seen]:
    """The customers whose phone the answer shows in full to this caller."""
    if not sight(principal.role).phone:
        return []
    return seen_in((r.customer_key, r.id) for r in rows if r.customer_phone)


def _text_seen(principal: Principal, row: Any, text: str | None) -> str | None:
    """What the customer (or staff) wrote about the complaint, as this caller may read it."""
    return sight(principal.role).text_of(text, names=(row.customer_name,))


@router.get("/tenants", response_model=list[TenantRead], tags=["categories"])
def list_tenants(principal: CurrentPrincipal) -> list[TenantRead]:
    """The clients this centre answers for (TENANTS_FILE) with the numbers callers dial
    for each; a client's own staff see theirs only. A centre of one organisation lists
    one, `default`."""
    return [
        TenantRead.model_validate(t.public()) for t in tenants().all() if may_see(principal, t.id)
    ]


@router.get("/categories", response_model=list[CategoryRead], tags=["categories"])
def list_categories(
    principal: CurrentPrincipal,
    tenant: Annotated[
        str | None, Query(description="The client whose categories (GET /tenants)")
    ] = None,
) -> list[CategoryRead]:
    """The complaint categories an agent can choose, with Chinese and English labels: the
    client's own where it has them, else the centre's."""
    chosen = scope(principal, tenant)
    categories = tenant_of(chosen).taxonomy() if chosen is not None else taxonomy()
    return [CategoryRead(id=c.id, zh=c.zh, en=c.en, group=c.group) for c in categories.categories]


@router.post(
    "/complaints",
    status_code=201,
    response_model=ComplaintCreated,
    tags=["complaints"],
    responses={
        200: {"description": "a retry with the same Idempotency-Key: the first answer again"},
        409: {"description": "the Idempotency-Key was used for a different complaint"},
        422: {"description": "invalid fields, each named with the reason"},
    },
)
async def register_complaint(
    request: Request,
    db: Db,
    outbox: OutboxDep,
    data: ComplaintCreate,
    principal: Annotated[Principal, require_roles(*_REGISTERS)],
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description="Any unique string (a UUID): a retry with the same key and body "
            "returns the same complaint instead of registering it twice",
        ),
    ] = None,
) -> Any:
    """Register a complaint while the customer is on the line; the answer carries the
    reference to read out and the caller's file (open complaints, last 30 days, repeat)."""
    if idempotency_key is not None and not _IDEMPOTENCY_KEY.match(idempotency_key):
        raise Unprocessable("Idempotency-Key", "1-128 printable ASCII characters, no spaces")
    client = flows.client_of(data, principal)
    now = utcnow()
    if data.answered_from_article is not None:
        article_id = data.answered_from_article

        def check() -> None:
            with db.read() as session:
                knowledge.answered_from(session, article_id, client=client, now=now)

        await anyio.to_thread.run_sync(check)
    result = await flows.register(
        request.app.state.registrar,
        outbox,
        data,
        staff_id=principal.staff_id,
        role=principal.role.value,
        now=now,
        config=get_config(),
        tenant=client,
        idempotency_key=idempotency_key,
    )
    return JSONResponse(result.body, status_code=result.status_code)


@router.get("/complaints/{complaint_id}", response_model=ComplaintRead, tags=["complaints"])
def get_complaint(
    request: Request,
    db: Db,
    complaint_id: str,
    principal: Annotated[Principal, require_roles(*_READS)],
) -> ComplaintRead:
    """A complaint as registered, with its lifecycle state as the escalation service last
    reported it. A reference (TS20261122-000123) works in place of the id."""
    with db.read() as session:
        row = service.find_complaint(session, complaint_id)
    if row is None:
        raise NotFound(f"no complaint {complaint_id}", complaint_id=complaint_id)
    item = _visible(row, principal)
    access_log.record(db, principal, request, _phones_shown(principal, [row]))
    return item


def _phone_param(value: str, field: str) -> str:
    try:
        return parse_phone(value, region=get_config().default_region).e164
    except InvalidPhone as exc:
        raise Unprocessable(field, str(exc)) from None


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise Unprocessable(field, "needs a UTC offset, e.g. 2026-11-01T00:00:00+08:00")
    return value


@router.get("/complaints", response_model=SearchPage, tags=["complaints"])
def search_complaints(
    request: Request,
    db: Db,
    principal: Annotated[Principal, require_roles(*_READS)],
    phone: Annotated[str | None, Query(description="The customer's phone, any spelling")] = None,
    status: Annotated[str | None, Query(description=f"One of {', '.join(STATUSES)}")] = None,
    category: Annotated[str | None, Query(description="A category id")] = None,
    department: Annotated[str | None, Query(description="Department holding it")] = None,
    tenant: Annotated[
        str | None, Query(description="The client it was made to (GET /tenants)")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=100,
            description="Words of the complaint's text, place, notes and replies, Chinese or "
            "English, with or without spaces (most relevant first); the customer's name as "
            "registered; or a reference",
        ),
    ] = None,
    from_: Annotated[
        IsoDateTimeAnyZone | None, Query(alias="from", description="Registered at or after")
    ] = None,
    to: Annotated[IsoDateTimeAnyZone | None, Query(description="Registered before")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> SearchPage:
    """Without `q`, newest first; with words in `q`, the complaints holding every word,
    most relevant first, each with a snippet of where (masked as the reader may see the
    text). A page at a time. Department users see their department's only.
    Those who may not see who the customer is (QA, the outsourcing client) do not look
    complaints up by a customer's phone, name or numbers."""
    sees = sight(principal.role)
    if not sees.phone and phone is not None:
        raise Forbidden(
            f"role '{principal.role.value}' does not look complaints up by the customer's "
            "phone; search by reference or by words of the text",
            role=principal.role.value,
        )
    if not sees.text and q is not None and _probes_personal_data(q):
        raise Forbidden(
            f"role '{principal.role.value}' does not search by a phone, ID, card or e-mail, "
            "nor by their digits; a reference (TS20261122-000123) is fine",
            role=principal.role.value,
        )
    if status is not None and status not in STATUSES:
        raise Unprocessable("status", f"'{status}' is not one of {', '.join(STATUSES)}")
    client = scope(principal, tenant)
    clients = [tenant_of(client)] if client is not None else tenants().all()
    known = list(dict.fromkeys(c for t in clients for c in t.taxonomy().ids))
    if category is not None and category not in known:
        raise Unprocessable(
            "category", f"unknown category '{category}'; allowed: {', '.join(known)}"
        )
    if principal.role == Role.DEPARTMENT:
        if department is not None and department != principal.department_id:
            raise NotFound(f"no department queue {department} for you", department=department)
        department = principal.department_id
    text = q.strip() if q else ""
    filters = Filters(
        phone=tuple(service.customer_keys(_phone_param(phone, "phone"), client)) if phone else (),
        tenant=client,
        status=status,
        category=category,
        department_id=department,
        since=_aware(from_, "from"),
        until=_aware(to, "to"),
    )
    if text and not _REFERENCE.match(text):
        return _found_by_words(request, db, principal, text, filters, cursor, limit)
    after = None
    if cursor is not None:
        try:
            after = service.decode_cursor(cursor)
        except (ValueError, TypeError):
            raise Unprocessable("cursor", "not a cursor this API handed out") from None
    with db.read() as session:
        rows = service.list_complaints(
            session,
            reference=text.upper() or None,
            phone=filters.phone,
            tenant=client,
            status=status,
            category=category,
            department_id=department,
            since=filters.since,
            until=filters.until,
            after=after,
            limit=limit + 1,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    items = [ComplaintHit.model_validate(_visible(row, principal).model_dump()) for row in rows]
    next_cursor = service.encode_cursor(rows[-1].registered_at, rows[-1].id) if more else None
    access_log.record(db, principal, request, _phones_shown(principal, rows))
    return SearchPage(items=items, next_cursor=next_cursor)


def _found_by_words(
    request: Request,
    db: Database,
    principal: Principal,
    text: str,
    filters: Filters,
    cursor: str | None,
    limit: int,
) -> SearchPage:
    """A page of complaints found by the words of `text` (search.flows)."""
    sees = sight(principal.role)
    after = None
    if cursor is not None:
        try:
            after = search.decode_cursor(cursor)
        except (ValueError, TypeError):
            raise Unprocessable("cursor", "not a cursor of this search") from None
    wanted = words.query(text)
    if not wanted:  # only words every complaint has (的, the): nothing to look for
        return SearchPage(items=[], next_cursor=None)
    filters = search_flows.for_reader(filters, text, wanted, sees)
    with db.read() as session:
        found = search_flows.find(session, wanted, filters, sees=sees, after=after, limit=limit + 1)
    more = len(found) > limit
    found = found[:limit]
    last = found[-1].item if found else None
    next_cursor = (
        search.encode_cursor(last.rank, last.registered_at, last.id) if more and last else None
    )
    access_log.record(db, principal, request, _phones_shown(principal, [f.row for f in found]))
    return SearchPage(items=[f.item for f in found], next_cursor=next_cursor)


@router.get(
    "/customers/{phone}",
    response_model=CustomerRead,
    tags=["customers"],
)
def get_customer(
    request: Request,
    db: Db,
    phone: str,
    principal: Annotated[Principal, require_roles(*_READS_FILES)],
    limit: Annotated[int, Query(ge=1, le=200, description="How many complaints to list")] = 50,
    tenant: Annotated[
        str | None,
        Query(description="The client whose file (GET /tenants); left out: every client's"),
    ] = None,
) -> CustomerRead:
    """A caller's profile and complaints, newest first: by their phone (a mobile or a
    landline, any spelling), or `ref:<id>` for a customer an older system knew by id.
    A caller of several clients has a file with each: `tenant` reads one, and someone
    who works for one client reads only that one. Every read is in the access log
    (`GET /access-log`)."""
    key = phone.strip() if phone.strip().startswith(REF_PREFIX) else _phone_param(phone, "phone")
    client = scope(principal, tenant)
    keys = service.customer_keys(key, client)
    now = utcnow()
    cfg = get_config()
    with db.read() as session:
        found = service.customers_by_keys(session, keys)
        if not found:
            raise NotFound(f"no complaints from {mask_phone(key)}", phone=mask_phone(key))
        files = [
            service.customer_file(
                session,
                customer_key=row.key,
                now=now,
                window_days=cfg.repeat_window_days,
                repeat_min=cfg.repeat_min,
            )
            for row in found
        ]
        rows = service.complaints_of(session, [row.key for row in found], limit=limit)
    sees = sight(principal.role)
    named = next((row.name for row in found if row.name), None)
    answer = CustomerRead(
        phone=sees.phone_of(found[0].phone),
        tenants=[row.tenant for row in found],
        customer_ref=found[0].external_ref,
        name=named if sees.name else None,
        first_seen_at=min(row.first_seen_at for row in found),
        last_complaint_at=max(row.last_complaint_at for row in found),
        file=service.file_together(files, repeat_min=cfg.repeat_min),
        complaints=[_visible(r, principal) for r in rows],
    )
    # The file is the customer's whole history with the centre: its read is recorded
    # whatever it shows.
    access_log.record(
        db, principal, request, [Seen(row.key, tuple(r.id for r in rows)) for row in found]
    )
    return answer


@router.post(
    "/complaints/{complaint_id}/feedback",
    status_code=201,
    response_model=FeedbackRead,
    tags=["feedback"],
    responses={409: {"description": "the complaint is not waiting for feedback"}},
)
def post_feedback(
    db: Db,
    outbox: OutboxDep,
    complaint_id: str,
    data: FeedbackCreate,
    principal: Annotated[Principal, require_roles(*_REGISTERS)],
) -> FeedbackRead:
    """The customer's verdict on the reply, from a follow-up call or the web: satisfied
    closes the complaint, unsatisfied reopens it, unreachable counts a failed attempt.
    A reference (TS20261122-000123) works in place of the id."""
    return flows.record_feedback(
        db,
        outbox,
        complaint_id,
        data,
        staff_id=principal.staff_id,
        role=principal.role.value,
        now=utcnow(),
        tenant=principal.tenant,
    )


@router.post(
    "/complaints/{complaint_id}/notes",
    status_code=201,
    response_model=NoteRead,
    tags=["notes"],
)
def post_note(
    db: Db,
    outbox: OutboxDep,
    complaint_id: str,
    data: NoteCreate,
    principal: Annotated[
        Principal, require_roles(Role.AGENT, Role.DUTY_MANAGER, Role.SUPERVISOR, Role.DEPARTMENT)
    ],
) -> NoteRead:
    """More information from the customer, added to the complaint and announced. A
    reference works in place of the id."""
    return flows.add_note(
        db,
        outbox,
        complaint_id,
        data,
        staff_id=principal.staff_id,
        role=principal.role.value,
        now=utcnow(),
        tenant=principal.tenant,
        department_id=principal.department_id if principal.role == Role.DEPARTMENT else None,
    )


@router.get("/complaints/{complaint_id}/notes", response_model=list[NoteRead], tags=["notes"])
def list_notes(
    db: Db,
    complaint_id: str,
    principal: Annotated[Principal, require_roles(*_READS)],
) -> list[NoteRead]:
    """What was added to the complaint, oldest first. A reference works in place of the id."""
    with db.read() as session:
        found = _check_visible(session, complaint_id, principal)
        return [
            NoteRead.model_validate({**n._mapping, "text": _text_seen(principal, found, n.text)})
            for n in service.notes_of(session, found.id)
        ]


@router.get(
    "/complaints/{complaint_id}/feedback", response_model=list[FeedbackRead], tags=["feedback"]
)
def list_feedback(
    db: Db,
    complaint_id: str,
    principal: Annotated[Principal, require_roles(*_READS)],
) -> list[FeedbackRead]:
    """The customer's verdicts, oldest first. A reference works in place of the id."""
    with db.read() as session:
        found = _check_visible(session, complaint_id, principal)
        return [
            FeedbackRead.model_validate(
                {**f._mapping, "comment": _text_seen(principal, found, f.comment)}
            )
            for f in service.feedback_of(session, found.id)
        ]


@router.post(
    "/complaints/{complaint_id}/urges",
    status_code=201,
    response_model=UrgeRead,
    tags=["urges"],
    responses={
        409: {"description": "the complaint is closed: register a new one, or ask to reopen it"}
    },
)
def post_urge(
    db: Db,
    outbox: OutboxDep,
    complaint_id: str,
    data: UrgeCreate,
    principal: Annotated[Principal, require_roles(*_REGISTERS)],
) -> UrgeRead:
    """The caller called again about an open complaint (催办): their words are kept, and
    whoever holds the complaint (the duty manager or the department) is urged by SMS.
    A reference works in place of the id."""
    return flows.request_urge(
        db,
        outbox,
        complaint_id,
        data,
        staff_id=principal.staff_id,
        role=principal.role.value,
        now=utcnow(),
        tenant=principal.tenant,
    )


@router.get("/complaints/{complaint_id}/urges", response_model=list[UrgeRead], tags=["urges"])
def list_urges(
    db: Db,
    complaint_id: str,
    principal: Annotated[Principal, require_roles(*_READS)],
) -> list[UrgeRead]:
    """Every time the caller called again, oldest first. A reference works in place of the id."""
    with db.read() as session:
        row = _check_visible(session, complaint_id, principal)
        return [
            UrgeRead.model_validate(
                {
                    **u._mapping,
                    "text": _text_seen(principal, row, u.text),
                    "reference": row.reference,
                    "status": row.status,
                }
            )
            for u in service.urges_of(session, row.id)
        ]
