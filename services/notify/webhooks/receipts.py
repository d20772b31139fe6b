"""Delivery receipts recorded together: the provider calls once per status of every SMS
(four calls for a complaint's two messages), many at once when traffic is high. Each
call waits until its receipts are committed before it is answered, so a receipt the
provider was told we have is in the database; but the calls that arrive while a
transaction is being written go together in the next one — one thread hand-off, one
transaction and one statement per status for all of them, instead of one each. With one
call at a time, each has its own transaction at once, as before (nothing waits for
company).

Should the shared transaction fail, each call's receipts are written again on their own,
so one call's bad receipt fails that call only (the provider retries it) and the others
are answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import anyio.to_thread

from services.notify.messages.context import Context
from services.notify.messages.receipts import record_receipts
from services.notify.providers.base import Receipt
from shared.clock import utcnow
from shared.db import Database

log = logging.getLogger(__name__)


@dataclass
class _Call:
    receipts: Sequence[Receipt]
    answer: asyncio.Future[None]


class ReceiptLine:
    def __init__(self, db: Database, ctx: Context, provider: str, *, most: int = 500) -> None:
        self.db = db
        self.ctx = ctx
        self.provider = provider
        # The most calls one transaction takes.
        self.most = most
        self._waiting: list[_Call] = []
        self._writing = False
        # Transactions written, and the calls they answered (for tests and metrics).
        self.transactions = 0
        self.calls = 0

    async def record(self, receipts: Sequence[Receipt]) -> None:
        """Return once `receipts` are committed; raise what recording them raised."""
        call = _Call(receipts, asyncio.get_running_loop().create_future())
        self._waiting.append(call)
        if not self._writing:
            self._writing = True
            asyncio.get_running_loop().create_task(self._write_all())
        await call.answer

    async def _write_all(self) -> None:
        try:
            while self._waiting:
                batch, self._waiting = self._waiting[: self.most], self._waiting[self.most :]
                outcomes = await anyio.to_thread.run_sync(self._write, batch)
                for call, outcome in zip(batch, outcomes, strict=True):
                    if call.answer.done():  # the caller hung up; its receipts stand
                        continue
                    if outcome is None:
                        call.answer.set_result(None)
                    else:
                        call.answer.set_exception(outcome)
        except BaseException as exc:  # the loop is closing: nobody is left answered
            for call in self._waiting:
                if not call.answer.done():
                    call.answer.set_exception(exc)
            raise
        finally:
            self._writing = False

    def _write(self, batch: Sequence[_Call]) -> list[BaseException | None]:
        """In a worker thread: every call's receipts in one transaction, else each on
        its own. Per call: None (committed) or what failed it."""
        self.transactions += 1
        self.calls += len(batch)
        try:
            self._commit([r for call in batch for r in call.receipts])
            return [None] * len(batch)
        except Exception as exc:
            if len(batch) == 1:
                return [exc]
            log.warning(
                "recording %d calls' receipts together failed (%s); one by one", len(batch), exc
            )
        return [self._alone(call.receipts) for call in batch]

    def _alone(self, receipts: Sequence[Receipt]) -> BaseException | None:
        try:
            self._commit(receipts)
            return None
        except Exception as exc:
            return exc

    def _commit(self, receipts: Sequence[Receipt]) -> None:
        with self.db.transaction() as session:
            record_receipts(session, self.ctx, self.provider, receipts, now=utcnow())
