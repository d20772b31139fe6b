"""GET /messages: the message log with delivery status."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.notify.messages import service
from services.notify.messages.models import RANK, MessagePage, MessageRead
from shared.auth.deps import require_roles
from shared.auth.principal import Principal, Role
from shared.deps import Db
from shared.errors import Unprocessable
from shared.logs import mask_phone

router = APIRouter(tags=["messages"])

_READS = (Role.AGENT, Role.DUTY_MANAGER, Role.SUPERVISOR, Role.DEPARTMENT, Role.QA, Role.ADMIN)
# Who sees phone numbers in full; the others see +86138****8000.
_SEES_PHONE = frozenset({Role.AGENT, Role.DUTY_MANAGER, Role.SUPERVISOR, Role.ADMIN})
_SEPARATORS = re.compile(r"[\s\-().]")


def normalise_phone(raw: str) -> str:
    """E.164 from the spellings people type: +86 138 0013 8000, 008613800138000,
    13800138000 (a mainland mobile)."""
    text = _SEPARATORS.sub("", raw)
    if text.startswith("00"):
        text = "+" + text[2:]
    if re.fullmatch(r"1[3-9]\d{9}", text):
        text = "+86" + text
    if not re.fullmatch(r"\+\d{6,16}", text):
        raise Unprocessable("phone", "a phone number: E.164 (+8613800138000) or a mainland mobile")
    return text


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
            phone=normalise_phone(phone) if phone else None,
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
