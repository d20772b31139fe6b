"""Database plumbing: one engine per service, its own schema (PostgreSQL) or file (SQLite).

The caller owns the transaction: `with db.transaction() as session:` around a state
change, its history entry and its outbox row, so they commit together or not at all.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    JSON,
    CursorResult,
    DateTime,
    Engine,
    Result,
    Table,
    create_engine,
    event,
    text,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import Session
from sqlalchemy.types import TypeDecorator

from shared.settings import Settings

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps that are always timezone-aware UTC in Python, whatever the database.

    SQLite has no time zones, so values are stored there as naive UTC and given their
    zone back on the way out. A naive datetime going in is a bug and is refused.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


@dataclass(frozen=True)
class Database:
    engine: Engine
    # The PostgreSQL schema holding this service's tables; None on SQLite.
    schema: str | None
    name: str

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside one transaction: committed on success, rolled back on error."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads; nothing it does is committed.

        Closing (not rolling back) ends it: the connection goes back to the pool, which
        rolls its transaction back, and the objects read stay usable afterwards."""
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_engine(url: str, echo: bool) -> Engine:
    path = make_url(url).database
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        echo=echo,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=5,
        max_overflow=10,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Take the write lock up front: a reader that later writes would otherwise fail
        # with "database is locked" instead of waiting its turn.
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def create_database(
    url: str,
    *,
    schema: str,
    pool_size: int = 10,
    max_overflow: int = 20,
    echo: bool = False,
) -> Database:
    """An engine for one service. On PostgreSQL its connections see only `schema`."""
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(f"not a safe schema name: {schema!r}")
    if url.startswith("sqlite"):
        return Database(engine=_sqlite_engine(url, echo), schema=None, name=schema)
    engine = create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={
            "options": f"-c search_path={schema} -c timezone=UTC",
            "application_name": schema,
            "connect_timeout": 5,
        },
    )
    return Database(engine=engine, schema=schema, name=schema)


def database_for(store: str, settings: Settings, *, schema: str | None = None) -> Database:
    return create_database(
        settings.database_url_for(store),
        schema=schema or settings.schema_for(store),
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
    )


def table_of(model: type[Any]) -> Table:
    """The Core table behind a SQLModel class, typed (SQLModel leaves `__table__` untyped)."""
    return cast(Table, sa_inspect(model).local_table)


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE touched (its result is a CursorResult at run time)."""
    return cast(CursorResult[Any], result).rowcount or 0


def is_transient(exc: BaseException) -> bool:
    """Errors worth retrying as they are: lost connections, deadlocks, a locked SQLite file."""
    from sqlalchemy.exc import DBAPIError, OperationalError, TimeoutError

    if isinstance(exc, TimeoutError | OperationalError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    sqlstate = getattr(getattr(exc, "orig", None), "sqlstate", None)
    # serialization_failure, deadlock_detected, lock_not_available, admin shutdown …
    if not isinstance(sqlstate, str):
        return False
    return sqlstate.startswith(("08", "57P", "53")) or sqlstate in {"40001", "40P01", "55P03"}


def insert_rows(
    session: Session,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    *,
    skip_existing: bool = False,
    returning: str | None = None,
) -> list[Any]:
    """Insert `rows` (each with the same keys) in one statement, in their order; with
    `skip_existing`, a row whose key is there already is left out (ON CONFLICT DO
    NOTHING). Returns the `returning` column of the rows inserted, if asked.

    On PostgreSQL the statement has one parameter per column, an array of the rows'
    values, whatever the number of rows: its text is the same every time, so the driver
    and the server prepare it once. (A VALUES list of many rows has a text of its own
    for every count of rows, which the driver parses afresh each time: for a consumer's
    batch of a hundred events, more than the insert itself costs.)"""
    if not rows:
        return []
    names = tuple(rows[0])
    if session.get_bind().dialect.name != "postgresql":
        stmt: Any = sqlite_insert(table)
        if skip_existing:
            stmt = stmt.on_conflict_do_nothing()
        if returning is None:
            session.execute(stmt, list(rows))
            return []
        return list(session.execute(stmt.returning(table.c[returning]), list(rows)).scalars())
    statement, json_columns = _unnested_insert(table, names, skip_existing, returning)
    params = {
        f"u_{n}": [
            (json.dumps(row[n], ensure_ascii=False) if n in json_columns else row[n])
            for row in rows
        ]
        for n in names
    }
    result = session.execute(statement, params)
    return list(result.scalars()) if returning is not None else []


@functools.cache
def _unnested_insert(
    table: Table, names: tuple[str, ...], skip_existing: bool, returning: str | None
) -> tuple[Any, frozenset[str]]:
    dialect = postgresql.psycopg.dialect()  # type: ignore[no-untyped-call]
    json_columns = frozenset(
        n for n in names if isinstance(table.c[n].type, (JSON, postgresql.JSONB))
    )

    def sql_type(name: str) -> str:
        if name in json_columns:
            return "TEXT"
        column_type = table.c[name].type
        if isinstance(column_type, TypeDecorator):
            column_type = column_type.impl_instance
        return str(column_type.compile(dialect=dialect))

    quoted = [f'"{n}"' for n in names]
    arrays = ", ".join(f"CAST(:u_{n} AS {sql_type(n)}[])" for n in names)
    picks = ", ".join(
        f"CAST(u.{q} AS JSON)" if n in json_columns else f"u.{q}"
        for n, q in zip(names, quoted, strict=True)
    )
    # Names of the service's own tables and columns only, never of anything sent in.
    sql = (
        f'INSERT INTO "{table.name}" ({", ".join(quoted)}) '  # noqa: S608
        f"SELECT {picks} FROM unnest({arrays}) "
        f"WITH ORDINALITY AS u({', '.join(quoted)}, u_row) ORDER BY u.u_row"
    )
    if skip_existing:
        sql += " ON CONFLICT DO NOTHING"
    if returning is not None:
        sql += f' RETURNING "{returning}"'
    return text(sql), json_columns
