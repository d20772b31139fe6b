"""Delivery receipts from the provider: they move a message forward (`sms.delivered`,
`sms.failed`), never back."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

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
        row = None
        if receipt.message_id:
            row = service.get_message(session, receipt.message_id, for_update=True)
        if row is None and receipt.provider_message_id:
            row = service.get_by_provider_id(
                session, provider, receipt.provider_message_id, for_update=True
            )
        if row is None or row.direction != "out":
            log.warning("receipt for a message we do not know: %s", receipt.provider_message_id)
            continue
        values: dict[str, Any] = {"updated_at": now}
        if row.provider_message_id is None and receipt.provider_message_id:
            values.update(provider=provider, provider_message_id=receipt.provider_message_id)
        final = receipt.state in ("delivered", "failed")
        if final:
            values["finished_at"] = now
        if receipt.state == "failed":
            values["last_error"] = receipt.error or receipt.raw_status
        if not service.advance(session, row.id, receipt.state, **values):
            continue
        moved += 1
        row = service.get_message(session, row.id)
        if receipt.state == "delivered":
            ctx.outbox.add(session, sms_event(SMS_DELIVERED.name, row, now=now))
        elif receipt.state == "failed":
            event = sms_event(SMS_FAILED.name, row, now=now, error=receipt.error)
            ctx.outbox.add(session, event)
    return moved
