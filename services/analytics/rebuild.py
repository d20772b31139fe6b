"""Rebuild the analytics read models from the Kafka topics, from offset zero.

    python -m services.analytics.rebuild [--into SCHEMA] [--replace] [--compare] [--swap]
                                         [--topic NAME[=PLATFORM_TOPIC] ...]
    make analytics-rebuild ARGS="--compare"

The events are the system of record (topics are kept for ever): the rebuild migrates a
fresh schema (`<prefix>analytics_rebuild` by default), reads every partition of the
worker's topics (intake.events, complaints.lifecycle, analytics.events) from its first
offset to its end, and applies the same handlers as the worker, a batch of events per
transaction, with a progress bar. It believes what the worker believes: an event only
from its owner's topic (shared.consumer.ownership_problem), the records the topics' split
left behind passed over for their copies, an event only of a client the centre serves
and, for a complaint, of the client the complaint belongs to (each client's figures stay
its own). The result equals what the live worker built; `--compare` checks it table by
table. `--swap` then puts the rebuilt schema in place of the live one (PostgreSQL; stop
the analytics worker first, and the swap is refused while QA revisions wait in the live
outbox).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Any

from sqlalchemy import inspect, select, text
from tqdm import tqdm

from services.analytics.config import get_config
from services.analytics.db import inbox, outbox
from services.analytics.facts import flows
from services.analytics.facts.service import READ_MODELS
from services.analytics.handlers import handlers_for
from services.analytics.worker import TOPICS
from shared.consumer import ownership_problem
from shared.db import Database, create_database, database_for
from shared.events import EventDecodeError, EventRegistry
from shared.events import registry as default_registry
from shared.inbox import claim_each
from shared.migrations import upgrade
from shared.settings import Settings
from shared.tenants import tenants
from shared.topics import Cutover, read_cutovers

log = logging.getLogger(__name__)

CONSUMER = "analytics"
STORE = "analytics"


@dataclass
class RebuildResult:
    schema: str
    events: int = 0  # records read
    handled: int = 0
    skipped: int = 0  # events the read models do not use
    undecodable: int = 0
    refused: int = 0  # not from their owner's topic: a consumer dead-letters them
    # Of a client the centre does not serve, or not the complaint's: dead-lettered too.
    wrong_client: int = 0
    left_behind: int = 0  # the topics' split copied them to their owner's topic
    seconds: float = 0.0
    end_offsets: dict[str, int] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class RebuildError(RuntimeError):
    pass


def target_database(settings: Settings, schema: str) -> tuple[str, Database]:
    """The URL and database of the rebuild target: a schema on PostgreSQL, a file of its
    own on SQLite."""
    url = settings.database_url_for(STORE)
    if url.startswith("sqlite"):
        url = f"sqlite:///{(settings.data_dir / f'{schema}.db').resolve()}"
    return url, create_database(url, schema=schema, pool_size=2, max_overflow=2)


def is_empty(db: Database) -> bool:
    """No read-model table holds a row (or none exists yet)."""
    with db.engine.connect() as conn:
        names = set(inspect(conn).get_table_names(schema=db.schema if db.is_postgres else None))
        for table, _ in READ_MODELS:
            if table.name in names and conn.execute(select(table).limit(1)).first():
                return False
    return True


def drop_target(db: Database) -> None:
    if db.is_postgres:
        with db.engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{db.schema}" CASCADE'))
    else:
        path = db.engine.url.database
        db.dispose()
        if path:
            from pathlib import Path

            for suffix in ("", "-wal", "-shm"):
                Path(path + suffix).unlink(missing_ok=True)


def _partitions(consumer: Any, topics: Sequence[str]) -> list[Any]:
    from kafka import TopicPartition

    found = []
    for topic in topics:
        parts = consumer.partitions_for_topic(topic)
        if parts is None:
            raise RebuildError(f"topic {topic!r} does not exist")
        found += [TopicPartition(topic, p) for p in sorted(parts)]
    return found


def replay(
    db: Database,
    *,
    settings: Settings,
    topics: Sequence[str],
    tz: tzinfo,
    registry: EventRegistry = default_registry,
    batch_size: int = 500,
    progress: bool = True,
    result: RebuildResult,
    stand_for: dict[str, str] | None = None,
) -> RebuildResult:
    """Read `topics` (on the broker `settings` name) from offset zero to their end and
    apply them into `db`: the worker's handlers' effects (`flows.apply_events`), a batch
    per transaction. `stand_for` names the platform topic each of `topics` carries,
    where they differ."""
    from kafka import KafkaConsumer

    from shared.kafka import client_config

    types = set(handlers_for(tz))
    believe = _Believe(read_cutovers(settings), stand_for or {}, registry)

    consumer = KafkaConsumer(
        **client_config(settings),
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=batch_size,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    started = time.monotonic()
    try:
        parts = _partitions(consumer, topics)
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        starts = consumer.beginning_offsets(parts)
        ends = consumer.end_offsets(parts)
        result.end_offsets = {f"{tp.topic}[{tp.partition}]": ends[tp] for tp in parts}
        total = sum(ends[tp] - starts[tp] for tp in parts)
        remaining = {tp for tp in parts if ends[tp] > starts[tp]}
        bar = tqdm(total=total, unit="event", desc="rebuilding", disable=not progress)
        while remaining:
            polled = consumer.poll(timeout_ms=1000, max_records=batch_size)
            records = []
            for tp, batch in polled.items():
                records += [r for r in batch if r.offset < ends[tp]]
                if batch and batch[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
            for tp in list(remaining):
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
            if records:
                _apply(db, records, types, registry, tz, result, believe)
                bar.update(len(records))
        bar.close()
    finally:
        consumer.close()
    result.seconds = time.monotonic() - started
    return result


@dataclass
class _Believe:
    """What the live consumer would take: the split recorded per topic, and the platform
    topic each topic read stands for."""

    cutovers: dict[str, Cutover]
    stand_for: dict[str, str]
    registry: EventRegistry

    def problem(self, record: Any, event: Any) -> tuple[str, bool] | None:
        """Why not, and whether the split left it behind; None to apply it."""
        topic = self.stand_for.get(record.topic, record.topic)
        why = ownership_problem(event.envelope, topic, registry=self.registry)
        if why is None:
            return None
        cutover = self.cutovers.get(record.topic)
        behind = cutover is not None and cutover.left_behind(
            record.partition, record.offset, event.type
        )
        return why, behind


def _apply(
    db: Database,
    records: list[Any],
    types: Collection[str],
    registry: EventRegistry,
    tz: tzinfo,
    result: RebuildResult,
    believe: _Believe,
) -> None:
    decoded = []
    for record in records:
        result.events += 1
        try:
            event = registry.decode(record.value)
        except EventDecodeError as exc:
            result.undecodable += 1
            log.warning(
                "%s[%d]@%d not decodable: %s", record.topic, record.partition, record.offset, exc
            )
            continue
        refused = believe.problem(record, event)
        if refused is not None:
            why, behind = refused
            if behind:
                result.left_behind += 1
            else:
                result.refused += 1
                log.warning(
                    "%s[%d]@%d refused: %s", record.topic, record.partition, record.offset, why
                )
            continue
        if tenants().get(event.envelope.tenant) is None:
            result.wrong_client += 1
            log.warning(
                "%s[%d]@%d refused: client '%s' is not served here",
                record.topic, record.partition, record.offset, event.envelope.tenant,
            )  # fmt: skip
            continue
        if event.type not in types:
            result.skipped += 1
            continue
        decoded.append((record, event))
    with db.transaction() as session:
        firsts = claim_each(
            session,
            inbox,
            consumer=CONSUMER,
            claims=[(e.envelope, r.topic, r.partition, r.offset) for r, e in decoded],
        )
        events = [event for (_, event), first in zip(decoded, firsts, strict=True) if first]
        others = flows.apply_events(session, events, tz)
        for event, why in others:
            log.warning("event %s refused: %s", event.envelope.event_id, why)
        result.wrong_client += len(others)
        result.handled += len(events) - len(others)


def rebuild(
    settings: Settings,
    *,
    schema: str,
    topics: Sequence[str] = TOPICS,
    replace: bool = False,
    batch_size: int = 500,
    progress: bool = True,
    stand_for: dict[str, str] | None = None,
) -> RebuildResult:
    """Migrate a fresh `schema` and replay the topics into it."""
    url, db = target_database(settings, schema)
    try:
        if not is_empty(db):
            if not replace:
                raise RebuildError(
                    f"{schema} already holds read models: pass --replace to start it afresh"
                )
            drop_target(db)
            url, db = target_database(settings, schema)
        upgrade(STORE, url=url, schema=schema)
        return replay(
            db,
            settings=settings,
            topics=topics,
            tz=get_config().tz(),
            batch_size=batch_size,
            progress=progress,
            result=RebuildResult(schema=schema),
            stand_for=stand_for,
        )
    finally:
        db.dispose()


# --- comparing and swapping ---------------------------------------------------------


@dataclass
class Difference:
    table: str
    only_live: int
    only_rebuilt: int
    changed: int
    examples: list[str]


def table_rows(db: Database, table: Any, order: Sequence[str]) -> dict[Any, dict[str, Any]]:
    with db.read() as session:
        rows = session.execute(select(table).order_by(*[table.c[c] for c in order]))
        return {tuple(row._mapping[c] for c in order): dict(row._mapping) for row in rows}


def compare(live: Database, rebuilt: Database) -> list[Difference]:
    """Every read-model table row by row; an empty list means equal."""
    differences = []
    for table, order in READ_MODELS:
        a, b = table_rows(live, table, order), table_rows(rebuilt, table, order)
        changed = [k for k in a.keys() & b.keys() if a[k] != b[k]]
        only_a, only_b = a.keys() - b.keys(), b.keys() - a.keys()
        if changed or only_a or only_b:
            examples = []
            for key in sorted(changed)[:3]:
                cols = [c for c in a[key] if a[key][c] != b[key][c]]
                examples.append(
                    f"{key}: " + ", ".join(f"{c} {a[key][c]!r} != {b[key][c]!r}" for c in cols)
                )
            examples += [f"{k}: only live" for k in sorted(only_a)[:3]]
            examples += [f"{k}: only rebuilt" for k in sorted(only_b)[:3]]
            differences.append(
                Difference(table.name, len(only_a), len(only_b), len(changed), examples)
            )
    return differences


def swap(settings: Settings, *, rebuilt: str, now: datetime | None = None) -> str:
    """Put the rebuilt schema in place of the live one; return where the old one went."""
    live = settings.schema_for(STORE)
    db = database_for(STORE, settings)
    try:
        if not db.is_postgres:
            raise RebuildError("--swap needs PostgreSQL; on SQLite, move the rebuilt file instead")
        with db.engine.begin() as conn:
            waiting = conn.execute(
                select(outbox.c.id).where(outbox.c.sent_at.is_(None)).limit(1)
            ).first()
            if waiting:
                raise RebuildError(
                    "the live outbox still holds unpublished events (QA revisions): start the "
                    "worker until they are sent, stop it, then rebuild again"
                )
            stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S")
            old = f"{live}_old_{stamp}"[:63]
            conn.execute(text(f'ALTER SCHEMA "{live}" RENAME TO "{old}"'))
            conn.execute(text(f'ALTER SCHEMA "{rebuilt}" RENAME TO "{live}"'))
        return old
    finally:
        db.dispose()


def main(argv: list[str] | None = None, *, out: Callable[[str], None] = print) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.analytics.rebuild",
        description="Rebuild the analytics read models from the Kafka topics, offset zero.",
    )
    settings = Settings()
    default = f"{settings.schema_prefix}analytics_rebuild"
    parser.add_argument("--into", default=default, help=f"target schema (default {default})")
    parser.add_argument("--replace", action="store_true", help="empty the target first")
    parser.add_argument(
        "--topic",
        action="append",
        dest="topics",
        help=f"a topic to replay (default: {', '.join(TOPICS)}); NAME=PLATFORM_TOPIC "
        "replays a copy of a platform topic kept under another name",
    )
    parser.add_argument("--batch", type=int, default=500, help="events per transaction")
    parser.add_argument("--compare", action="store_true", help="compare with the live models")
    parser.add_argument("--swap", action="store_true", help="replace the live schema (PostgreSQL)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    named = [t.partition("=") for t in args.topics or TOPICS]
    try:
        result = rebuild(
            settings,
            schema=args.into,
            topics=[name for name, _, _ in named],
            stand_for={name: platform for name, _, platform in named if platform},
            replace=args.replace,
            batch_size=args.batch,
            progress=not args.quiet and sys.stderr.isatty(),
        )
    except RebuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out(
        f"rebuilt {args.into}: {result.events} events read, {result.handled} applied, "
        f"{result.skipped} not used, {result.undecodable} undecodable, "
        f"{result.refused} refused (not from their owner's topic), "
        f"{result.wrong_client} refused (another client's), "
        f"{result.left_behind} left behind by the topics' split, "
        f"in {result.seconds:.1f}s ({result.events_per_second:,.0f} events/s)"
    )
    status = 0
    if args.compare:
        live = database_for(STORE, settings)
        _, rebuilt = target_database(settings, args.into)
        try:
            differences = compare(live, rebuilt)
        finally:
            live.dispose()
            rebuilt.dispose()
        if differences:
            status = 1
            for d in differences:
                out(
                    f"{d.table}: {d.only_live} only live, {d.only_rebuilt} only rebuilt, "
                    f"{d.changed} different"
                )
                for example in d.examples:
                    out(f"  {example}")
        else:
            out("the rebuilt read models equal the live ones")
    if args.swap and status == 0:
        try:
            old = swap(settings, rebuilt=args.into)
        except RebuildError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        out(f"swapped: the rebuilt models are live; the previous schema is now {old}")
    return status


if __name__ == "__main__":
    sys.exit(main())
