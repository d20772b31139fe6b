"""Delivery receipts from the provider: they move a message forward (`sms.delivered`,
`sms.failed`), never back."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from services.notify.messages import service
from services.notify.messages.context import Context
from services.notify.messages.outcomes import sms_event
from services.notify.providers.base import Receipt
from shared.contracts import SMS_DELIVERED, SMS_FAILED

log = logging.getLogger(__name__)


def record_receipts(
    session: Session, ctx: Context, provider: str, receipts: Sequence[Receipt], *, now: datetime
) -> int:
    """Apply delivery receipts; they only move a message forward, and a repeated one
    changes nothing. Returns how many moved a message."""
    moved = 0
    for receipt in receipts:
        # Most receipts move their message: one statement. One that does not is looked
        # at only to tell an unknown message (worth a warning) from an old receipt.
        row = service.advance_by_receipt(
            session,
            message_id=receipt.message_id,
            provider=provider,
            provider_message_id=receipt.provider_message_id,
            status=receipt.state,
            now=now,
            error=receipt.error or receipt.raw_status,
        )
        if row is None and receipt.message_id and receipt.provider_message_id:
            # Our id in the callback may be missing or stale: the provider's then.
            row = service.advance_by_receipt(
                session,
                message_id=None,
                provider=provider,
                provider_message_id=receipt.provider_message_id,
                status=receipt.state,
                now=now,
                error=receipt.error or receipt.raw_status,
            )
        if row is None:
            if not _known(session, provider, receipt):
                log.warning("receipt for a message we do not know: %s", receipt.provider_message_id)
            continue
        moved += 1
        if receipt.state == "delivered":
            ctx.outbox.add(session, sms_event(SMS_DELIVERED.name, row, now=now))
        elif receipt.state == "failed":
            event = sms_event(SMS_FAILED.name, row, now=now, error=receipt.error)
            ctx.outbox.add(session, event)
    return moved


def _known(session: Session, provider: str, receipt: Receipt) -> bool:
    row = service.get_message(session, receipt.message_id) if receipt.message_id else None
    if row is None and receipt.provider_message_id:
        row = service.get_by_provider_id(session, provider, receipt.provider_message_id)
    return row is not None and row.direction == "out"
