"""GET /messages: the message log with delivery status."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.notify.messages import service
from services.notify.messages.models import RANK, MessagePage, MessageRead
from shared.auth.deps import require_roles
from shared.auth.principal import Principal, Role
from shared.deps import Db
from shared.errors import Unprocessable
from shared.logs import mask_phone
from shared.phones import InvalidPhone, parse_phone

router = APIRouter(tags=["messages"])

_READS = (Role.AGENT, Role.DUTY_MANAGER, Role.SUPERVISOR, Role.DEPARTMENT, Role.QA, Role.ADMIN)
# Who sees phone numbers in full; the others see +86138****8000.
_SEES_PHONE = frozenset({Role.AGENT, Role.DUTY_MANAGER, Role.SUPERVISOR, Role.ADMIN})


def _phone(raw: str) -> str:
    try:
        return parse_phone(raw).e164
    except InvalidPhone as exc:
        raise Unprocessable("phone", str(exc)) from None


def _visible(row: Any, principal: Principal) -> MessageRead:
    item = MessageRead.model_validate(row, from_attributes=True)
    if principal.role not in _SEES_PHONE:
        item.phone = mask_phone(item.phone)
    return item


@router.get("/messages", response_model=MessagePage)
def list_messages(
    db: Db,
    principal: Annotated[Principal, require_roles(*_READS)],
    complaint_id: Annotated[str | None, Query(description="A complaint's id")] = None,
    phone: Annotated[str | None, Query(description="A phone number, any common spelling")] = None,
    status: Annotated[str | None, Query(description="pending, sent, delivered, failed, …")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> MessagePage:
    """SMS sent and received, newest first, with where each is in its delivery.
    Department users see the messages about their department's complaints only."""
    if status is not None and status not in RANK:
        raise Unprocessable("status", f"'{status}' is not one of {', '.join(RANK)}")
    after = None
    if cursor is not None:
        try:
            after = service.decode_cursor(cursor)
        except (ValueError, TypeError):
            raise Unprocessable("cursor", "not a cursor this API handed out") from None
    with db.read() as session:
        rows = service.list_messages(
            session,
            complaint_id=complaint_id,
            phone=_phone(phone) if phone else None,
            status=status,
            department_id=(principal.department_id if principal.role == Role.DEPARTMENT else None),
            after=after,
            limit=limit + 1,
        )
    more = len(rows) > limit
    rows = rows[:limit]
    return MessagePage(
        items=[_visible(row, principal) for row in rows],
        next_cursor=service.encode_cursor(rows[-1].created_at, rows[-1].id) if more else None,
    )
