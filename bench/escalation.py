"""Escalation: one SLA scheduler sweep over 100,000 open complaints with 1 % past their
deadline, and lifecycle actions per second through the API.

    make bench            (or: python -m bench escalation [--quick])

The sweep figure is the time `sla.tick` takes to find the 1,000 breached complaints
among 100,000 and act on each (an urge: history entry, state, event in the outbox); a
sweep with nothing due shows the cost of looking. The API figure is wrk against two
uvicorn workers, a duty manager urging complaints picked at random.
"""

from __future__ import annotations

import os
import random
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

from bench.common import UNLIMITED, BenchError, Check, Context, Figure, drop_schema, percentile, say
from bench.intake import Server, free_port, parse_wrk, uvicorn_argv, wait_ready
from shared.vocabulary import State

NAME = "escalation"
DESCRIPTION = "SLA sweep over 100,000 open complaints; lifecycle actions/s through the API"
LUA = Path(__file__).with_name("urge.lua")


def _settings(ctx: Context, prefix: str) -> Any:
    return ctx.settings(schema_prefix=prefix)


def seed(db: Any, *, open_complaints: int, due_share: float, now: Any) -> list[str]:
    """A directory, and open complaints with a duty manager; `due_share` of them past
    their acknowledgement deadline. Returns the ids of those not yet due."""
    from services.escalation.complaints.service import complaints
    from services.escalation.directory.service import departments, staff

    rng = random.Random(20261122)
    with db.transaction() as session:
        session.execute(
            insert(departments),
            [
                {
                    "id": "billing",
                    "name": "账务部",
                    "contact_phones": ["+8613700137001"],
                    "head_staff_id": None,
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
        people = [
            ("DM01", "duty_manager", "+8613900139001"),
            ("SV01", "supervisor", "+8613900139003"),
            ("SV02", "supervisor", "+8613900139004"),
        ]
        session.execute(
            insert(staff),
            [
                {
                    "id": sid,
                    "name": sid,
                    "phone": phone,
                    "role": role,
                    "department_id": None,
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                }
                for sid, role, phone in people
            ],
        )
    due_count = int(open_complaints * due_share)
    not_due: list[str] = []
    chunk = 5_000
    for start in range(0, open_complaints, chunk):
        rows = []
        for n in range(start, min(start + chunk, open_complaints)):
            cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            due = n < due_count
            due_at = (
                now - timedelta(minutes=1)
                if due
                else now + timedelta(minutes=rng.randint(10, 72 * 60))
            )
            if not due:
                not_due.append(cid)
            rows.append(
                {
                    "id": cid,
                    "reference": f"TS20261122-{n:06d}",
                    "customer_phone": f"+86138{n:08d}",
                    "customer_name": None,
                    "channel": "phone",
                    "category": rng.choice(["billing", "network", "service", "delivery"]),
                    "severity": "normal",
                    "nature": "genuine",
                    "strong_emotion": False,
                    "description": "上月话费账单多扣了 30 元，客服一直没有回复。",
                    "imported": False,
                    "registered_at": now - timedelta(hours=1),
                    "received_at": now - timedelta(hours=1),
                    "state": State.WITH_DUTY_MANAGER,
                    "holder_staff_id": "DM01",
                    "holder_role": "duty_manager",
                    "department_id": None,
                    "duty_manager_id": "DM01",
                    "bounce_count": 0,
                    "reopen_count": 0,
                    "urge_count": 0,
                    "escalation_level": 0,
                    "loss_verified": False,
                    "follow_up_attempts": 0,
                    "with_compensation": False,
                    "stage": "acknowledgement",
                    "due_at": due_at,
                    "breach_step": 0,
                    "next_breach_at": due_at,
                    "breach_interval_seconds": 15 * 60,
                    "history_seq": 0,
                    "history_head": None,
                    "updated_at": now,
                }
            )
        with db.transaction() as session:
            session.execute(insert(complaints), rows)
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("ANALYZE complaint_states")
        )
    return not_due


def run(ctx: Context) -> Iterator[Figure | Check]:
    from bench.common import bench_token
    from services.escalation import sla
    from services.escalation.config import EscalationConfig
    from services.escalation.db import outbox as outbox_table
    from shared.clock import utcnow
    from shared.db import database_for
    from shared.migrations import upgrade
    from shared.outbox import Outbox
    from shared.settings import AUTH_STORE

    total = 20_000 if ctx.quick else 100_000
    prefix = f"b{uuid.uuid4().hex[:6]}_"
    settings = _settings(ctx, prefix)
    for store in ("escalation", AUTH_STORE):
        upgrade(store, url=ctx.database_url, schema=settings.schema_for(store))
    db = database_for("escalation", settings)
    try:
        now = utcnow()
        started = time.perf_counter()
        not_due = seed(db, open_complaints=total, due_share=0.01, now=now)
        say(f"{NAME}: {total:,} open complaints stored in {time.perf_counter() - started:.1f}s")
        config = EscalationConfig(default_duty_manager="DM01")
        outbox = Outbox(outbox_table, lanes=settings.outbox_lanes)
        due = total // 100

        # The first tick also hands everything to the manager on duty once (a no-op here:
        # they already hold it); measure sweeps from the second on.
        sla.tick(db, outbox, now=now - timedelta(minutes=5), config=config)
        idle = []
        for _ in range(5):
            t = time.perf_counter()
            result = sla.tick(db, outbox, now=now - timedelta(minutes=5), config=config)
            idle.append(time.perf_counter() - t)
            if result.complaints:
                raise BenchError("a sweep before any deadline found breaches")
        t = time.perf_counter()
        result = sla.tick(db, outbox, now=now, config=config)
        sweep_s = time.perf_counter() - t
        if result.urged != due:
            raise BenchError(f"the sweep urged {result.urged} complaints, not {due}")
        again = sla.tick(db, outbox, now=now, config=config)
        if again.complaints:
            raise BenchError("a second sweep acted on breaches again")
        note = f"{total:,} open, {due:,} due, batches of {config.sweep_batch}, PostgreSQL"
        yield Figure(NAME, "SLA sweep, 1 % due (find + act)", round(sweep_s, 3), "s", note)
        yield Figure(NAME, "SLA sweep, per breach acted on", round(sweep_s / due * 1000, 3), "ms")
        yield Figure(
            NAME,
            "SLA sweep, nothing due (median of 5)",
            round(percentile(idle, 50) * 1000, 2),
            "ms",
        )

        # Lifecycle actions through the API.
        auth = database_for(AUTH_STORE, settings)
        token = bench_token(auth, "DM01", "duty_manager")
        auth.dispose()
        ids = random.Random(7).sample(not_due, 2_000)
        env = {
            **os.environ,
            "DATABASE_URL": ctx.database_url,
            "SCHEMA_PREFIX": prefix,
            "KAFKA_BOOTSTRAP_SERVERS": ctx.kafka_bootstrap,
            "ACCESS_LOG": "false",
            "LOG_LEVEL": "WARNING",
            "ESCALATION_DEFAULT_DUTY_MANAGER": "DM01",
            **UNLIMITED,
        }
        port = free_port()
        log_dir = ctx.run_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        api = Server(
            uvicorn_argv("services.escalation.main:create_app", port, 2, True),
            env,
            log_dir / "escalation-api.log",
        )
        seconds = 5 if ctx.quick else 20
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz")
            wrk_env = {**os.environ, "BENCH_TOKEN": token, "BENCH_IDS": ",".join(ids)}

            def wrk(secs: int) -> Any:
                out = subprocess.run(
                    [
                        *("wrk", "-t1", "-c16", f"-d{secs}s", "--latency", "--timeout", "10s"),
                        *("-s", str(LUA), f"http://127.0.0.1:{port}"),
                    ],
                    env=wrk_env,
                    capture_output=True,
                    text=True,
                    check=True,
                )
                return parse_wrk(out.stdout)

            wrk(2)
            load = wrk(seconds)
        finally:
            api.stop()
        note = f"{seconds}s, 16 connections, 2 API workers, urge on 2,000 complaints"
        yield Figure(
            NAME,
            "lifecycle actions through the API",
            round(load.requests_per_s, 1),
            "actions/s",
            note,
        )
        yield Figure(NAME, "lifecycle action latency p50", round(load.latency_ms["p50"], 2), "ms")
        yield Figure(NAME, "lifecycle action latency p99", round(load.latency_ms["p99"], 2), "ms")
        if load.non_2xx or load.errors:
            raise BenchError(f"{load.non_2xx} failed answers, {load.errors} socket errors")
    finally:
        db.dispose()
        for store in ("escalation", AUTH_STORE):
            drop_schema(ctx, settings.schema_for(store))
