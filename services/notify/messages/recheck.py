"""Messages checked again as the sender takes them.

Customer SMS held for quiet hours, when their hour comes: a night can change what is
true. The customer may have opted out, the complaint may have been closed or reopened,
the satisfaction question may have been answered on the phone or overtaken by a newer
one. Such a message is cancelled, with the reason in the message log, and never sent.

Every message, against the countries the centre allows now: one stored before they
changed is refused rather than sent (limits.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from services.notify.config import NotifyConfig
from services.notify.messages import clients, service
from services.notify.messages.limits import COUNTRY_NOT_ALLOWED, country_allowed, log_refused
from shared.logs import mask_phone
from shared.vocabulary import Audience, State

log = logging.getLogger(__name__)

# What each customer message claims, to be checked against the complaint's state now.
_RECEIVED = frozenset({"customer_received", "customer_received_compliment"})


def stale(session: Session, row: Any, config: NotifyConfig) -> str | None:
    """Why a held customer message no longer holds, or None if it still does."""
    if service.opted_out(session, row.phone, clients.same_sender(row.tenant, config)):
        return "opted_out"
    contact = service.get_contact(session, row.complaint_id) if row.complaint_id else None
    if contact is None or contact.state is None:
        return None
    state = contact.state
    if row.template in _RECEIVED and state == State.CLOSED:
        return "complaint_closed"  # the closure SMS tells them, with the reference
    if row.template == "customer_replied":
        if state == State.CLOSED:
            return "complaint_closed"
        if state != State.REPLIED:
            return "complaint_reopened"
        if contact.answered_at is not None and contact.answered_at >= row.created_at:
            return "survey_answered"
        if service.superseded(session, row):
            return "superseded"
    if row.template == "customer_closed" and state != State.CLOSED:
        return "complaint_reopened"
    return None


def drop_stale(
    session: Session, rows: Sequence[Any], *, now: datetime, config: NotifyConfig
) -> list[Any]:
    """The claimed rows still to send; the others are cancelled or refused here, in the
    claim's transaction, so no sender ever has them."""
    kept = []
    for row in rows:
        if not country_allowed(row.phone, config):
            service.refuse(session, row.id, reason=COUNTRY_NOT_ALLOWED, now=now)
            log_refused(row.template, row.phone, COUNTRY_NOT_ALLOWED)
            continue
        held = row.status == "pending" and row.held_reason == "quiet_hours"
        reason = stale(session, row, config) if held and row.audience == Audience.CUSTOMER else None
        if reason is None:
            kept.append(row)
            continue
        service.cancel(session, row.id, reason=reason, now=now)
        log.info(
            "%s to %s held for quiet hours is cancelled: %s",
            row.template,
            mask_phone(row.phone),
            reason,
            extra={"phones_masked": True},
        )
    return kept
