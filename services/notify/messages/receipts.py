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
from services.notify.messages.models import RANK
from services.notify.messages.outcomes import sms_event
from services.notify.providers.base import Receipt
from shared.contracts import SMS_DELIVERED, SMS_FAILED
from shared.events import Envelope

log = logging.getLogger(__name__)


def record_receipts(
    session: Session, ctx: Context, provider: str, receipts: Sequence[Receipt], *, now: datetime
) -> int:
    """Apply delivery receipts, however many calls brought them; they only move a
    message forward, and a repeated one changes nothing. Returns how many moved a
    message.

    The receipts naming our message id go one statement per status (and error), the
    lower status first (a `sent` and a `delivered` of one message arriving together end
    at `delivered` either way); those that moved nothing — a message still to learn its
    provider id, an old receipt — and those naming only the provider's id, one at a
    time. The events of all of them go in one insert."""
    moved = 0
    events: list[Envelope] = []
    rest: list[Receipt] = []
    together: dict[tuple[str, str | None, str | None], list[Receipt]] = {}
    for receipt in receipts:
        if receipt.message_id:
            # Failures with different reasons go in statements of their own: each sets its
            # reason on its messages.
            key: tuple[str, str | None, str | None] = (receipt.state, None, None)
            if receipt.state == "failed":
                key = (receipt.state, _last_error(receipt), receipt.error)
            together.setdefault(key, []).append(receipt)
        else:
            rest.append(receipt)
    for (state, last_error, error), group in sorted(
        together.items(), key=lambda item: RANK[item[0][0]]
    ):
        ids = list(dict.fromkeys(r.message_id for r in group if r.message_id))
        rows = service.advance_known(session, ids, status=state, now=now, error=last_error)
        moved += len(rows)
        events += _events(rows, state, error, now)
        done = {row.id for row in rows}
        rest += [r for r in group if r.message_id not in done]
    for receipt in rest:
        row = _one(session, provider, receipt, now)
        if row is not None:
            moved += 1
            events += _events([row], receipt.state, receipt.error, now)
    ctx.outbox.add_many(session, events)
    return moved


def _last_error(receipt: Receipt) -> str | None:
    """What a failed message keeps as its last error."""
    return receipt.error or receipt.raw_status


def _events(rows: Sequence[Any], state: str, error: str | None, now: datetime) -> list[Envelope]:
    if state == "delivered":
        return [sms_event(SMS_DELIVERED.name, row, now=now) for row in rows]
    if state == "failed":
        return [sms_event(SMS_FAILED.name, row, now=now, error=error) for row in rows]
    return []


def _one(session: Session, provider: str, receipt: Receipt, now: datetime) -> Any:
    """One receipt on its own: by our id (learning the provider's), else by the
    provider's. The message moved, or None."""
    row = service.advance_by_receipt(
        session,
        message_id=receipt.message_id,
        provider=provider,
        provider_message_id=receipt.provider_message_id,
        status=receipt.state,
        now=now,
        error=_last_error(receipt),
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
            error=_last_error(receipt),
        )
    if row is None and not _known(session, provider, receipt):
        log.warning("receipt for a message we do not know: %s", receipt.provider_message_id)
    return row


def _known(session: Session, provider: str, receipt: Receipt) -> bool:
    row = service.get_message(session, receipt.message_id) if receipt.message_id else None
    if row is None and receipt.provider_message_id:
        row = service.get_by_provider_id(session, provider, receipt.provider_message_id)
    return row is not None and row.direction == "out"
