"""Digests: a staff phone's notices held by the rate limit, merged into one message."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from services.notify.messages import service
from services.notify.messages.context import Context
from services.notify.messages.notices import Notice
from services.notify.messages.planning import render_row
from shared.logs import mask_phone
from shared.vocabulary import Audience

log = logging.getLogger(__name__)


def send_digests(session: Session, ctx: Context, *, now: datetime) -> list[str]:
    """Merge each phone's held notices into one message once the oldest has waited a
    whole rate-limit window."""
    window = timedelta(seconds=ctx.config.staff_rate_window_seconds)
    made = []
    for phone in service.held_phones(session, before=now - window):
        held = service.held_for(session, phone)
        if not held:
            continue
        digest_id = str(uuid.uuid4())
        references = list(dict.fromkeys(m.reference for m in held if m.reference))
        first = held[0]
        notice = Notice(
            template="staff_digest",
            phone=phone,
            audience=first.audience or Audience.DUTY_MANAGER,
            staff_id=first.staff_id,
            fields={
                "count": len(held),
                "urgent_count": sum(1 for m in held if m.urgent),
                "references": ", ".join(references),
            },
        )
        row = render_row(
            ctx,
            notice,
            now=now,
            event_id=None,
            event_type="notify.digest",
            dedupe_key=f"digest:{digest_id}",
        )
        row["id"] = digest_id
        service.add_messages(session, [row])
        service.mark_digested(session, [m.id for m in held], digest_id, now)
        made.append(digest_id)
        log.info("digest of %d held notices to %s", len(held), mask_phone(phone))
    return made
