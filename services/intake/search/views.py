"""Likely duplicates (重复件), asked while a complaint is being registered."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request

from services.intake.complaints.models import LOCATION_MAX
from services.intake.config import get_config
from services.intake.db import access_log
from services.intake.search import flows
from services.intake.search.models import SimilarPage
from shared.access_log import seen_in
from shared.auth.deps import require_roles
from shared.auth.principal import Principal, Role
from shared.clock import utcnow
from shared.deps import Db
from shared.errors import Unprocessable
from shared.phones import InvalidPhone, parse_phone
from shared.privacy import sight
from shared.tenants import scope

router = APIRouter()

# Those who register: they ask while the caller is on the line.
_REGISTERS = (Role.AGENT, Role.DUTY_MANAGER, Role.SUPERVISOR)


@router.get("/complaints/similar", response_model=SimilarPage, tags=["complaints"])
def similar_complaints(
    request: Request,
    db: Db,
    principal: Annotated[Principal, require_roles(*_REGISTERS)],
    phone: Annotated[
        str | None, Query(max_length=40, description="The caller's phone, any spelling")
    ] = None,
    location: Annotated[
        str | None, Query(max_length=LOCATION_MAX, description="Where it happened (事发地点)")
    ] = None,
    description: Annotated[
        str | None, Query(max_length=5000, description="What the caller says, as typed so far")
    ] = None,
    days: Annotated[
        int | None,
        Query(ge=1, le=90, description="How far back to look (INTAKE_DUPLICATE_WINDOW_DAYS)"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
    tenant: Annotated[
        str | None,
        Query(description="The client it is being made to (GET /tenants): only its complaints"),
    ] = None,
) -> SimilarPage:
    """Earlier complaints the one being registered may repeat (重复件), most likely first,
    each with why: the same caller (their complaints of the window, and those still open),
    the same place with similar text, or very similar text from anyone; texts compared
    word by word after segmentation. Nothing is stored."""
    cfg = get_config()
    key = None
    if phone and phone.strip():
        try:
            key = parse_phone(phone, region=cfg.default_region).e164
        except InvalidPhone as exc:
            raise Unprocessable("phone", str(exc)) from None
    client = scope(principal, tenant)
    asked = flows.Asked(phone=key, location=location, description=description, tenant=client)
    if not (key or (location or "").strip() or (description or "").strip()):
        raise Unprocessable("description", "give the phone, the place or the text to compare")
    since = utcnow() - timedelta(days=days or cfg.duplicate_window_days)
    sees = sight(principal.role)
    with db.read() as session:
        found = flows.likely_duplicates(session, asked, since=since, sees=sees, limit=limit)
    if sees.phone:
        shown = [f.row for f in found if f.row.customer_phone]
        access_log.record(db, principal, request, seen_in((r.customer_key, r.id) for r in shown))
    return SimilarPage(items=[f.item for f in found], since=since)
