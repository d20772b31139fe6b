"""Registration on PostgreSQL in two round trips.

Registering is what the call centre does all day, so on PostgreSQL it skips the
general path's eight statements. One read takes the complaint number and the caller's
file; one statement then writes the idempotency key, the complaint, the customer and
the outbox row. A single statement is atomic on its own, so all four are stored or none
is, exactly as in the general path (flows.store_complaint, used on SQLite and by the
import command), which builds the same row, event and answer.

The writes are chained: the complaint is inserted only if the idempotency key was new
(`FROM idem`), and the customer and the outbox row only if the complaint was
(`FROM c`). A request that loses a race for its key writes nothing and gets the
winner's answer.
"""

# ruff: noqa: S608 - the SQL here is assembled from constants; values are bound parameters

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool

from services.intake.complaints.flows import NewComplaint, build_complaint, created_body
from services.intake.complaints.models import CustomerFile
from services.intake.complaints.service import NUMBER_SEQUENCE
from services.intake.config import IntakeConfig
from shared.db import Database
from shared.outbox import Outbox

_READ = f"""
    SELECT nextval('{NUMBER_SEQUENCE}') AS number, f.total, f.open, f.recent, f.last
    FROM (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE status <> 'closed') AS open,
               count(*) FILTER (WHERE registered_at >= %(since)s) AS recent,
               max(registered_at) AS last
        FROM complaints WHERE customer_key = %(customer_key)s
    ) AS f
"""

_COMPLAINT_COLUMNS = (
    "id, number, reference, customer_key, customer_phone, customer_name, channel, category, "
    "severity, nature, strong_emotion, description, occurred_at, registered_at, "
    "registered_by, external_id, status, status_seq"
)
_COMPLAINT_VALUES = (
    "%(id)s, %(number)s, %(reference)s, %(customer_key)s, %(customer_phone)s, "
    "%(customer_name)s, %(channel)s, %(category)s, %(severity)s, %(nature)s, "
    "%(strong_emotion)s, %(description)s, %(occurred_at)s, %(registered_at)s, "
    "%(registered_by)s, %(external_id)s, 'received', 0"
)
_REST = """
, cu AS (
    INSERT INTO customers AS old
        (key, phone, external_ref, name, first_seen_at, last_complaint_at, complaint_count)
    SELECT %(customer_key)s, %(customer_phone)s, %(customer_ref)s, %(customer_name)s,
           %(registered_at)s, %(registered_at)s, 1
    FROM c
    ON CONFLICT (key) DO UPDATE SET
        name = coalesce(EXCLUDED.name, old.name),
        first_seen_at = least(old.first_seen_at, EXCLUDED.first_seen_at),
        last_complaint_at = greatest(old.last_complaint_at, EXCLUDED.last_complaint_at),
        complaint_count = old.complaint_count + 1
), ob AS (
    INSERT INTO outbox (event_id, topic, key, lane, event_type, value, headers, created_at)
    SELECT %(event_id)s, %(topic)s, %(event_key)s, %(lane)s, %(event_type)s, %(value)s,
           CAST(%(headers)s AS json), %(created_at)s
    FROM c
)
SELECT count(*) FROM c
"""
_WRITE = (
    f"WITH c AS (INSERT INTO complaints ({_COMPLAINT_COLUMNS}) "
    f"VALUES ({_COMPLAINT_VALUES}) RETURNING id)" + _REST
)
_WRITE_WITH_KEY = (
    """
    WITH idem AS (
        INSERT INTO idempotency_keys
            (staff_id, key, request_hash, complaint_id, status_code, response, created_at)
        VALUES (%(registered_by)s, %(idempotency_key)s, %(request_hash)s, %(id)s, 201,
                CAST(%(response)s AS json), %(registered_at)s)
        ON CONFLICT (staff_id, key) DO NOTHING
        RETURNING 1
    ), """
    + f"c AS (INSERT INTO complaints ({_COMPLAINT_COLUMNS}) "
    f"SELECT {_COMPLAINT_VALUES} FROM idem RETURNING id)" + _REST
)


def _read_params(new: NewComplaint, config: IntakeConfig) -> dict[str, Any]:
    since = new.registered_at - timedelta(days=config.repeat_window_days)
    return {"since": since, "customer_key": new.customer_key}


def _write(
    got: Any,
    outbox: Outbox,
    new: NewComplaint,
    config: IntakeConfig,
    idempotency_key: str | None,
    request_hash: str,
) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """From the read's row: the 201 body, and the write statement with its parameters."""
    number, total, open_, recent, last = got
    file = CustomerFile(
        open_complaints=int(open_),
        complaints_last_30_days=int(recent),
        total_complaints=int(total),
        repeat=int(recent) >= config.repeat_min,
        last_complaint_at=last,
    )
    row, event = build_complaint(
        new, complaint_id=str(uuid.uuid4()), number=int(number), file=file, config=config
    )
    body = created_body(row, file)
    (ob,) = outbox.rows([event])
    params = {
        **row,
        "customer_ref": new.customer_ref,
        "event_id": ob["event_id"],
        "topic": ob["topic"],
        "event_key": ob["key"],
        "lane": ob["lane"],
        "event_type": ob["event_type"],
        "value": ob["value"],
        "headers": json.dumps(ob["headers"]),
        "created_at": ob["created_at"],
    }
    if not idempotency_key:
        return body, _WRITE, params
    params |= {
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
        "response": json.dumps(body, ensure_ascii=False),
    }
    return body, _WRITE_WITH_KEY, params


def register(
    db: Database,
    outbox: Outbox,
    new: NewComplaint,
    config: IntakeConfig,
    *,
    idempotency_key: str | None,
    request_hash: str,
) -> dict[str, Any] | None:
    """Store the complaint and its event; the 201 body, or None if another request with
    the same Idempotency-Key was stored first (then nothing of this one is)."""
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        got = conn.exec_driver_sql(_READ, _read_params(new, config)).one()
        body, sql, params = _write(got, outbox, new, config, idempotency_key, request_hash)
        stored = conn.exec_driver_sql(sql, params).scalar_one()
    return body if stored else None


class AsyncRegistrar:
    """The same two statements from the event loop, on a psycopg connection pool: the
    API's registrations then never wait for a thread, and threads never fight over the
    interpreter lock."""

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

    async def open(self) -> None:
        await self.pool.open(wait=False)

    async def close(self) -> None:
        await self.pool.close()

    async def stored_answer(self, staff_id: str, key: str) -> tuple[str, str, Any] | None:
        """(request hash, complaint id, response) stored for this caller's key, or None."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "SELECT request_hash, complaint_id, response FROM idempotency_keys "
                "WHERE staff_id = %s AND key = %s",
                (staff_id, key),
            )
            row = await cur.fetchone()
        return None if row is None else (row[0], row[1], row[2])

    async def register(
        self,
        outbox: Outbox,
        new: NewComplaint,
        config: IntakeConfig,
        *,
        idempotency_key: str | None,
        request_hash: str,
    ) -> dict[str, Any] | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(_READ, _read_params(new, config))
            got = await cur.fetchone()
            body, sql, params = _write(got, outbox, new, config, idempotency_key, request_hash)
            cur = await conn.execute(sql, params)
            stored = (await cur.fetchone())[0]  # type: ignore[index]
        return body if stored else None
