"""Digests: a staff phone's notices held by the rate limit, merged. Each notice keeps its
line (reference, category, what it is, a few words), and a digest that holds notices to
acknowledge says how to answer one of them ("1 TS…"); when the lines do not fit in one
SMS, they go out in as many as they need, none left out. Urgent notices are never held.

A digest is one client's: a phone holding notices of two clients' complaints (a duty
manager at the centre's shared desk) gets a digest of each, signed by that client.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from services.notify.messages import service
from services.notify.messages.context import Context
from services.notify.messages.limits import Limits, log_refused
from services.notify.messages.notices import Notice
from services.notify.messages.planning import reading_language, render_row
from services.notify.rendering import Listed
from shared.logs import mask_phone
from shared.vocabulary import Audience

log = logging.getLogger(__name__)


def _separator(language: str) -> str:
    return "; " if language.lower().startswith("en") else "；"


def _fields(lines: Sequence[str], rows: Sequence[Any], total: int, language: str) -> dict[str, Any]:
    example = next((r.reference for r in rows if r.reply_kind == "ack" and r.reference), None)
    # One line alone is cut like any text if it must be; a list loses whole lines.
    items: object = lines[0] if len(lines) == 1 else Listed(tuple(lines), _separator(language))
    return {"count": total, "items": items, "ack_example": example}


def _packed(ctx: Context, tenant: str, language: str, held: Sequence[Any]) -> list[list[Any]]:
    """The held notices split into runs that each fit one digest SMS, in order."""
    lines = [m.digest_line or m.reference or m.body for m in held]
    limit = ctx.config.max_segments
    templates = ctx.templates_for(tenant)
    written_in, _ = templates.template("staff_digest", language)
    sign_name = ctx.signature(tenant, written_in)

    def fits(start: int, end: int, numbered: bool) -> bool:
        fields = _fields(lines[start:end], held[start:end], len(held), language)
        if numbered:  # the widest the numbers can be
            fields |= {"part": str(len(held)), "parts": str(len(held))}
        rendered = templates.render(
            "staff_digest", language, fields, max_segments=99, sign_name=sign_name
        )
        return rendered.segments <= limit

    if fits(0, len(held), numbered=False):
        return [list(held)]
    runs: list[list[Any]] = []
    start = 0
    while start < len(held):
        end = start + 1
        while end < len(held) and fits(start, end + 1, numbered=True):
            end += 1
        runs.append(list(held[start:end]))
        start = end
    return runs


def send_digests(session: Session, ctx: Context, *, now: datetime) -> list[str]:
    """Merge each phone's held notices of each client into digests once the oldest has
    waited a whole rate-limit window. Returns the ids of the digest messages."""
    window = timedelta(seconds=ctx.config.staff_rate_window_seconds)
    made = []
    limits = Limits(session, ctx.config, now=now)
    for phone, tenant in service.held_phones(session, before=now - window):
        held = service.held_for(session, phone, tenant)
        if not held:
            continue
        language = reading_language(ctx, phone, tenant)
        runs = _packed(ctx, tenant, language, held)
        first = held[0]
        for number, run in enumerate(runs, start=1):
            digest_id = str(uuid.uuid4())
            lines = [m.digest_line or m.reference or m.body for m in run]
            fields = _fields(lines, run, len(held), language)
            if len(runs) > 1:
                fields |= {"part": number, "parts": len(runs)}
            asks = any(m.reply_kind == "ack" for m in run)
            notice = Notice(
                template="staff_digest",
                phone=phone,
                audience=first.audience or Audience.DUTY_MANAGER,
                staff_id=first.staff_id,
                fields=fields,
                # A "1" to it is read against the notices it holds (replies.py).
                reply_kind="ack" if asks else None,
            )
            row = render_row(
                ctx,
                notice,
                tenant=tenant,
                now=now,
                event_id=None,
                event_type="notify.digest",
                dedupe_key=f"digest:{digest_id}",
            )
            row["id"] = digest_id
            # A digest is an SMS like any: over the day's cap it is refused, and the
            # notices it holds with it (the workbench's queue still shows them).
            if limits.apply(row):
                log_refused(row["template"], phone, row["refused_reason"])
            limits.count(row)
            service.add_messages(session, [row])
            service.mark_digested(session, [m.id for m in run], digest_id, now)
            made.append(digest_id)
        log.info(
            "digest of %d held notices to %s in %d SMS", len(held), mask_phone(phone), len(runs)
        )
    return made
