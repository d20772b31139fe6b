"""A send's outcome, as the sender records it: taken by the provider (`sms.sent`), to be
tried again after a backoff, or failed for good (`sms.failed` and a dead-letter record).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from services.notify.config import NotifyConfig
from services.notify.messages import service
from services.notify.messages.context import SOURCE, Context
from shared.contracts import SMS_FAILED, SMS_SENT, SmsEvent
from shared.events import SYSTEM, Envelope, registry
from shared.logs import mask_phone
from shared.topics import SMS_EVENTS, dlq

log = logging.getLogger(__name__)


def backoff(attempt: int, config: NotifyConfig) -> timedelta:
    """Exponential backoff with jitter: a random wait between half and all of
    base·2^(attempt-1), capped, so retries of many messages spread out but still grow."""
    ceiling = min(config.retry_max_seconds, config.retry_base_seconds * 2 ** (attempt - 1))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))


def sms_event(name: str, row: Any, *, now: datetime, **fields: Any) -> Envelope:
    """The `sms.*` event about a message row, the row's client's; `fields` add to or
    override the row's."""
    payload = SmsEvent(
        message_id=row.id,
        phone=row.phone,
        complaint_id=row.complaint_id,
        template=row.template,
        segments=row.segments,
        provider=fields.pop("provider", row.provider),
        provider_message_id=fields.pop("provider_message_id", row.provider_message_id),
        at=now,
        **fields,
    )
    return registry.new(
        name,
        payload,
        source=SOURCE,
        tenant=row.tenant,
        actor=SYSTEM,
        complaint_id=row.complaint_id,
        occurred_at=now,
    )


@dataclass(frozen=True)
class Submission:
    """A message the provider took: under which id, in which state, after how many tries."""

    row: Any
    provider_message_id: str
    state: str
    attempts: int


def submitted(
    session: Session,
    ctx: Context,
    row: Any,
    *,
    provider: str,
    provider_message_id: str,
    state: str,
    attempts: int,
    now: datetime,
) -> None:
    """The provider took the message: record its id and announce `sms.sent`."""
    submitted_many(
        session,
        ctx,
        [Submission(row, provider_message_id, state, attempts)],
        provider=provider,
        now=now,
    )


def submitted_many(
    session: Session,
    ctx: Context,
    submissions: Sequence[Submission],
    *,
    provider: str,
    now: datetime,
) -> None:
    """`submitted` for a sender's whole pass: two statements, whatever the number."""
    if not submissions:
        return
    service.mark_submitted(
        session,
        [
            {
                "id": s.row.id,
                "state": s.state,
                "provider_message_id": s.provider_message_id,
                "attempts": s.attempts,
            }
            for s in submissions
        ],
        provider=provider,
        now=now,
    )
    ctx.outbox.add_many(
        session,
        [
            sms_event(
                SMS_SENT.name,
                s.row,
                now=now,
                provider=provider,
                provider_message_id=s.provider_message_id,
            )
            for s in submissions
        ],
    )


def retry_later(
    session: Session,
    ctx: Context,
    row: Any,
    *,
    error: str,
    attempts: int,
    uncertain: bool,
    now: datetime,
) -> None:
    """A transient failure: try again after a backoff, or give up after the last attempt.
    An uncertain send is looked up at the provider before it is sent again."""
    if attempts >= ctx.config.max_attempts:
        failed(
            session,
            ctx,
            row,
            error=f"gave up after {attempts} attempts: {error}",
            attempts=attempts,
            now=now,
        )
        return
    wait = backoff(attempts, ctx.config)
    service.update_message(
        session,
        row.id,
        status="unknown" if uncertain else "pending",
        attempts=attempts,
        due_at=now + wait,
        lease_until=None,
        last_error=error[:2000],
        updated_at=now,
    )
    log.warning(
        "%s to %s failed (attempt %d): %s; again in %.1fs",
        row.template,
        mask_phone(row.phone),
        attempts,
        error,
        wait.total_seconds(),
        extra={"phones_masked": True},
    )


def failed(
    session: Session, ctx: Context, row: Any, *, error: str, attempts: int, now: datetime
) -> None:
    """No more attempts: the message fails, `sms.failed` goes out and a dead-letter record
    keeps it for a person to look at."""
    service.update_message(
        session,
        row.id,
        status="failed",
        attempts=attempts,
        lease_until=None,
        last_error=error[:2000],
        finished_at=now,
        updated_at=now,
    )
    event = sms_event(SMS_FAILED.name, row, now=now, error=error[:500])
    ctx.outbox.add(session, event)
    dead = registry.new(
        SMS_FAILED.name,
        SmsEvent.model_validate(event.payload),
        source=SOURCE,
        tenant=row.tenant,
        actor=SYSTEM,
        complaint_id=row.complaint_id,
        correlation_id=event.correlation_id,
        causation_id=str(event.event_id),
        occurred_at=now,
    )
    (record,) = ctx.outbox.rows([dead], topic=dlq(SMS_EVENTS))
    record["headers"] += [
        ["dlq.reason", error[:2000]],
        ["dlq.error_class", "send"],
        ["dlq.consumer", SOURCE],
        ["dlq.message_id", row.id],
        ["dlq.failed_at", now.isoformat()],
    ]
    session.execute(ctx.outbox.table.insert(), [record])
    log.error(
        "%s to %s failed for good: %s",
        row.template,
        mask_phone(row.phone),
        error,
        extra={"phones_masked": True},
    )
