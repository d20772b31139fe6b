"""The consumer loop every service runs in its own worker process.

For each record: decode it (or dead-letter it with the reason), then, in one database
transaction, claim its event id in the inbox and run the handler. Offsets are committed
to Kafka only after that transaction has committed, so a crash in between means the
event comes again and the inbox turns it away: each event has its effect exactly once.

Offsets are committed at most every `commit_interval_ms` (and when the loop stops), not
after every poll: a crash or a rebalance then redelivers a little more, which the inbox
turns away, and a busy consumer does not wait on the broker after every poll.

The records of one poll share that transaction (up to `transaction_size` of them): one
commit, one flush of the database's log, for many events instead of one each, which is
what a consumer keeping up with a busy topic needs. Should one handler fail, the whole
transaction is rolled back and the records are handled again one transaction each, so
the failing one is retried and dead-lettered on its own and the others take effect.
Within it, the events the handlers announce wait and go to the outbox in one insert
(`shared.outbox.defer_writes`), and a handler that can take several events at once
(`Together`: analytics' projection) is given the batch's consecutive events together.

A record that cannot be decoded, or whose handler keeps failing, goes to `<topic>.dlq`
with the reason in its headers, and the loop moves on: one bad record never blocks a
partition. A database that is down is different: that is retried until it comes back,
since every other record would fail the same way.

Each topic has one writer (shared/topics.py), so an event is taken only from the topic
its type is registered on, and only when its envelope names that topic's owner as its
`source`. Anything else — a known type on another service's topic, a wrong `source` — is
dead-lettered (error class `ownership`) before any database work, whatever the consumer's
handlers: the fast skip of a type this service has no handler for applies only to types
that belong on the topic. Passed over instead, without a dead letter, are the records an
installation's split of the topics left behind on complaints.lifecycle
(`shared.topics.Cutover`): their copies on their owner's topic are the ones read.

A handler may find that its event depends on another that a different topic brings and
that has not been read yet (notify hears of a complaint's assignment before its
registration: two topics, no order between them). It raises `NotYet`: the consumer holds
that partition back — rolled back, not dead-lettered — and keeps reading the others until
it has read the topic named as far as it reached at that moment, since what caused the
event was written there before it. Then the event is handled again, and this time the
handler is told not to wait (`may_wait()`), so a cause that never comes delays it once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

from shared.db import Database, is_transient
from shared.events import Envelope, Event, EventDecodeError, EventRegistry
from shared.events import registry as default_registry
from shared.inbox import claim, claim_each
from shared.kafka import client_config
from shared.logs import correlation
from shared.loops import Backoff, Fatal, Stopped, retry, run_until_stopped
from shared.outbox import defer_writes, write_deferred
from shared.settings import Settings
from shared.tenants import tenants
from shared.topics import TOPIC_OWNERS, Cutover, dlq, read_cutovers

log = logging.getLogger(__name__)

Handler = Callable[[Session, Event[Any]], None]
AfterCommit = Callable[[Any, Event[Any]], None]
ManyHandler = Callable[[Session, Sequence[Event[Any]]], None]


@dataclass(frozen=True)
class Together:
    """A handler that can also take several events in one go: `one` for an event on its
    own, `many` for a run of events in the same transaction, with the effect `one` would
    have on each in turn (one read and a few writes for the lot instead of some per
    event). The consumer gives consecutive events of a batch whose handlers share `many`
    to it at once; should `many` raise, the batch is rolled back and each event is handled
    again on its own by `one`, as any failed batch is. A `many` never waits for a cause
    (`NotYet`)."""

    one: Handler
    many: ManyHandler

    def __call__(self, session: Session, event: Event[Any]) -> None:
        self.one(session, event)


@dataclass
class ConsumerStats:
    handled: int = 0
    duplicates: int = 0
    skipped: int = 0
    dead_lettered: int = 0
    # Of those dead-lettered: events not from their type's topic, or not from its owner.
    refused: int = 0
    # Records of the topics' split passed over (their copies are read elsewhere).
    left_behind: int = 0
    # Times a partition was held back for an event's cause (NotYet).
    waited: int = 0


class Refused(Exception):
    """A handler's word that an event is not to be believed (it names a client other
    than the one its complaint belongs to, say): dead-lettered at once with the reason,
    never retried, nothing applied."""

    error_class = "refused"

    def __init__(self, reason: str, *, error_class: str = "refused") -> None:
        super().__init__(reason)
        self.error_class = error_class


class NotYet(Exception):
    """The event depends on one that `topic` (a platform topic name) brings and that this
    consumer has not read yet: hold the partition back until it has."""

    def __init__(self, what: str, *, topic: str) -> None:
        super().__init__(what)
        self.topic = topic


_may_wait: ContextVar[bool] = ContextVar("may_wait", default=False)


def may_wait() -> bool:
    """Whether a handler may raise NotYet now: only under a consumer that can hold the
    partition back, and not for an event that waited once already."""
    return _may_wait.get()


@contextlib.contextmanager
def _waiting(allowed: bool) -> Iterator[None]:
    token = _may_wait.set(allowed)
    try:
        yield
    finally:
        _may_wait.reset(token)


def ownership_problem(
    envelope: Envelope,
    topic: str,
    *,
    registry: EventRegistry = default_registry,
    owners: Mapping[str, str] = TOPIC_OWNERS,
) -> str | None:
    """Why an event read from `topic` (a platform topic name) is not to be believed, or
    None: its type belongs on another topic, or its `source` is not the topic's owner."""
    owner = owners.get(topic)
    home = registry.get(envelope.type).topic
    if home != topic:
        return (
            f"'{envelope.type}' on {topic}, which only {owner or 'nobody'} writes: it is "
            f"{owners.get(home, 'nobody')}'s event and belongs on {home}"
        )
    if envelope.source != owner:
        return (
            f"'{envelope.type}' on {topic} says it comes from {envelope.source!r}; "
            f"only {owner or 'nobody'} writes {topic}"
        )
    return None


@dataclass
class _Held:
    """A partition held back at `offset` until the consumer has read `until`."""

    offset: int
    until: dict[Any, int] = field(default_factory=dict)
    deadline: float = 0.0


class EventConsumer:
    def __init__(
        self,
        *,
        name: str,
        topics: Sequence[str],
        db: Database,
        inbox: Table,
        handlers: Mapping[str, Handler],
        settings: Settings,
        producer: Any,
        registry: EventRegistry = default_registry,
        group_id: str | None = None,
        max_attempts: int = 3,
        after_commit: AfterCommit | None = None,
        poll_timeout_ms: int = 3000,
        fetch_max_wait_ms: int = 5000,
        max_poll_records: int = 200,
        auto_offset_reset: str = "earliest",
        transaction_size: int = 100,
        commit_interval_ms: int = 1000,
        stand_for: Mapping[str, str] | None = None,
        owners: Mapping[str, str] = TOPIC_OWNERS,
        cutovers: Callable[[], Mapping[str, Cutover]] | None = None,
        max_wait_seconds: float = 60.0,
    ) -> None:
        self.name = name
        self.topics = list(topics)
        # The platform topic each subscribed topic carries, where they differ (tests and
        # benchmarks run on topics of their own).
        self.stand_for = dict(stand_for or {})
        self.owners = dict(owners)
        unowned = [t for t in self.topics if self._platform_topic(t) not in self.owners]
        if unowned:
            raise ValueError(
                f"{name}: no owner known for {', '.join(unowned)}; a consumer takes events "
                "only from a topic whose writer it knows"
            )
        self.db = db
        self.inbox = inbox
        self.handlers = dict(handlers)
        self.settings = settings
        self.producer = producer
        self.registry = registry
        self.group_id = group_id or name
        self.max_attempts = max_attempts
        self.after_commit = after_commit
        # An idle consumer wakes once per `poll_timeout_ms` (to see whether it is told
        # to stop, and to commit), and the broker holds each fetch up to
        # `fetch_max_wait_ms` until a record comes: a record is still read as soon as it
        # is written, and a platform with nothing to do costs next to nothing (each of
        # the two halves an idle consumer's cost against 1 s and 2 s). The price: a
        # worker takes up to `poll_timeout_ms` to stop, and a partition released after
        # waiting for its cause (`NotYet`) in a quiet moment may wait for the fetch in
        # flight to its broker, up to `fetch_max_wait_ms`.
        self.poll_timeout_ms = poll_timeout_ms
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.max_poll_records = max_poll_records
        self.auto_offset_reset = auto_offset_reset
        # Records handled in one database transaction; 1: a transaction per record.
        self.transaction_size = max(1, transaction_size)
        self.commit_interval = commit_interval_ms / 1000
        self.stats = ConsumerStats()
        self._read_cutovers = cutovers or (lambda: read_cutovers(self.settings))
        # Read the first time a record needs it: an installation is split before its
        # workers of the new version start, so once is enough.
        self._cutovers: Mapping[str, Cutover] | None = None
        self.max_wait = max_wait_seconds
        self._held: dict[Any, _Held] = {}
        # Per partition, the offset of the record that has waited once (NotYet).
        self._waited: dict[Any, int] = {}
        self._consumer: Any = None
        # Offsets handled (their transaction committed) but not yet committed to Kafka.
        self._uncommitted: dict[Any, Any] = {}
        self._committed_at = 0.0

    def _create(self) -> Any:
        from kafka import KafkaConsumer

        consumer = KafkaConsumer(
            *self.topics,
            **client_config(self.settings),
            group_id=self.group_id,
            client_id=f"{self.name}-consumer",
            enable_auto_commit=False,
            auto_offset_reset=self.auto_offset_reset,
            max_poll_records=self.max_poll_records,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            request_timeout_ms=max(self.settings.kafka_request_timeout_ms, 31_000),
            reconnect_backoff_max_ms=2000,
        )
        # Know the topics' partitions before the first poll joins the group. A group
        # joined without them is assigned nothing; the rejoin that follows once they are
        # known is lost by kafka-python when it outlasts that poll's timeout, leaving the
        # consumer idle until the next metadata refresh (five minutes).
        for topic in self.topics:
            try:
                consumer.partitions_for_topic(topic)
            except Exception as exc:  # the broker may not be up yet: the group copes later
                log.warning("no metadata for %s yet: %s", topic, exc)
                break
        return consumer

    # -- the loop ---------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        self._consumer = consumer = self._create()
        log.info("consumer %s started on %s", self.group_id, ", ".join(self.topics))
        try:
            run_until_stopped(
                lambda: self._next_batch(consumer, stop),
                stop,
                Backoff(f"consumer {self.group_id}", first=0.2, ceiling=10.0),
            )
        finally:
            self._flush_offsets(consumer)
            try:
                consumer.close(autocommit=False)
            except Exception as exc:
                log.warning("consumer close failed: %s", exc)
            log.info("consumer %s stopped (%s)", self.group_id, self.stats)

    def _next_batch(self, consumer: Any, stop: threading.Event) -> None:
        """Poll until records come (committing offsets when due meanwhile), then handle
        them; what fails is polled again from the first record not handled."""
        batch = None
        while not batch:
            if stop.is_set():
                return
            if self._held:
                self._release_held(consumer)
            try:
                batch = consumer.poll(timeout_ms=self.poll_timeout_ms)
            except Exception as exc:
                # Not retried: the client rides out a broker outage by itself, so an
                # error here is the consumer's own; the worker stops, and its supervisor
                # starts a fresh one.
                raise Fatal(f"consumer {self.group_id}: poll failed: {exc}") from exc
            if not batch and self._uncommitted and self._commit_due():
                self._flush_offsets(consumer)
        try:
            self.process_batch(consumer, batch, stop)
        except Stopped:
            return  # told to stop: the loop ends with what was handled
        if self._commit_due():
            self._flush_offsets(consumer)

    def _commit_due(self) -> bool:
        return time.monotonic() - self._committed_at >= self.commit_interval

    def process_batch(
        self, consumer: Any, batch: Mapping[Any, list[Any]], stop: threading.Event
    ) -> None:
        """Handle a polled batch; note the offsets handled; rewind what was not."""
        from kafka.structs import OffsetAndMetadata

        self._consumer = consumer
        done: dict[Any, Any] = {}
        pending = {tp: records[0].offset for tp, records in batch.items() if records}
        # Partitions one after another, each in its order; a partition's records may
        # share a transaction with another's, which orders nothing between them.
        queue = [(tp, record) for tp, records in batch.items() for record in records]
        try:
            for start in range(0, len(queue), self.transaction_size):
                # A partition held back stops at its held record: the rest comes again.
                chunk = [
                    (tp, r)
                    for tp, r in queue[start : start + self.transaction_size]
                    if tp not in self._held
                ]
                self._process_many([record for _, record in chunk], stop)
                for tp, record in chunk:
                    held = self._held.get(tp)
                    if held is not None and record.offset >= held.offset:
                        pending[tp] = held.offset
                        continue
                    done[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
                    pending[tp] = record.offset + 1
        finally:
            self._uncommitted.update(done)
            # The consumer's position is already past the whole batch: go back to the
            # first record not handled, or it would be skipped.
            for tp, offset in pending.items():
                last = batch[tp][-1].offset
                if offset <= last:
                    consumer.seek(tp, offset)

    def _flush_offsets(self, consumer: Any) -> None:
        """Commit the offsets of what was handled since the last commit."""
        self._committed_at = time.monotonic()
        offsets, self._uncommitted = self._uncommitted, {}
        if offsets:
            # Partitions a rebalance gave to another consumer are its to commit now.
            try:
                assigned = consumer.assignment()
            except Exception:  # a consumer being closed: commit what there is
                assigned = None
            if assigned is not None:
                offsets = {tp: o for tp, o in offsets.items() if tp in assigned}
        if not offsets:
            return
        try:
            consumer.commit(offsets=offsets)
        except Exception as exc:
            # A rebalance took the partition away; the new owner gets the records again
            # and the inbox turns the handled ones away.
            log.warning("offset commit failed (%s); handled events may be redelivered", exc)

    # -- one record ---------------------------------------------------------------------

    def _process(self, record: Any, stop: threading.Event) -> None:
        work = self._prepare(record)
        if work is not None:
            self._handle(record, *work, stop)

    def _platform_topic(self, topic: str) -> str:
        return self.stand_for.get(topic, topic)

    def _prepare(self, record: Any) -> tuple[Event[Any], Handler] | None:
        """The event and its handler; None when the record is skipped or dead-lettered."""
        topic = self._platform_topic(record.topic)
        declared = _header(record, "event_type")
        if (
            declared
            and declared not in self.handlers
            and declared in self.registry
            and self.registry.get(declared).topic == topic
        ):
            # An event of this topic this service has no business with: skip it unread.
            self.stats.skipped += 1
            return None
        try:
            event = self.registry.decode(record.value)
        except EventDecodeError as exc:
            self.dead_letter(record, reason=str(exc), error_class="decode")
            return None
        problem = ownership_problem(
            event.envelope, topic, registry=self.registry, owners=self.owners
        )
        if problem is not None:
            if self._left_behind(record, event.type):
                self.stats.left_behind += 1
                return None
            self.stats.refused += 1
            self.dead_letter(record, reason=problem, error_class="ownership")
            return None
        if tenants().get(event.envelope.tenant) is None:
            # A client this centre does not answer for: nobody's read model takes it in.
            self.stats.refused += 1
            self.dead_letter(
                record,
                reason=f"'{event.type}' names client '{event.envelope.tenant}', which this "
                f"centre does not serve (TENANTS_FILE lists {', '.join(tenants().ids)})",
                error_class="tenant",
            )
            return None
        handler = self.handlers.get(event.type)
        if handler is None:
            self.stats.skipped += 1  # a valid event this service has no business with
            return None
        return event, handler

    def _left_behind(self, record: Any, event_type: str) -> bool:
        """Whether the record is one the topics' split copied to its owner's topic."""
        if self._cutovers is None:
            self._cutovers = self._read_cutovers()
        cutover = self._cutovers.get(record.topic)
        return cutover is not None and cutover.left_behind(
            record.partition, record.offset, event_type
        )

    def _handle(
        self, record: Any, event: Event[Any], handler: Handler, stop: threading.Event
    ) -> None:
        """One event in a transaction of its own: retried, then dead-lettered."""
        envelope = event.envelope
        with correlation(envelope.correlation_id, str(envelope.event_id)):
            attempt = 0
            outage = _database_outage()
            while True:
                try:
                    first_time = retry(
                        lambda: self._handle_once(handler, record, event),
                        stop,
                        outage,
                        retry_if=is_transient,
                    )
                    break
                except Stopped:
                    raise
                except NotYet as exc:
                    self._hold(record, exc)
                    return
                except Refused as exc:
                    self.stats.refused += 1
                    self.dead_letter(record, reason=str(exc), error_class=exc.error_class)
                    return
                except Exception as exc:
                    attempt += 1
                    if attempt < self.max_attempts:
                        log.warning(
                            "handler for %s failed (attempt %d): %s", event.type, attempt, exc
                        )
                        time.sleep(0.05 * attempt)
                        continue
                    log.error("handler for %s failed %d times; dead-lettering", event.type, attempt)
                    self.dead_letter(
                        record,
                        reason=f"handler failed {attempt} times: {type(exc).__name__}: {exc}",
                        error_class="handler",
                        trace="".join(traceback.format_exception(exc))[-4000:],
                    )
                    return
            self._handled(record, event, first_time)

    def _handled(self, record: Any, event: Event[Any], first_time: bool) -> None:
        if first_time:
            self.stats.handled += 1
            if self.after_commit is not None:
                self.after_commit(record, event)
        else:
            self.stats.duplicates += 1
            log.info("event %s already handled; skipped", event.envelope.event_id)

    def _handle_once(self, handler: Handler, record: Any, event: Event[Any]) -> bool:
        with self.db.transaction() as session:
            defer_writes(session)
            if not claim(
                session,
                self.inbox,
                consumer=self.name,
                envelope=event.envelope,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
            ):
                return False
            with _waiting(self._may_wait(record)):
                handler(session, event)
            write_deferred(session)
            return True

    # -- several records, one transaction ---------------------------------------------

    def _process_many(self, records: Sequence[Any], stop: threading.Event) -> None:
        work = [
            (record, *prepared)
            for record in records
            if (prepared := self._prepare(record)) is not None
        ]
        if len(work) == 1:
            self._handle(*work[0], stop)
        if len(work) <= 1:
            return
        try:
            results = self._handle_together(work, stop)
        except Stopped:
            raise
        except Exception as exc:
            # Find the culprit (or the event that waits): each record on its own, retried
            # and dead-lettered alone; a partition held back handles nothing further.
            if not isinstance(exc, (NotYet, Refused)):  # those are logged as handled
                log.warning(
                    "a batch of %d events failed (%s: %s); handling them one by one",
                    len(work),
                    type(exc).__name__,
                    exc,
                )
            for record, event, handler in work:
                if _partition(record) not in self._held:
                    self._handle(record, event, handler, stop)
            return
        for (record, event, _), first_time in zip(work, results, strict=True):
            with correlation(event.envelope.correlation_id, str(event.envelope.event_id)):
                self._handled(record, event, first_time)

    def _handle_together(
        self, work: Sequence[tuple[Any, Event[Any], Handler]], stop: threading.Event
    ) -> list[bool]:
        """Every event of `work` in one transaction, a database outage waited out;
        whether each was handled for the first time. Raises what a handler raised."""
        return retry(
            lambda: self._handle_all_once(work), stop, _database_outage(), retry_if=is_transient
        )

    def _handle_all_once(self, work: Sequence[tuple[Any, Event[Any], Handler]]) -> list[bool]:
        with self.db.transaction() as session:
            # The events the handlers announce go in one insert at the end.
            defer_writes(session)
            firsts = claim_each(
                session,
                self.inbox,
                consumer=self.name,
                claims=[
                    (event.envelope, record.topic, record.partition, record.offset)
                    for record, event, _ in work
                ],
            )
            # Consecutive events for the same `many`, given to it together.
            run: tuple[ManyHandler, list[Event[Any]]] | None = None
            for (record, event, handler), first_time in zip(work, firsts, strict=True):
                if not first_time:  # a second copy in the same batch is a duplicate
                    continue
                many = handler.many if isinstance(handler, Together) else None
                if run is not None and many is not run[0]:
                    _handle_run(session, *run)
                    run = None
                if many is not None:
                    run = run or (many, [])
                    run[1].append(event)
                    continue
                event_id = str(event.envelope.event_id)
                with (
                    correlation(event.envelope.correlation_id, event_id),
                    _waiting(self._may_wait(record)),
                ):
                    handler(session, event)
            if run is not None:
                _handle_run(session, *run)
            write_deferred(session)
        return firsts

    # -- an event that waits for its cause ----------------------------------------------

    def _may_wait(self, record: Any) -> bool:
        return self._consumer is not None and self._waited.get(_partition(record)) != record.offset

    def _hold(self, record: Any, exc: NotYet) -> None:
        """Hold the record's partition back until this consumer has read the topic that
        brings the event's cause as far as that topic reaches now."""
        consumer = self._consumer
        tp = _partition(record)
        sources = {t for t in self.topics if self._platform_topic(t) == exc.topic}
        parts = [p for p in consumer.assignment() if p.topic in sources and p != tp]
        until = dict(consumer.end_offsets(parts)) if parts else {}
        consumer.pause(tp)
        self._held[tp] = _Held(record.offset, until, time.monotonic() + self.max_wait)
        self.stats.waited += 1
        log.info(
            "%s[%d]@%d waits until %s is read: %s",
            record.topic,
            record.partition,
            record.offset,
            exc.topic,
            exc,
        )

    def _release_held(self, consumer: Any) -> None:
        """Resume each held partition whose wait is over: the cause's topic read as far
        as it reached, or `max_wait` passed."""
        assigned = consumer.assignment()
        paused = consumer.paused()
        for tp, held in list(self._held.items()):
            if tp not in assigned or tp not in paused:
                # A rebalance: whoever has the partition now reads the record afresh.
                del self._held[tp]
                _forget_parked(consumer, tp)  # should it come back to this consumer
                continue
            read = all(
                consumer.position(p) >= end for p, end in held.until.items() if p in assigned
            )
            if read or time.monotonic() >= held.deadline:
                del self._held[tp]
                self._waited[tp] = held.offset
                consumer.resume(tp)
                _forget_parked(consumer, tp)

    def dead_letter(
        self, record: Any, *, reason: str, error_class: str, trace: str | None = None
    ) -> None:
        """Publish the record, untouched, to `<topic>.dlq` with why it is there."""
        headers = list(record.headers or [])
        headers += [
            ("dlq.reason", reason[:4000].encode("utf-8", "replace")),
            ("dlq.error_class", error_class.encode()),
            ("dlq.original_topic", record.topic.encode()),
            ("dlq.original_partition", str(record.partition).encode()),
            ("dlq.original_offset", str(record.offset).encode()),
            ("dlq.consumer", self.name.encode()),
            ("dlq.failed_at", datetime.now(UTC).isoformat().encode()),
        ]
        if trace:
            headers.append(("dlq.trace", trace.encode("utf-8", "replace")))
        # Must be on the DLQ before the offset moves past it; raises if the broker is down.
        self.producer.send(
            dlq(record.topic), key=record.key, value=record.value, headers=headers
        ).get(timeout=30)
        self.stats.dead_lettered += 1
        log.error(
            "dead-lettered %s[%d]@%d: %s", record.topic, record.partition, record.offset, reason
        )


def _handle_run(session: Session, many: ManyHandler, events: Sequence[Event[Any]]) -> None:
    # A run of one keeps its event's ids in the logs.
    first = events[0].envelope
    ids = (
        correlation(first.correlation_id, str(first.event_id))
        if len(events) == 1
        else contextlib.nullcontext()
    )
    with ids, _waiting(False):
        many(session, events)


def _database_outage() -> Backoff:
    """A database that is down is waited out (every other record would fail the same
    way), a little longer each time."""
    return Backoff("database unavailable", first=0.2, ceiling=15.0)


def _forget_parked(consumer: Any, tp: Any) -> None:
    """Drop what the Kafka client set aside for `tp` while it was paused.

    kafka-python (3.0.12) keeps the records of a partition paused in the middle of a
    fetch for when it is resumed, and fetches nothing more for it while they are kept;
    but it takes them back only when no other partition's fetch is in line, which after
    the first fetch of any other partition is never. A partition held back in the middle
    of a backlog — as after a restart, or once the database is back — would then be
    read no more, the worker alive and its other partitions flowing. Those records lie
    past the held one, where the partition was sought back to, so the client would pass
    them over anyway: dropped, the partition is fetched afresh from the held record.
    The client keeps them even for a partition a rebalance took away, and would not read
    it should it come back: they are dropped then too."""
    parked = getattr(getattr(consumer, "_fetcher", None), "_paused_partition_records", None)
    if isinstance(parked, dict):
        records = parked.pop(tp, None)
        if records is not None:
            records.drain()


def _partition(record: Any) -> Any:
    from kafka.structs import TopicPartition

    return TopicPartition(record.topic, record.partition)


def _header(record: Any, name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            try:
                return bytes(value).decode("utf-8")
            except (UnicodeDecodeError, TypeError):
                return None
    return None
