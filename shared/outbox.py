"""Transactional outbox: an event is stored with the state change that caused it, in the
same transaction, and a relay publishes it to Kafka afterwards.

Nothing is lost when Kafka is down (rows wait) and nothing is published for a change
that rolled back. A row may be published twice (a relay dies after the broker took it
but before the row was marked); consumers deduplicate by event id (shared.inbox).

Order per complaint: rows are spread over a few lanes by a hash of their key, and each
lane is published by one relay at a time (a PostgreSQL advisory lock, or SQLite's single
writer), in id order, stopping at the first failure. Writers of one complaint are
serialised by a lock on the complaint, so ids follow the order of its changes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from shared.db import Database, UTCDateTime, insert_rows
from shared.events import Envelope, EventRegistry, encode, kafka_headers
from shared.events import registry as default_registry
from shared.loops import Backoff, Waiter, run_until_stopped
from shared.topics import TOPIC_OWNERS

log = logging.getLogger(__name__)

TABLE = "outbox"


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        TABLE,
        metadata,
        Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("lane", SmallInteger, nullable=False),
        Column("event_type", String(100), nullable=False),
        Column("value", Text, nullable=False),
        Column("headers", JSON, nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("sent_at", UTCDateTime, nullable=True),
        Column("attempts", Integer, nullable=False, server_default="0"),
        Column("last_error", Text, nullable=True),
        Index(
            "ix_outbox_unsent",
            "lane",
            "id",
            postgresql_where=text("sent_at IS NULL"),
            sqlite_where=text("sent_at IS NULL"),
        ),
        Index("ix_outbox_sent_at", "sent_at"),
    )


def notify_channel(schema: str) -> str:
    return f"outbox_{schema}"


def create_notify_trigger_sql(schema: str) -> list[str]:
    """PostgreSQL: wake the relay at commit, without an extra round trip per write."""
    channel = notify_channel(schema)
    return [
        f"""
        CREATE OR REPLACE FUNCTION {schema}.outbox_notify() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_notify('{channel}', '');
          RETURN NULL;
        END $$
        """,
        f"""
        CREATE TRIGGER outbox_notify AFTER INSERT ON {schema}.{TABLE}
        FOR EACH STATEMENT EXECUTE FUNCTION {schema}.outbox_notify()
        """,
    ]


def lane_of(key: str, lanes: int) -> int:
    return zlib.crc32(key.encode("utf-8")) % lanes


_DEFERRED = "outbox.deferred"


def defer_writes(session: Session) -> None:
    """From now on in this transaction, the events added to any outbox wait, in order,
    and go in one statement per outbox at `write_deferred`, which the transaction must
    call before it commits: a consumer's transaction that handles a hundred events
    writes their events in one insert instead of a hundred."""
    session.info[_DEFERRED] = {}


def write_deferred(session: Session) -> None:
    """Write the events that waited since `defer_writes`; later ones go at once again."""
    waiting: dict[Table, list[dict[str, Any]]] = session.info.pop(_DEFERRED, {})
    for table, rows in waiting.items():
        insert_rows(session, table, rows)


class Outbox:
    """The writing side, used inside the caller's transaction."""

    def __init__(
        self,
        table: Table,
        *,
        lanes: int,
        registry: EventRegistry = default_registry,
    ) -> None:
        self.table = table
        self.lanes = lanes
        self.registry = registry
        self._insert = insert(table)

    def add(self, session: Session, event: Envelope, *, topic: str | None = None) -> None:
        self.add_many(session, [event], topic=topic)

    def add_many(
        self, session: Session, events: list[Envelope], *, topic: str | None = None
    ) -> None:
        if not events:
            return
        rows = self.rows(events, topic=topic)
        waiting: dict[Table, list[dict[str, Any]]] | None = session.info.get(_DEFERRED)
        if waiting is not None:
            waiting.setdefault(self.table, []).extend(rows)
            return
        session.execute(self._insert, rows)

    def rows(self, events: list[Envelope], *, topic: str | None = None) -> list[dict[str, Any]]:
        """The outbox rows for these events, for a caller that writes them in its own
        statement (still in the same transaction as the change they announce)."""
        now = datetime.now(UTC)
        if topic is None:
            for e in events:
                self._check_owner(e)
        return [
            {
                "event_id": str(e.event_id),
                "topic": topic or self.registry.get(e.type).topic,
                "key": e.key,
                "lane": lane_of(e.key, self.lanes),
                "event_type": e.type,
                "value": encode(e).decode("utf-8"),
                "headers": [[k, v.decode("utf-8")] for k, v in kafka_headers(e)],
                "created_at": now,
            }
            for e in events
        ]

    def _check_owner(self, event: Envelope) -> None:
        """An event goes on its type's topic with the name of that topic's owner as its
        source: consumers refuse it otherwise, so refuse to write it at all."""
        home = self.registry.get(event.type).topic
        owner = TOPIC_OWNERS.get(home)
        if owner is not None and event.source != owner:
            raise ValueError(
                f"{event.type} goes on {home}, which only {owner} writes, not {event.source!r}"
            )


class RelayError(RuntimeError):
    pass


class OutboxRelay:
    """Publishes unsent outbox rows with acks=all and marks them sent.

    Safe to run in several processes at once: a lane is only ever worked by one.
    """

    def __init__(
        self,
        db: Database,
        table: Table,
        producer: Any,
        *,
        lanes: int,
        batch_size: int = 500,
        poll_seconds: float = 0.05,
        idle_seconds: float = 10.0,
        linger_seconds: float = 0.0,
        retention: timedelta = timedelta(days=7),
        send_timeout: float = 30.0,
    ) -> None:
        self.db = db
        self.table = table
        self.producer = producer
        self.lanes = lanes
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.idle_seconds = idle_seconds
        self.linger_seconds = linger_seconds
        self.retention = retention
        self.send_timeout = send_timeout
        # Distinct advisory-lock namespace per schema, so two services never contend.
        self._lock_ns = zlib.crc32(f"outbox:{db.schema or db.name}".encode()) & 0x7FFFFFFF
        self._last_purge = 0.0
        self._conn: Connection | None = None
        self.published = 0
        # Statements built once: a relay runs one pass after another, and building them
        # again each time costs more than running them.
        self._take_lanes = select(
            # This transaction only marks rows the broker already acknowledged: should
            # its commit be lost in a database crash, the rows are published again,
            # which consumers turn away (the inbox). So its commit need not wait for
            # the log to reach the disk, and the next pass starts that much sooner.
            func.set_config("synchronous_commit", "off", True),
            *(func.pg_try_advisory_xact_lock(self._lock_ns, n) for n in range(lanes)),
        )
        self._unsent: dict[tuple[int, ...], tuple[Any, int]] = {}
        t = table
        self._mark_sent = (
            update(t)
            .where(t.c.id.in_(bindparam("ids", expanding=True)))
            .values(sent_at=bindparam("now"))
        )
        self._mark_failed = (
            update(t)
            .where(t.c.id.in_(bindparam("ids", expanding=True)))
            .values(attempts=t.c.attempts + 1, last_error=bindparam("error"))
        )

    # -- one pass -------------------------------------------------------------------

    def publish_pending(self) -> int:
        """Publish everything unsent now; return how many rows went out.

        A pass takes every lane no other relay holds, reads each one's oldest unsent
        rows in id order, sends them all, waits for the broker's acks once, and marks
        them, in one transaction on one connection: a handful of round trips whatever
        the number of lanes.
        """
        with self.db.engine.connect() as conn:
            return self._publish_on(conn)

    def _publish_on(self, conn: Connection) -> int:
        total = 0
        while True:
            n, more = self._publish_batch(conn)
            total += n
            self.published += n
            if not more:
                return total

    def _unsent_query(self, lanes: tuple[int, ...]) -> tuple[Any, int]:
        """The query for the oldest unsent rows of these lanes, and how many per lane."""
        found = self._unsent.get(lanes)
        if found is None:
            t = self.table
            share = max(1, self.batch_size // len(lanes))
            # One indexed range per lane (lane, id), so a backlog in one lane neither
            # starves the others nor makes the database sort the whole backlog.
            per_lane = [
                select(t.c.id, t.c.lane, t.c.topic, t.c.event_type, t.c.key, t.c.value, t.c.headers)
                .where(t.c.sent_at.is_(None), t.c.lane == lane)
                .order_by(t.c.id)
                .limit(share)
                .subquery()
                .select()
                for lane in lanes
            ]
            found = self._unsent[lanes] = (union_all(*per_lane), share)
        return found

    def _publish_batch(self, conn: Connection) -> tuple[int, bool]:
        """(rows published, whether some lane may have more)."""
        with conn.begin():
            lanes = tuple(range(self.lanes))
            if self.db.is_postgres:
                held = conn.execute(self._take_lanes).one()[1:]
                lanes = tuple(n for n, ok in zip(lanes, held, strict=True) if ok)
                if not lanes:
                    return 0, False  # other relays hold every lane
            query, share = self._unsent_query(lanes)
            rows = conn.execute(query).all()
            if not rows:
                return 0, False
            sent, failed, error = self._send(rows)
            self._mark(conn, sent, failed, error)
        if error is not None:
            raise RelayError(f"{len(failed)} not published: {error}")
        counts: dict[int, int] = {}
        for row in rows:
            counts[row.lane] = counts.get(row.lane, 0) + 1
        return len(sent), any(c >= share for c in counts.values())

    def _send(self, rows: Sequence[Any]) -> tuple[list[int], list[int], str | None]:
        futures = []
        error: str | None = None
        for row in rows:
            try:
                fut = self.producer.send(
                    self._topic_of(row),
                    key=row.key.encode("utf-8"),
                    value=row.value.encode("utf-8"),
                    headers=[(k, v.encode("utf-8")) for k, v in row.headers],
                )
            except Exception as exc:  # broker unreachable: stop here, keep the rest
                error = f"{type(exc).__name__}: {exc}"
                break
            futures.append((row, fut))
        try:
            self.producer.flush(timeout=self.send_timeout)
        except Exception as exc:
            error = error or f"{type(exc).__name__}: {exc}"
        sent: list[int] = []
        failed: list[int] = []
        failed_keys: set[str] = set()
        for row, fut in futures:
            if row.key in failed_keys:
                # A later event of a key whose earlier event failed must not count as
                # sent, or a retry would deliver it out of order.
                failed.append(row.id)
                continue
            problem = fut.exception if fut.is_done else TimeoutError("not acknowledged in time")
            if problem is None:
                sent.append(row.id)
            else:
                failed.append(row.id)
                failed_keys.add(row.key)
                error = error or f"{type(problem).__name__}: {problem}"
        unsent = {r.id for r, _ in futures}
        failed.extend(r.id for r in rows if r.id not in unsent)
        return sent, failed, error

    def _topic_of(self, row: Any) -> str:
        """Where a row goes: the topic it names, unless that is a platform topic its event
        type has left. Rows written before the topics were split by owner name
        complaints.lifecycle for intake's and analytics' events; those now go to their
        owner's topic, the only one the service may write."""
        if row.topic in TOPIC_OWNERS and row.event_type in default_registry:
            return default_registry.get(row.event_type).topic
        return str(row.topic)

    def _mark(
        self, conn: Connection, sent: list[int], failed: list[int], error: str | None
    ) -> None:
        now = datetime.now(UTC)
        for chunk in _chunks(sent, 1000):
            conn.execute(self._mark_sent, {"ids": chunk, "now": now})
        if failed and error:
            for chunk in _chunks(failed, 1000):
                conn.execute(self._mark_failed, {"ids": chunk, "error": error[:2000]})

    def purge_sent(self) -> int:
        """Delete rows published longer ago than the retention period."""
        cutoff = datetime.now(UTC) - self.retention
        with self.db.engine.connect() as conn, conn.begin():
            result = conn.execute(
                delete(self.table).where(
                    self.table.c.sent_at.is_not(None), self.table.c.sent_at < cutoff
                )
            )
            return result.rowcount or 0

    def backlog(self) -> int:
        with self.db.engine.connect() as conn:
            return (
                conn.scalar(
                    select(func.count())
                    .select_from(self.table)
                    .where(self.table.c.sent_at.is_(None))
                )
                or 0
            )

    # -- the loop ---------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        waiter = Waiter(
            self.db,
            notify_channel(self.db.schema or self.db.name),
            name="outbox relay",
            poll_seconds=self.poll_seconds,
            linger_seconds=self.linger_seconds,
        )
        log.info("outbox relay started", extra={"lanes": self.lanes})
        # Listen before the first pass, so that no write goes unnoticed.
        waiter.listen()
        try:
            run_until_stopped(
                lambda: self._pass_then_wait(waiter, stop),
                stop,
                Backoff("outbox relay", first=0.2, ceiling=10.0),
            )
        finally:
            self._disconnect()
            waiter.end()
            log.info("outbox relay stopped", extra={"published": self.published})

    def _pass_then_wait(self, waiter: Waiter, stop: threading.Event) -> None:
        # The loop keeps one connection from pass to pass (a pass per event, when events
        # come one at a time, would otherwise check one out of the pool and ping it each
        # time), and drops it when a pass fails.
        try:
            if self._conn is None:
                self._conn = self.db.engine.connect()
            n = self._publish_on(self._conn)
        except Exception:
            self._disconnect()
            raise
        self._maybe_purge()
        # With PostgreSQL no second pass to find nothing: a write since this pass read
        # the table has notified the waiter, which then returns at once.
        if n == 0 or self.db.is_postgres:
            waiter.wait(stop, lambda: self.idle_seconds)

    def _disconnect(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def _maybe_purge(self) -> None:
        if time.monotonic() - self._last_purge < 600:
            return
        self._last_purge = time.monotonic()
        try:
            purged = self.purge_sent()
            if purged:
                log.info("outbox: purged %d published rows", purged)
        except Exception as exc:
            log.warning("outbox purge failed: %s", exc)


def _chunks(items: list[int], size: int) -> list[list[int]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def relay_thread(relay: OutboxRelay, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(target=relay.run, args=(stop,), name="outbox-relay", daemon=True)
    thread.start()
    return thread
