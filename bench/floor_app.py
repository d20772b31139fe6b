"""The floor any REST intake pays: a bare FastAPI endpoint that validates a small body
and inserts one row into PostgreSQL, through the same engine settings as the services.

    BENCH_FLOOR_URL=postgresql://… BENCH_FLOOR_SCHEMA=… uvicorn bench.floor_app:app
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import text

from shared.db import create_database

db = create_database(
    os.environ["BENCH_FLOOR_URL"], schema=os.environ["BENCH_FLOOR_SCHEMA"], pool_size=10
)
_INSERT = text(
    "INSERT INTO floor_rows (id, customer_phone, category, description, at) "
    "VALUES (:id, :customer_phone, :category, :description, :at)"
)

app = FastAPI()


class Body(BaseModel):
    customer_phone: str
    channel: str
    category: str
    severity: str
    nature: str
    description: str


@app.post("/complaints", status_code=201)
def insert_one(body: Body) -> dict[str, str]:
    row_id = str(uuid.uuid4())
    with db.engine.begin() as conn:
        conn.execute(
            _INSERT,
            {
                "id": row_id,
                "customer_phone": body.customer_phone,
                "category": body.category,
                "description": body.description,
                "at": datetime.now(UTC),
            },
        )
    return {"id": row_id}
