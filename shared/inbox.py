"""Inbox: the ids of events a consumer has handled, written in the same transaction as
the handler's effect. A redelivered event finds its id there and has no second effect."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shared.db import UTCDateTime, insert_rows
from shared.events import Envelope

TABLE = "inbox"


def inbox_table(metadata: MetaData) -> Table:
    return Table(
        TABLE,
        metadata,
        Column("consumer", String(100), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("event_type", String(100), nullable=False),
        Column("topic", String(200), nullable=True),
        Column("partition", Integer, nullable=True),
        Column("offset", BigInteger, nullable=True),
        Column("processed_at", UTCDateTime, nullable=False),
    )


def claim(
    session: Session,
    table: Table,
    *,
    consumer: str,
    envelope: Envelope,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> bool:
    """Record the event as handled by `consumer`; False if it already was.

    Call first inside the handler's transaction. If two deliveries race, the second
    waits on the first's row lock and then sees the conflict.
    """
    values = {
        "consumer": consumer,
        "event_id": str(envelope.event_id),
        "event_type": envelope.type,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "processed_at": datetime.now(UTC),
    }
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(table).values(**values).on_conflict_do_nothing().returning(table.c.event_id)
    # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT DO NOTHING.
    return session.execute(stmt).first() is not None


def claim_many(
    session: Session,
    table: Table,
    *,
    consumer: str,
    claims: Sequence[tuple[Envelope, str | None, int | None, int | None]],
) -> set[str]:
    """`claim` for several events in one statement: the ids of those not handled before.

    Each claim is (envelope, topic, partition, offset); an event listed twice is claimed
    once, by its first entry."""
    now = datetime.now(UTC)
    rows: dict[str, dict[str, object]] = {}
    for envelope, topic, partition, offset in claims:
        event_id = str(envelope.event_id)
        rows.setdefault(
            event_id,
            {
                "consumer": consumer,
                "event_id": event_id,
                "event_type": envelope.type,
                "topic": topic,
                "partition": partition,
                "offset": offset,
                "processed_at": now,
            },
        )
    if not rows:
        return set()
    # One statement, the same text for any number of events (shared.db.insert_rows).
    return set(
        insert_rows(session, table, list(rows.values()), skip_existing=True, returning="event_id")
    )


def claim_each(
    session: Session,
    table: Table,
    *,
    consumer: str,
    claims: Sequence[tuple[Envelope, str | None, int | None, int | None]],
) -> list[bool]:
    """`claim_many`, answered claim by claim: whether each event is handled now for the
    first time (of two copies of one event in `claims`, only the first is)."""
    fresh = claim_many(session, table, consumer=consumer, claims=claims)
    first = []
    for envelope, *_ in claims:
        event_id = str(envelope.event_id)
        first.append(event_id in fresh)
        fresh.discard(event_id)
    return first
