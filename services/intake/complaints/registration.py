"""Registering a complaint: what is stored and announced, the statements that store it,
and the two ways of running them.

A registration is a short exchange with the database, written once, as a generator
(`steps`): it asks for the answer stored under the caller's Idempotency-Key, then for the
next complaint number and the caller's file, then to store the key, the complaint, the
customer, the outbox row and the complaint's search document together; each answer
decides what it asks next and what it returns. Whoever registers (the API, the import
command) and whatever the database, the number, reference, file, row, event, search
document, 201 body and replay come from here.

Two executors hold the exchange, and do nothing but run statements and hand back rows:
`execute`, on a SQLAlchemy connection in the caller's transaction (the API on SQLite,
the import command), and `PoolExecutor`, from the event loop on a psycopg pool (the API
on PostgreSQL, where registering is what the call centre does all day: no thread hop,
no interpreter lock fought over, two round trips, three with an Idempotency-Key).

Every statement is built from the table definitions (models.py, and the outbox table of
shared/outbox.py), once per dialect. On PostgreSQL the store is one statement whose
inserts are chained CTEs: the complaint is inserted only if the key was new (`FROM
idem`), the customer, the outbox row and the search document only if the complaint was
(`FROM c`); one statement is atomic on its own, so a request that lost the race for its
key writes nothing and gets the winner's answer. SQLite has no data-modifying CTEs: there
the same inserts run one after another in one transaction, and the key's insert, finding
the key taken, stops the ones after it.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Protocol, TypeVar, cast
from zoneinfo import ZoneInfo

import anyio.to_thread
from psycopg.pq import ExecStatus
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import JSON, Column, Connection, Table, bindparam, func, select
from sqlalchemy import Sequence as DbSequence
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement, Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.selectable import CTE

from services.intake.complaints import service
from services.intake.complaints.models import ComplaintCreate, ComplaintCreated, CustomerFile
from services.intake.config import IntakeConfig
from services.intake.db import outbox as outbox_t
from services.intake.search import service as search
from services.intake.search.words import document
from shared.contracts import COMPLAINT_RECEIVED, ComplaintReceived
from shared.db import Database
from shared.errors import Conflict
from shared.events import Actor, Envelope, registry
from shared.outbox import Outbox
from shared.tenants import DEFAULT_TENANT
from shared.vocabulary import Channel, ClosureReason, Nature, Severity, State

SOURCE = "intake"
# The customer key of someone an older system knew by an id of its own, not a phone.
REF_PREFIX = "ref:"
NUMBER_SEQUENCE = "complaint_number_seq"

T = TypeVar("T")
_TUPLES_OK = ExecStatus.TUPLES_OK


# --- what is registered ---------------------------------------------------------------


@dataclass(frozen=True)
class NewComplaint:
    """A complaint ready to store: validated and normalised by whoever built it."""

    # None for an anonymous caller, who has no customer file.
    customer_key: str | None
    customer_phone: str | None
    customer_name: str | None
    channel: Channel
    category: str
    severity: Severity
    nature: Nature
    strong_emotion: bool
    description: str
    occurred_at: datetime | None
    registered_at: datetime
    registered_by: str
    registered_by_role: str
    customer_ref: str | None = None
    external_id: str | None = None
    imported: bool = False
    customer_extension: str | None = None
    customer_textable: bool = True
    anonymous: bool = False
    location: str | None = None
    # An imported row the older system had closed (`closed`, with what it recorded), or
    # None for live work.
    imported_state: State | None = None
    imported_resolution: str | None = None
    imported_department: str | None = None
    imported_closed_at: datetime | None = None
    # The client it is made to (shared.tenants); `customer_key` is the caller's file
    # with that client (service.customer_key).
    tenant: str = DEFAULT_TENANT
    # The knowledge base's article the agent answered the caller from.
    answered_from_article: int | None = None

    @classmethod
    def from_request(
        cls, data: ComplaintCreate, *, staff_id: str, role: str, now: datetime, tenant: str
    ) -> NewComplaint:
        phone = data.customer_phone
        return cls(
            tenant=tenant,
            customer_key=service.customer_key(tenant, phone) if phone is not None else None,
            customer_phone=data.customer_phone,
            customer_name=data.customer_name,
            channel=data.channel,
            category=data.category,
            severity=data.severity,
            nature=data.nature,
            strong_emotion=data.strong_emotion,
            description=data.description,
            occurred_at=data.occurred_at,
            registered_at=now,
            registered_by=staff_id,
            registered_by_role=role,
            customer_extension=data.customer_extension,
            customer_textable=data.customer_textable,
            anonymous=data.anonymous,
            location=data.location,
            answered_from_article=data.answered_from_article,
        )


@dataclass(frozen=True)
class Registered:
    body: dict[str, Any]
    # 201 for a new complaint; 200 when an Idempotency-Key replays an earlier answer.
    status_code: int


def reference_for(number: int, at: datetime, config: IntakeConfig) -> str:
    """TS20261122-000123: the local date of registration and a number unique for ever."""
    local = at.astimezone(ZoneInfo(config.timezone))
    return f"{config.reference_prefix}{local:%Y%m%d}-{number:06d}"


def request_hash(data: ComplaintCreate) -> str:
    """Of the normalised request: the same complaint retyped with spaces is the same body."""
    body = data.model_dump(mode="json")
    # A complaint without a place (or an article) hashes as before there was one: a retry
    # with a key stored before then still gets its first answer back.
    for field in ("location", "answered_from_article"):
        if body.get(field) is None:
            body.pop(field, None)
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def build_complaint(
    new: NewComplaint,
    *,
    complaint_id: str,
    number: int,
    file: CustomerFile,
    config: IntakeConfig,
) -> tuple[dict[str, Any], Envelope]:
    """The complaint row and its `complaint.received` event, before either is stored."""
    reference = reference_for(number, new.registered_at, config)
    # Closed before it came here: the file counts it closed at once, as escalation will.
    closed = new.imported_state == State.CLOSED
    row = {
        "id": complaint_id,
        "tenant": new.tenant,
        "number": number,
        "reference": reference,
        "customer_key": new.customer_key,
        "customer_phone": new.customer_phone,
        "customer_extension": new.customer_extension,
        "customer_textable": new.customer_textable,
        "anonymous": new.anonymous,
        "customer_name": new.customer_name,
        "channel": new.channel,
        "category": new.category,
        "severity": new.severity,
        "nature": new.nature,
        "strong_emotion": new.strong_emotion,
        "description": new.description,
        "location": new.location,
        "occurred_at": new.occurred_at,
        "registered_at": new.registered_at,
        "registered_by": new.registered_by,
        "external_id": new.external_id,
        "imported": new.imported,
        "status": State.CLOSED if closed else State.RECEIVED,
        "status_seq": 0,
        "status_updated_at": None,
        "holder_staff_id": None,
        "department_id": None,
        "closure_reason": ClosureReason.IMPORTED if closed else None,
        "answered_from_article": new.answered_from_article,
    }
    payload = ComplaintReceived(
        complaint_id=complaint_id,
        reference=reference,
        customer_phone=new.customer_phone,
        customer_ref=new.customer_ref,
        customer_name=new.customer_name,
        channel=new.channel,
        category=new.category,
        severity=new.severity,
        nature=new.nature,
        strong_emotion=new.strong_emotion,
        description=new.description,
        location=new.location,
        occurred_at=new.occurred_at,
        registered_at=new.registered_at,
        registered_by=new.registered_by,
        open_complaints=file.open_complaints,
        complaints_last_30_days=file.complaints_last_30_days,
        repeat=file.repeat,
        imported=new.imported,
        external_id=new.external_id,
        customer_extension=new.customer_extension,
        customer_textable=new.customer_textable,
        anonymous=new.anonymous,
        imported_state=new.imported_state,
        imported_resolution=new.imported_resolution,
        imported_department=new.imported_department,
        imported_closed_at=new.imported_closed_at,
        answered_from_article=new.answered_from_article,
    )
    event = registry.new(
        COMPLAINT_RECEIVED.name,
        payload,
        source=SOURCE,
        tenant=new.tenant,
        actor=Actor(id=new.registered_by, role=new.registered_by_role),
        complaint_id=complaint_id,
        occurred_at=new.registered_at,
    )
    return row, event


def customer_row(new: NewComplaint) -> dict[str, Any]:
    """The caller as a customer row; one already known keeps the earliest first call and
    gains a name and a count (`_upsert_customer`). An anonymous caller's row has no key,
    and the store writes none."""
    return {
        "key": new.customer_key,
        "tenant": new.tenant,
        "phone": new.customer_phone,
        "external_ref": new.customer_ref,
        "name": new.customer_name,
        "first_seen_at": new.registered_at,
        "last_complaint_at": new.registered_at,
        "complaint_count": 1,
    }


def created_body(row: dict[str, Any], file: CustomerFile) -> dict[str, Any]:
    """The 201 answer: the complaint and the caller's file."""
    return ComplaintCreated.model_validate({**row, "customer_file": file}).model_dump(mode="json")


def replay_answer(*, key: str, digest: str, stored: Sequence[Any]) -> Registered:
    """The answer to a request whose Idempotency-Key is already stored, from the stored
    (request hash, complaint id, response)."""
    stored_hash, complaint_id, response = stored
    if stored_hash != digest:
        raise Conflict(
            "Idempotency-Key was already used for a different complaint; "
            "use a new key for a new complaint",
            idempotency_key=key,
            complaint_id=complaint_id,
        )
    return Registered(body=dict(response), status_code=200)


# --- the exchange ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ask:
    """One step of a registration: a plan's name and the values it binds."""

    step: str
    values: dict[str, Any]


Steps = Generator[Ask, Any, Registered]


def steps(
    new: NewComplaint,
    outbox: Outbox,
    config: IntakeConfig,
    *,
    idempotency_key: str | None = None,
    request_hash: str = "",
    complaint_id: str | None = None,
) -> Steps:
    """Register `new`; with an Idempotency-Key, a retry gets the first answer back."""
    key = idempotency_key
    if key:
        stored = yield Ask(STORED_ANSWER, {"staff_id": new.registered_by, "key": key})
        if stored is not None:
            return replay_answer(key=key, digest=request_hash, stored=stored)
    since = new.registered_at - timedelta(days=config.repeat_window_days)
    number_and_file = yield Ask(NUMBER_AND_FILE, {"customer_key": new.customer_key, "since": since})
    body, values = _to_store(
        new, outbox, config, number_and_file, complaint_id, key=key, request_hash=request_hash
    )
    if (yield Ask(STORE_WITH_KEY if key else STORE, values)):
        return Registered(body=body, status_code=201)
    # Another request with this key was stored first, and nothing of this one was: the
    # request that won answers for both.
    stored = yield Ask(STORED_ANSWER, {"staff_id": new.registered_by, "key": key})
    if stored is None:  # pragma: no cover - the winner's row is committed before ours yields
        raise RuntimeError("idempotency key conflict without a stored answer")
    return replay_answer(key=key or "", digest=request_hash, stored=stored)


def _to_store(
    new: NewComplaint,
    outbox: Outbox,
    config: IntakeConfig,
    number_and_file: Sequence[Any],
    complaint_id: str | None,
    *,
    key: str | None,
    request_hash: str,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The 201 body, and the values of the store that answers with it.

    A function of its own so that the row, the event and its outbox row are gone by the
    time the store is sent: many registrations wait on the database at once, and what
    each holds meanwhile is what the garbage collector walks."""
    number, *counts = number_and_file
    file = service.file_of(counts, repeat_min=config.repeat_min)
    row, event = build_complaint(
        new,
        complaint_id=complaint_id or str(uuid.uuid4()),
        number=int(number),
        file=file,
        config=config,
    )
    body = created_body(row, file)
    values: dict[str, Any] = {}
    _COMPLAINT.bind(row, values)
    _CUSTOMER.bind(customer_row(new), values)
    _EVENT.bind(outbox.rows([event])[0], values)
    # Found by its words from the moment it is registered: the same transaction.
    words = document(new.description, new.location)
    _SEARCH.bind(
        {"complaint_id": row["id"], "registered_at": new.registered_at, "words": words}, values
    )
    if key:
        _KEY.bind(
            {
                "staff_id": new.registered_by,
                "key": key,
                "request_hash": request_hash,
                "complaint_id": row["id"],
                "status_code": 201,
                "response": body,
                "created_at": new.registered_at,
            },
            values,
        )
    return body, values


# --- the statements -------------------------------------------------------------------

STORED_ANSWER = "stored_answer"
NUMBER_AND_FILE = "number_and_file"
STORE = "store"
STORE_WITH_KEY = "store_with_key"

complaints: Table = service.complaints
customers: Table = service.customers
idempotency_keys: Table = service.idempotency
counters: Table = service.counters


class _Rows:
    """One table's share of a store: its columns, bound under a prefix of their own so
    that the four inserts of one statement never share a parameter name."""

    def __init__(self, table: Table, prefix: str) -> None:
        self.table = table
        self.prefix = prefix
        # All but a generated id and what the database fills in itself.
        self.columns: list[Column[Any]] = [
            c
            for c in table.columns
            if c is not table.autoincrement_column and c.server_default is None
        ]
        # Worked out once: every registration binds these.
        self._names = [(prefix + c.name, c.name) for c in self.columns]

    def bind(self, row: dict[str, Any], values: dict[str, Any]) -> None:
        """Add `row`'s parameters to `values`. A column the row leaves out is NULL, which
        the table refuses where a value is required."""
        get = row.get
        for bind, name in self._names:
            values[bind] = get(name)

    def bind_of(self, column: str) -> Any:
        return bindparam(self.prefix + column, type_=self.table.c[column].type)

    def insert(self, dialect: str, after: CTE | None = None, when: Any = None) -> Any:
        """INSERT ... VALUES, or INSERT ... SELECT FROM `after` (a row only if `after`
        wrote one) and only `when` that condition holds."""
        stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(self.table)
        binds = [self.bind_of(c.name) for c in self.columns]
        if after is None and when is None:
            return stmt.values(dict(zip(self.columns, binds, strict=True)))
        rows = select(*binds)
        if after is not None:
            rows = rows.select_from(after)
        if when is not None:
            rows = rows.where(when)
        return stmt.from_select(self.columns, rows)


_KEY = _Rows(idempotency_keys, "k_")
_COMPLAINT = _Rows(complaints, "c_")
_CUSTOMER = _Rows(customers, "cu_")
_EVENT = _Rows(outbox_t, "ob_")
_SEARCH = _Rows(search.documents, "sd_")


def _claim_key(dialect: str) -> Any:
    k = idempotency_keys.c
    return (
        _KEY.insert(dialect)
        .on_conflict_do_nothing(index_elements=[k.staff_id, k.key])
        .returning(k.key)
    )


def _insert_complaint(dialect: str, after: CTE | None = None) -> Any:
    return _COMPLAINT.insert(dialect, after).returning(complaints.c.id, complaints.c.customer_key)


def _upsert_customer(dialect: str, after: CTE | None = None) -> Any:
    # An anonymous caller has no customer row: the complaint's key is NULL.
    key = after.c.customer_key if after is not None else _CUSTOMER.bind_of("key")
    stmt = _CUSTOMER.insert(dialect, after, when=key.is_not(None))
    new, old = stmt.excluded, customers.c
    earliest, latest = (
        (func.least, func.greatest) if dialect == "postgresql" else (func.min, func.max)
    )
    return stmt.on_conflict_do_update(
        index_elements=[old.key],
        set_={
            "name": func.coalesce(new.name, old.name),
            "first_seen_at": earliest(old.first_seen_at, new.first_seen_at),
            "last_complaint_at": latest(old.last_complaint_at, new.last_complaint_at),
            "complaint_count": old.complaint_count + 1,
        },
    )


def _insert_event(dialect: str, after: CTE | None = None) -> Any:
    return _EVENT.insert(dialect, after)


def _insert_search(dialect: str, after: CTE | None = None) -> Any:
    return _SEARCH.insert(dialect, after)


@dataclass(frozen=True, eq=False)
class Part:
    """One statement of a plan and the names of the values it binds."""

    statement: Executable
    names: tuple[str, ...]
    # Writes nothing when its row is already there; then the parts after it do not run.
    guard: bool = False

    def params(self, values: dict[str, Any]) -> dict[str, Any]:
        return {name: values[name] for name in self.names}


@dataclass(frozen=True)
class Plan:
    """A step's statements, run in order, and how their rows make the step's answer."""

    parts: tuple[Part, ...]
    answer: Callable[[list[Any]], Any]


def _part(statement: Any, dialect: Dialect, *, guard: bool = False) -> Part:
    binds = statement.compile(dialect=dialect).binds
    # Values a statement carries itself (the 1 in complaint_count + 1) are not asked for.
    names = tuple(name for name, bind in binds.items() if bind.required)
    return Part(statement, names, guard)


def _first(rows: list[Any]) -> Any:
    return rows[0]


@cache
def plans(dialect_name: str) -> dict[str, Plan]:
    """Every step's plan for one dialect, built once."""
    dialect = (postgresql if dialect_name == "postgresql" else sqlite).dialect()
    k = idempotency_keys.c
    stored_answer = select(k.request_hash, k.complaint_id, k.response).where(
        k.staff_id == bindparam("staff_id"), k.key == bindparam("key")
    )
    files = service.file_counts().subquery("f")
    if dialect_name == "postgresql":
        number_and_file = Plan(
            (
                _part(
                    select(DbSequence(NUMBER_SEQUENCE).next_value().label("number"), *files.c),
                    dialect,
                ),
            ),
            _first,
        )
        return {
            STORED_ANSWER: Plan((_part(stored_answer, dialect),), _first),
            NUMBER_AND_FILE: number_and_file,
            STORE: Plan((_part(_chain(dialect_name, keyed=False), dialect),), _stored),
            STORE_WITH_KEY: Plan((_part(_chain(dialect_name, keyed=True), dialect),), _stored),
        }
    take_number = (
        sqlite.insert(counters)
        .values(name="complaint", last=1)
        .on_conflict_do_update(index_elements=["name"], set_={"last": counters.c.last + 1})
        .returning(counters.c.last)
    )
    store = (
        _part(_insert_complaint(dialect_name), dialect),
        _part(_upsert_customer(dialect_name), dialect),
        _part(_insert_event(dialect_name), dialect),
        _part(_insert_search(dialect_name), dialect),
    )
    return {
        STORED_ANSWER: Plan((_part(stored_answer, dialect),), _first),
        NUMBER_AND_FILE: Plan(
            (_part(take_number, dialect), _part(service.file_counts(), dialect)),
            lambda rows: (rows[0][0], *rows[1]),
        ),
        STORE: Plan(store, _stored),
        STORE_WITH_KEY: Plan(
            (_part(_claim_key(dialect_name), dialect, guard=True), *store),
            lambda rows: len(rows) > 1 and rows[1] is not None,
        ),
    }


def _stored(rows: list[Any]) -> bool:
    """Whether the complaint was written: its id came back."""
    return rows[0] is not None


def _chain(dialect: str, *, keyed: bool) -> Any:
    """The whole store as one statement (PostgreSQL): each insert takes its row from the
    one before, so nothing is written after a part that wrote nothing."""
    idem = _claim_key(dialect).cte("idem") if keyed else None
    c = _insert_complaint(dialect, idem).cte("c")
    cu = _upsert_customer(dialect, c).cte("cu")
    ob = _insert_event(dialect, c).cte("ob")
    sd = _insert_search(dialect, c).cte("sd")
    return select(c.c.id).add_cte(cu, ob, sd)


def _statements(
    steps: Generator[Ask, Any, T], plans: dict[str, Plan]
) -> Generator[tuple[Part, dict[str, Any]], Any, T]:
    """The registration as single statements, one at a time, for `execute`: a step of
    several statements (SQLite's store) stops at a guard that wrote nothing."""
    ask = next(steps)
    while True:
        plan = plans[ask.step]
        rows: list[Any] = []
        for part in plan.parts:
            row = yield part, ask.values
            rows.append(row)
            if part.guard and row is None:
                break
        try:
            ask = steps.send(plan.answer(rows))
        except StopIteration as done:
            value: T = done.value
            return value


# --- the executors --------------------------------------------------------------------


def execute(conn: Connection, steps: Generator[Ask, Any, T]) -> T:
    """Run a registration on `conn`, in the caller's transaction."""
    run = _statements(steps, plans(conn.dialect.name))
    try:
        part, values = next(run)
        while True:
            result = conn.execute(part.statement, part.params(values))
            part, values = run.send(result.first() if result.returns_rows else None)
    except StopIteration as done:
        value: T = done.value
        return value


class Executor(Protocol):
    """Runs registrations for the API."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def execute(self, steps: Steps) -> Registered: ...


class ThreadExecutor:
    """SQLite: each registration in a transaction of its own, on a worker thread."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def execute(self, steps: Steps) -> Registered:
        return await anyio.to_thread.run_sync(self._execute, steps)

    def _execute(self, steps: Steps) -> Registered:
        with self.db.engine.begin() as conn:
            return execute(conn, steps)


@dataclass(frozen=True)
class _Compiled:
    """A part as psycopg runs it: the SQL text, the values it carries itself, and the
    values that need the dialect's conversion (JSON, UTC times) on the way in."""

    sql: str
    fixed: dict[str, Any]
    converts: tuple[tuple[str, Callable[[Any], Any]], ...]

    def params(self, values: dict[str, Any]) -> dict[str, Any]:
        # Converted in place (the values are this step's own), and psycopg takes what
        # the statement names and leaves the rest.
        out = values
        out.update(self.fixed)
        for name, convert in self.converts:
            value = out[name]
            if value is not None:
                out[name] = convert(value)
        return out


def _processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    if isinstance(type_, JSON):
        # As text, which the statement casts (::JSON): psycopg's Json wrapper would have
        # each new cursor build a dumper for it, and that costs more than the encoding.
        return _json_text
    processor: Callable[[Any], Any] | None = type_.dialect_impl(dialect).bind_processor(dialect)
    return processor


def _json_text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _compile(part: Part, dialect: Dialect) -> _Compiled:
    compiled = cast(SQLCompiler, cast(ClauseElement, part.statement).compile(dialect=dialect))
    convert = {name: _processor(bind.type, dialect) for name, bind in compiled.binds.items()}
    fixed = {
        name: value if (process := convert[name]) is None else process(value)
        for name, value in compiled.params.items()
        if name not in part.names
    }
    converts = tuple((n, c) for n in part.names if (c := convert[n]) is not None)
    return _Compiled(compiled.string, fixed, converts)


class PoolExecutor:
    """PostgreSQL: registrations from the event loop on a psycopg connection pool, each
    statement on an autocommit connection.

    Every step is one statement on PostgreSQL (the store is chained), so the steps are
    run as they come, one statement each: many registrations wait here at once, and the
    less each holds meanwhile, the less the garbage collector has to walk."""

    def __init__(self, db: Database, *, size: int) -> None:
        url = db.engine.url.set(drivername="postgresql")
        self.pool = AsyncConnectionPool(
            url.render_as_string(hide_password=False),
            min_size=min(2, size),
            max_size=size,
            kwargs={
                "autocommit": True,
                "options": f"-c search_path={db.schema} -c timezone=UTC",
                "application_name": f"{db.schema}-register",
                "connect_timeout": 5,
            },
            open=False,
            name="intake-register",
        )
        dialect = db.engine.dialect
        self._steps: dict[str, tuple[_Compiled, Callable[[list[Any]], Any]]] = {}
        for step, plan in plans(dialect.name).items():
            (part,) = plan.parts  # one statement each, as the class says
            self._steps[step] = (_compile(part, dialect), plan.answer)

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def execute(self, steps: Steps) -> Registered:
        async with self.pool.connection() as conn:
            try:
                ask = next(steps)
                while True:
                    compiled, answer = self._steps[ask.step]
                    cur = await conn.execute(compiled.sql, compiled.params(ask.values))
                    # Not cur.description: building it costs more than the row.
                    rows = cur.pgresult is not None and cur.pgresult.status == _TUPLES_OK
                    ask = steps.send(answer([await cur.fetchone() if rows else None]))
            except StopIteration as done:
                registered: Registered = done.value
                return registered


def executor_for(db: Database, *, pool_size: int) -> Executor:
    if db.is_postgres:
        return PoolExecutor(db, size=pool_size)
    return ThreadExecutor(db)
