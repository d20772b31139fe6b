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

from sqlalchemy import text

from services.intake.complaints.flows import NewComplaint, build_complaint, created_body
from services.intake.complaints.models import CustomerFile
from services.intake.complaints.service import NUMBER_SEQUENCE
from services.intake.config import IntakeConfig
from shared.db import Database
from shared.outbox import Outbox

_READ = text(
    f"""
    SELECT nextval('{NUMBER_SEQUENCE}') AS number, f.total, f.open, f.recent, f.last
    FROM (
        SELECT count(*) AS total,
               count(*) FILTER (WHERE status <> 'closed') AS open,
               count(*) FILTER (WHERE registered_at >= :since) AS recent,
               max(registered_at) AS last
        FROM complaints WHERE customer_key = :customer_key
    ) AS f
    """
)

_COMPLAINT_COLUMNS = (
    "id, number, reference, customer_key, customer_phone, customer_name, channel, category, "
    "severity, nature, strong_emotion, description, occurred_at, registered_at, "
    "registered_by, external_id, status, status_seq"
)
_COMPLAINT_VALUES = (
    ":id, :number, :reference, :customer_key, :customer_phone, :customer_name, :channel, "
    ":category, :severity, :nature, :strong_emotion, :description, :occurred_at, "
    ":registered_at, :registered_by, :external_id, 'received', 0"
)
_REST = """
, cu AS (
    INSERT INTO customers AS old
        (key, phone, external_ref, name, first_seen_at, last_complaint_at, complaint_count)
    SELECT :customer_key, :customer_phone, :customer_ref, :customer_name,
           :registered_at, :registered_at, 1
    FROM c
    ON CONFLICT (key) DO UPDATE SET
        name = coalesce(EXCLUDED.name, old.name),
        first_seen_at = least(old.first_seen_at, EXCLUDED.first_seen_at),
        last_complaint_at = greatest(old.last_complaint_at, EXCLUDED.last_complaint_at),
        complaint_count = old.complaint_count + 1
), ob AS (
    INSERT INTO outbox (event_id, topic, key, lane, event_type, value, headers, created_at)
    SELECT :event_id, :topic, :event_key, :lane, :event_type, :value,
           CAST(:headers AS json), :created_at
    FROM c
)
SELECT count(*) FROM c
"""
_WRITE = text(
    f"WITH c AS (INSERT INTO complaints ({_COMPLAINT_COLUMNS}) "
    f"VALUES ({_COMPLAINT_VALUES}) RETURNING id)" + _REST
)
_WRITE_WITH_KEY = text(
    """
    WITH idem AS (
        INSERT INTO idempotency_keys
            (staff_id, key, request_hash, complaint_id, status_code, response, created_at)
        VALUES (:registered_by, :idempotency_key, :request_hash, :id, 201,
                CAST(:response AS json), :registered_at)
        ON CONFLICT (staff_id, key) DO NOTHING
        RETURNING 1
    ), """
    + f"c AS (INSERT INTO complaints ({_COMPLAINT_COLUMNS}) "
    f"SELECT {_COMPLAINT_VALUES} FROM idem RETURNING id)" + _REST
)


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
    since = new.registered_at - timedelta(days=config.repeat_window_days)
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        got = conn.execute(_READ, {"since": since, "customer_key": new.customer_key}).one()
        recent = int(got.recent)
        file = CustomerFile(
            open_complaints=int(got.open),
            complaints_last_30_days=recent,
            total_complaints=int(got.total),
            repeat=recent >= config.repeat_min,
            last_complaint_at=got.last,
        )
        row, event = build_complaint(
            new, complaint_id=str(uuid.uuid4()), number=int(got.number), file=file, config=config
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
        if idempotency_key:
            params |= {
                "idempotency_key": idempotency_key,
                "request_hash": request_hash,
                "response": json.dumps(body, ensure_ascii=False),
            }
            stored = conn.execute(_WRITE_WITH_KEY, params).scalar_one()
        else:
            stored = conn.execute(_WRITE, params).scalar_one()
    return body if stored else None
