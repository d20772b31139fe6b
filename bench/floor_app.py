"""The floor any REST intake pays: a bare FastAPI endpoint that validates a small body
and inserts one row into PostgreSQL. Two ways:

- `POST /complaints`: the way intake's registration reaches the database (an async
  psycopg pool, one autocommitted statement, no thread hop) — the like-for-like floor;
- `POST /sync/complaints`: the way most FastAPI services are written (a plain `def`
  endpoint on a thread, a SQLAlchemy transaction from the services' own engine settings).

    BENCH_FLOOR_URL=postgresql://… BENCH_FLOOR_SCHEMA=… uvicorn bench.floor_app:app
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import anyio.to_thread
from fastapi import FastAPI
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.engine import make_url

from shared.db import create_database
from shared.settings import Settings

_URL = make_url(os.environ["BENCH_FLOOR_URL"]).set(drivername="postgresql")
_SCHEMA = os.environ["BENCH_FLOOR_SCHEMA"]
_INSERT = (
    "INSERT INTO floor_rows (id, customer_phone, category, description, at) "
    "VALUES (%s, %s, %s, %s, %s)"
)
pool = AsyncConnectionPool(
    _URL.render_as_string(hide_password=False),
    min_size=2,
    max_size=10,
    kwargs={"autocommit": True, "options": f"-c search_path={_SCHEMA} -c timezone=UTC"},
    open=False,
)
sync_db = create_database(os.environ["BENCH_FLOOR_URL"], schema=_SCHEMA, pool_size=10)
_SYNC_INSERT = text(
    "INSERT INTO floor_rows (id, customer_phone, category, description, at) "
    "VALUES (:id, :phone, :category, :description, :at)"
)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    # The same thread budget as the services (shared.api), for the sync endpoint.
    anyio.to_thread.current_default_thread_limiter().total_tokens = Settings().api_threads
    await pool.open()
    yield
    await pool.close()


app = FastAPI(lifespan=lifespan)


class Body(BaseModel):
    customer_phone: str
    channel: str
    category: str
    severity: str
    nature: str
    description: str


@app.post("/complaints", status_code=201)
async def insert_one(body: Body) -> dict[str, str]:
    row_id = str(uuid.uuid4())
    async with pool.connection() as conn:
        await conn.execute(
            _INSERT,
            (row_id, body.customer_phone, body.category, body.description, datetime.now(UTC)),
        )
    return {"id": row_id}


@app.post("/sync/complaints", status_code=201)
def insert_one_sync(body: Body) -> dict[str, str]:
    row_id = str(uuid.uuid4())
    with sync_db.engine.begin() as conn:
        conn.execute(
            _SYNC_INSERT,
            {
                "id": row_id,
                "phone": body.customer_phone,
                "category": body.category,
                "description": body.description,
                "at": datetime.now(UTC),
            },
        )
    return {"id": row_id}
