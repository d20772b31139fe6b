"""GET /messages: the message log with delivery status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from services.notify.db import access_log
from services.notify.messages import service
from services.notify.messages.models import RANK, MessagePage, MessageRead
from shared.access_log import seen_in
from shared.auth.deps import require_roles
from shared.auth.principal import Principal, Role
from shared.deps import Db
from shared.errors import Forbidden, NotFound, Unprocessable
from shared.logs import mask_phone
from shared.phones import InvalidPhone, parse_phone
from shared.privacy import Sight, sight
from shared.tenants import may_see, scope
from shared.vocabulary import Audience

router = APIRouter(tags=["messages"])

_READS = (Role.AGENT, Role.DUTY_MANAGER, Role.SUPERVISOR, Role.DEPARTMENT, Role.QA, Role.ADMIN)


def _phone(raw: str) -> str:
    try:
        return parse_phone(raw).e164
    except InvalidPhone as exc:
        raise Unprocessable("phone", str(exc)) from None


def _customers(row: Any) -> bool:
    """Whether the message's phone is the customer's: sent to them, or a reply that no
    message of ours to a member of staff asked for."""
    return row.audience in (None, Audience.CUSTOMER)


def _visible(row: Any, sees: Sight, names: dict[str, str]) -> MessageRead:
    """A message as this caller may see it (shared.privacy): the customer's phone by the
    rule for customers' phones, a member of staff's by the directory's, and the text with
    the customer's numbers and name masked for those who may not read it."""
    item = MessageRead.model_validate(row, from_attributes=True)
    full = sees.phone if _customers(row) else sees.staff_phone
    if not full:
        item.phone = mask_phone(item.phone)
    if not sees.text:
        known = (names.get(row.complaint_id or ""),)
        item.body = sees.text_of(item.body, names=known) or ""
        item.last_error = sees.text_of(item.last_error, names=known)
    return item


@router.get("/messages", response_model=MessagePage)
def list_messages(
    request: Request,
    db: Db,
    principal: Annotated[Principal, require_roles(*_READS)],
    complaint_id: Annotated[str | None, Query(description="A complaint's id")] = None,
    phone: Annotated[str | None, Query(description="A phone number, any common spelling")] = None,
    status: Annotated[str | None, Query(description="pending, sent, delivered, failed, …")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    tenant: Annotated[
        str | None, Query(max_length=32, description="One client's messages (the centre's staff)")
    ] = None,
) -> MessagePage:
    """SMS sent and received, newest first, with where each is in its delivery.
    Department users see the messages about their department's complaints only; QA see
    no phone in full and no customer's numbers or name in the texts. A client's staff
    see that client's messages only, and another client's complaint is not found."""
    sees = sight(principal.role)
    client = scope(principal, tenant)
    if status is not None and status not in RANK:
        raise Unprocessable("status", f"'{status}' is not one of {', '.join(RANK)}")
    if phone is not None and not sees.phone:
        raise Forbidden(
            f"role '{principal.role.value}' does not look messages up by a phone number",
            role=principal.role.value,
        )
    after = None
    if cursor is not None:
        try:
            after = service.decode_cursor(cursor)
        except (ValueError, TypeError):
            raise Unprocessable("cursor", "not a cursor this API handed out") from None
    with db.read() as session:
        if complaint_id is not None and not may_see(
            principal, service.tenant_of(session, complaint_id)
        ):
            raise NotFound(f"no complaint {complaint_id}", complaint_id=complaint_id)
        rows = service.list_messages(
            session,
            tenant=client,
            complaint_id=complaint_id,
            phone=_phone(phone) if phone else None,
            status=status,
            department_id=(principal.department_id if principal.role == Role.DEPARTMENT else None),
            after=after,
            limit=limit + 1,
        )
        names = {} if sees.text else service.customer_names(session, (r.complaint_id for r in rows))
    more = len(rows) > limit
    rows = rows[:limit]
    page = MessagePage(
        items=[_visible(row, sees, names) for row in rows],
        next_cursor=service.encode_cursor(rows[-1].created_at, rows[-1].id) if more else None,
    )
    if sees.phone:
        # Each client's customers, as that client's reads.
        for read_for in dict.fromkeys(r.tenant for r in rows):
            shown = (
                (r.phone, r.complaint_id) for r in rows if _customers(r) and r.tenant == read_for
            )
            access_log.record(db, principal, request, seen_in(shown), tenant=read_for)
    return page
