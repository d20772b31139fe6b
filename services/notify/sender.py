"""The sender: takes stored messages that are due and hands them to the provider.

One pass claims a batch (a lease, so two senders never take the same message and a
message whose sender died is taken up again), calls the provider for each in parallel
outside any transaction, then records every outcome in one transaction with its
`sms.sent` / `sms.failed` event. A send whose answer was lost is looked up at the
provider before it is sent again, unless the provider recognises our message id. A
customer message held for quiet hours is checked again as it is claimed (recheck.py).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from services.notify.messages import clients, service
from services.notify.messages.context import Context
from services.notify.messages.digests import send_digests
from services.notify.messages.outcomes import Submission, failed, retry_later, submitted_many
from services.notify.messages.recheck import drop_stale
from services.notify.providers.base import (
    Outgoing,
    Provider,
    SendError,
    Submitted,
    TransientSendError,
    UncertainSendError,
)
from shared.clock import Clock, SystemClock
from shared.db import Database
from shared.loops import Backoff, Waiter, run_until_stopped

log = logging.getLogger(__name__)

# How far back a lookup searches the provider's records for an uncertain send.
LOOKUP_MARGIN = timedelta(minutes=5)
# The longest the sender sleeps with nothing due (see Sender._until_next_due).
IDLE_PASS = 10.0


@dataclass(frozen=True)
class Outcome:
    submitted: Submitted | None = None
    error: SendError | None = None
    attempted: bool = True  # False: settled by a lookup, no send was made


def wake_channel(db: Database) -> str:
    return f"sms_{db.schema or db.name}"


class Sender:
    def __init__(
        self,
        db: Database,
        ctx: Context,
        provider: Provider,
        *,
        client: httpx.Client | None = None,
        clock: Clock | None = None,
        digest_every: float = 5.0,
    ) -> None:
        self.db = db
        self.ctx = ctx
        self.provider = provider
        config = ctx.config
        self.client = client or httpx.Client(
            timeout=httpx.Timeout(config.http_timeout_seconds),
            limits=httpx.Limits(
                max_connections=config.send_concurrency,
                max_keepalive_connections=config.send_concurrency,
            ),
        )
        self.clock = clock or SystemClock()
        self.pool = ThreadPoolExecutor(config.send_concurrency, thread_name_prefix="sms-send")
        self.digest_every = digest_every
        self._last_digest = 0.0
        # Messages the last pass claimed for the next one, in the transaction that
        # recorded its own outcomes (one commit instead of two per pass).
        self._claimed: list[Any] = []
        self.sent = 0
        self.failed = 0

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.client.close()
        self._release()

    def _release(self) -> None:
        """Give back the messages claimed for a pass that will not run, so that another
        sender takes them now rather than when their lease runs out."""
        claimed, self._claimed = self._claimed, []
        if not claimed:
            return
        try:
            with self.db.transaction() as session:
                service.release(session, claimed, now=self.clock.now())
        except Exception as exc:  # their lease runs out, and they are taken up then
            log.warning("sender: could not release %d claimed messages: %s", len(claimed), exc)

    # -- one pass -----------------------------------------------------------------------

    def send_due(self) -> int:
        """Send every message due now, a batch at a time; returns how many were taken.

        The transaction recording a batch's outcomes also claims the next batch, so a
        busy sender commits once per batch."""
        config = self.ctx.config
        lease = timedelta(seconds=config.send_lease_seconds)
        rows, self._claimed = self._claimed, []
        if not rows:
            with self.db.transaction() as session:
                now = self.clock.now()
                rows = service.claim_due(session, now=now, limit=config.send_batch, lease=lease)
                rows = drop_stale(session, rows, now=now, config=config)
        if not rows:
            return 0
        # A phone's messages about one complaint go one after another, in the order they
        # were written (an acknowledgement before the question that follows it); other
        # complaints', and other phones', in parallel: a duty manager told of a hundred
        # complaints a minute gets them as fast as the provider takes them.
        in_line: dict[tuple[str, str | None], list[Any]] = {}
        for row in rows:
            in_line.setdefault((row.phone, row.complaint_id), []).append(row)
        results = self.pool.map(lambda mine: [self._attempt(r) for r in mine], in_line.values())
        outcomes = dict(
            zip(
                (r.id for mine in in_line.values() for r in mine),
                (o for done in results for o in done),
                strict=True,
            )
        )
        now = self.clock.now()
        with self.db.transaction() as session:
            done = []
            for row in rows:
                outcome = outcomes[row.id]
                attempts = row.attempts + (1 if outcome.attempted else 0)
                if outcome.submitted is None:
                    self._record_failure(session, row, outcome, attempts, now)
                    continue
                done.append(
                    Submission(
                        row,
                        outcome.submitted.provider_message_id,
                        outcome.submitted.state,
                        attempts,
                    )
                )
            submitted_many(session, self.ctx, done, provider=self.provider.name, now=now)
            following = service.claim_due(session, now=now, limit=config.send_batch, lease=lease)
            following = drop_stale(session, following, now=now, config=config)
        self.sent += len(done)
        self._claimed = following
        return len(rows)

    def _outgoing(self, row: Any) -> Outgoing:
        base = self.ctx.config.public_url.rstrip("/")
        callback = f"{base}/webhooks/sms/status?message_id={row.id}" if base else None
        # A client with a sender of its own texts from it; the others from the provider's.
        sender = clients.own_sender(row.tenant)
        return Outgoing(row.id, row.phone, row.body, row.encoding, callback, sender)

    def _attempt(self, row: Any) -> Outcome:
        message = self._outgoing(row)
        # `unknown`: the last answer was lost; `sending`: its sender died mid-call.
        if row.status in ("unknown", "sending") and not self.provider.idempotent:
            try:
                found = self.provider.lookup(self.client, message, row.created_at - LOOKUP_MARGIN)
            except SendError as exc:
                return Outcome(error=UncertainSendError(f"lookup failed: {exc}"), attempted=False)
            if found is not None:
                return Outcome(submitted=found, attempted=False)
        try:
            return Outcome(submitted=self.provider.send(self.client, message))
        except SendError as exc:
            return Outcome(error=exc)
        except Exception as exc:  # a bug or an unexpected answer: retried like a 5xx
            log.exception("unexpected error sending %s", row.id)
            return Outcome(error=TransientSendError(f"{type(exc).__name__}: {exc}"))

    def _record_failure(
        self, session: Any, row: Any, outcome: Outcome, attempts: int, now: datetime
    ) -> None:
        error = outcome.error
        assert error is not None
        if error.retry:
            uncertain = isinstance(error, UncertainSendError) and not self.provider.idempotent
            retry_later(
                session,
                self.ctx,
                row,
                error=str(error),
                attempts=attempts,
                uncertain=uncertain,
                now=now,
            )
            if attempts >= self.ctx.config.max_attempts:
                self.failed += 1
        else:
            failed(session, self.ctx, row, error=str(error), attempts=attempts, now=now)
            self.failed += 1

    def digests(self) -> int:
        if not self.ctx.config.staff_rate_limit:
            return 0
        with self.db.transaction() as session:
            return len(send_digests(session, self.ctx, now=self.clock.now()))

    # -- the loop -----------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        waiter = Waiter(
            self.db, wake_channel(self.db), name="sender", poll_seconds=0.05, failed_pause=0.2
        )
        log.info("sender started", extra={"provider": self.provider.name})
        try:
            run_until_stopped(
                lambda: self._pass_then_wait(waiter, stop),
                stop,
                Backoff("sender", first=0.2, ceiling=10.0),
            )
        finally:
            waiter.end()
            self.close()
            log.info("sender stopped", extra={"sent": self.sent, "failed": self.failed})

    def _pass_then_wait(self, waiter: Waiter, stop: threading.Event) -> None:
        taken = self.send_due()
        if time.monotonic() - self._last_digest >= self.digest_every:
            self._last_digest = time.monotonic()
            self.digests()
        if taken >= self.ctx.config.send_batch or self._claimed:
            return
        waiter.wait(stop, self._until_next_due)

    def _until_next_due(self) -> float:
        """How long to sleep: until the next waiting message falls due, at most
        `IDLE_PASS` seconds. A message written meanwhile wakes the sender at once (its
        commit notifies); the pass every `IDLE_PASS` seconds takes up a message whose
        sender died mid-send once its lease is over."""
        try:
            with self.db.read() as session:
                due = service.next_due(session)
        except Exception:
            return 1.0
        if due is None:
            return IDLE_PASS
        return max(0.0, min(IDLE_PASS, (due - self.clock.now()).total_seconds()))
