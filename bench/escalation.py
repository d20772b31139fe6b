"""Escalation: one SLA scheduler sweep over 100,000 open complaints with 1 % past their
deadline, and the lifecycle actions that change a complaint, through the API.

    make bench            (or: python -m bench escalation [--quick])

The sweep figure is the time `sla.tick` takes to find the 1,000 breached complaints
among 100,000 and act on each (an urge: history entry, state, event in the outbox); a
sweep with nothing due shows the cost of looking.

The API figures are per action, against two uvicorn workers with 16 requests in flight:
the duty manager dispatches 3,000 complaints to billing, billing's clerk accepts each,
then answers each (state, history entry and outbox event in one transaction, each time),
and the duty manager urges 3,000 others; actions per second and latency (p50, p95) of
each. Before any figure: every acknowledged action is in the history exactly once with
its event in the outbox, the outbox holds as many events as actions, and each complaint
is in the state its actions imply.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import insert, text

from bench.common import (
    UNLIMITED,
    Check,
    Context,
    Figure,
    drop_schema,
    percentile,
    rate,
    say,
)
from bench.intake import Server, free_port, uvicorn_argv, wait_ready
from shared.vocabulary import Action, EventName, Role, RootCause, State

NAME = "escalation"
DESCRIPTION = "SLA sweep over 100,000 open complaints; lifecycle actions/s through the API"


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


# What the API is asked, in this order, and by whom.
PLAN = (Action.DISPATCH, Action.ACCEPT, Action.REPLY, Action.URGE)
BY = {
    Action.DISPATCH: Role.DUTY_MANAGER,
    Action.ACCEPT: Role.DEPARTMENT,
    Action.REPLY: Role.DEPARTMENT,
    Action.URGE: Role.DUTY_MANAGER,
}
BODIES: dict[Action, dict[str, Any]] = {
    Action.DISPATCH: {
        "department_id": "billing",
        "instructions": "请核实账单，三个工作日内回电客户",
    },
    Action.ACCEPT: {},
    Action.REPLY: {"resolution": "已退还多扣的 30 元并致歉", "root_cause": RootCause.SYSTEM},
    Action.URGE: {"reason": "客户再次来电催促处理进度"},
}
CONCURRENCY = 16
WARMUP = 20


@dataclass
class Phase:
    """One action taken on each of `ids` through the API, CONCURRENCY requests at a time."""

    action: Action
    ids: list[str]
    acknowledged_ids: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # ms, of the acknowledged
    refused: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def acknowledged(self) -> int:
        return len(self.acknowledged_ids)


def drive(base: str, tokens: dict[Role, str], action: Action, ids: list[str], *,
          concurrency: int) -> Phase:  # fmt: skip
    """Each complaint once, `concurrency` requests in flight; the clock runs from the
    first request to the last answer."""
    return asyncio.run(_drive(base, tokens[BY[action]], action, ids, concurrency))


async def _drive(base: str, token: str, action: Action, ids: list[str], concurrency: int) -> Phase:
    phase = Phase(action, ids)
    waiting = iter(ids)
    path = f"/actions/{action.api_name}"
    async with httpx.AsyncClient(
        base_url=base,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
        limits=httpx.Limits(max_connections=concurrency),
    ) as client:

        async def caller() -> None:
            for complaint_id in waiting:  # one iterator for all: each complaint once
                started = time.perf_counter()
                answer = await client.post(f"/complaints/{complaint_id}{path}", json=BODIES[action])
                took = (time.perf_counter() - started) * 1000
                if answer.status_code == 200:
                    phase.acknowledged_ids.append(complaint_id)
                    phase.latencies.append(took)
                else:
                    phase.refused.append(
                        f"{complaint_id}: {answer.status_code} {answer.text[:200]}"
                    )

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(concurrency)))
        phase.seconds = time.perf_counter() - started
    for refusal in phase.refused[:3]:
        say(f"{NAME}: {action.api_name} refused: {refusal}")
    return phase


def outbox_count(db: Any, *, event_type: str) -> int:
    with db.engine.connect() as conn:
        found = conn.scalar(
            text("SELECT count(*) FROM outbox WHERE event_type = :t"), {"t": event_type}
        )
    return int(found or 0)


def lifecycle_checks(
    db: Any, phases: list[Phase], *, answered: list[str], urged: list[str]
) -> Iterator[Check]:
    """Every acknowledged action in the history exactly once, with its event in the
    outbox; each complaint in the state its actions imply; nothing refused."""
    with db.engine.connect() as conn:

        def rows(sql: str, **params: Any) -> dict[Any, int]:
            found = conn.execute(text(sql), params).all()
            return {tuple(row[:-1]) if len(row) > 2 else row[0]: row[-1] for row in found}

        for phase in phases:
            name = phase.action.api_name
            yield Check(NAME, f"{name}: requests refused or failed", 0, len(phase.refused))
            yield Check(NAME, f"{name}: actions acknowledged = complaints asked", len(phase.ids),
                        phase.acknowledged)  # fmt: skip
            entries = rows(
                "SELECT complaint_id, count(*) FROM complaint_history "
                "WHERE action = :action AND complaint_id = ANY(:ids) GROUP BY complaint_id",
                action=name,
                ids=phase.ids,
            )
            once = sum(1 for cid in phase.acknowledged_ids if entries.get(cid) == 1)
            yield Check(
                NAME,
                f"{name}: history entries, and acknowledged complaints with exactly one",
                (phase.acknowledged, phase.acknowledged),
                (sum(entries.values()), once),
            )
        expected_events = {
            (ids, event): len(ids_list)
            for ids, ids_list, events in (
                (
                    "answered",
                    answered,
                    (EventName.DISPATCHED, EventName.ACCEPTED, EventName.REPLIED),
                ),
                ("urged", urged, (EventName.URGED,)),
            )
            for event in events
        }
        for label, ids in (("answered", answered), ("urged", urged)):
            events = rows(
                "SELECT event_type, count(*) FROM outbox WHERE key = ANY(:ids) GROUP BY event_type",
                ids=ids,
            )
            wanted = {e: n for (who, e), n in expected_events.items() if who == label}
            yield Check(NAME, f"outbox events of the {label} complaints = their actions",
                        wanted, events)  # fmt: skip
            paired = conn.scalar(
                text(
                    "SELECT count(*) FROM complaint_history h JOIN outbox o "
                    "ON o.event_id = h.event_id WHERE h.complaint_id = ANY(:ids)"
                ),
                {"ids": ids},
            )
            yield Check(NAME, f"history entries of the {label} complaints with their event",
                        sum(wanted.values()), paired)  # fmt: skip
        states = rows(
            "SELECT state, department_id, holder_staff_id, count(*) FROM complaint_states "
            "WHERE id = ANY(:ids) GROUP BY 1, 2, 3",
            ids=answered,
        )
        yield Check(NAME, "dispatched, accepted and answered: replied, billing's",
                    {(State.REPLIED, "billing", "DM01"): len(answered)}, states)  # fmt: skip
        states = rows(
            "SELECT state, urge_count, count(*) FROM complaint_states "
            "WHERE id = ANY(:ids) GROUP BY 1, 2",
            ids=urged,
        )
        yield Check(NAME, "urged once: still with the duty manager, urged once",
                    {(State.WITH_DUTY_MANAGER, 1): len(urged)}, states)  # fmt: skip


def run(ctx: Context) -> Iterator[Figure | Check]:
    from bench.common import bench_token
    from services.escalation import sla
    from services.escalation.config import EscalationConfig
    from services.escalation.db import outbox as outbox_table
    from services.escalation.directory.service import staff as staff_table
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
        idle, early = [], 0
        for _ in range(5):
            t = time.perf_counter()
            result = sla.tick(db, outbox, now=now - timedelta(minutes=5), config=config)
            idle.append(time.perf_counter() - t)
            early += result.complaints
        yield Check(NAME, "sweeps before any deadline: complaints acted on", 0, early)
        t = time.perf_counter()
        result = sla.tick(db, outbox, now=now, config=config)
        sweep_s = time.perf_counter() - t
        yield Check(NAME, "sweep: complaints urged = complaints past their deadline", due,
                    result.urged)  # fmt: skip
        again = sla.tick(db, outbox, now=now, config=config)
        yield Check(NAME, "a second sweep at the same time: complaints acted on", 0,
                    again.complaints)  # fmt: skip
        yield Check(NAME, "sweep: urged events in the outbox = complaints urged", due,
                    outbox_count(db, event_type=EventName.URGED))  # fmt: skip
        note = f"{total:,} open, {due:,} due, batches of {config.sweep_batch}, PostgreSQL"
        yield Figure(NAME, "SLA sweep, 1 % due (find + act)", round(sweep_s, 3), "s", note)
        yield Figure(NAME, "SLA sweep, per breach acted on", round(sweep_s / due * 1000, 3), "ms")
        yield Figure(
            NAME,
            "SLA sweep, nothing due (median of 5)",
            round(percentile(idle, 50) * 1000, 2),
            "ms",
        )

        # Lifecycle actions through the API: the duty manager dispatches complaints to
        # billing, billing's clerk accepts and answers each, and the duty manager urges
        # others; every action a request, every complaint its own, in that order.
        with db.transaction() as session:
            clerk = {"id": "CL01", "name": "CL01", "phone": "+8613900139011"}
            session.execute(
                insert(staff_table),
                [{**clerk, "role": Role.DEPARTMENT, "department_id": "billing",
                  "active": True, "created_at": now, "updated_at": now}],
            )  # fmt: skip
        auth = database_for(AUTH_STORE, settings)
        tokens = {
            Role.DUTY_MANAGER: bench_token(auth, "DM01", Role.DUTY_MANAGER),
            Role.DEPARTMENT: bench_token(auth, "CL01", Role.DEPARTMENT, "billing"),
        }
        auth.dispose()
        count = 500 if ctx.quick else 3_000
        chosen = random.Random(7).sample(not_due, 2 * count + WARMUP)
        warm, answered, urged = chosen[:WARMUP], chosen[WARMUP : WARMUP + count], chosen[-count:]
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
        base = f"http://127.0.0.1:{port}"
        phases: list[Phase] = []
        try:
            wait_ready(f"{base}/readyz")
            # Connections, pools and statements warmed by the whole life of a few.
            for action in PLAN:
                drive(base, tokens, action, warm, concurrency=CONCURRENCY)
            for action in PLAN:
                ids = urged if action == Action.URGE else answered
                phases.append(drive(base, tokens, action, ids, concurrency=CONCURRENCY))
        finally:
            api.stop()

        yield from lifecycle_checks(db, phases, answered=answered, urged=urged)
        for phase in phases:
            yield Figure(
                NAME,
                f"{phase.action.api_name} through the API",
                round(rate(phase.acknowledged, phase.seconds), 1),
                "actions/s",
                f"{len(phase.ids):,} complaints, {CONCURRENCY} connections, 2 API workers; "
                "state, history entry and outbox event in one transaction",
            )
            yield Figure(NAME, f"{phase.action.api_name} latency p50",
                         round(percentile(phase.latencies, 50), 2), "ms")  # fmt: skip
            yield Figure(NAME, f"{phase.action.api_name} latency p95",
                         round(percentile(phase.latencies, 95), 2), "ms")  # fmt: skip
        total_actions = sum(p.acknowledged for p in phases)
        total_seconds = sum(p.seconds for p in phases)
        yield Figure(
            NAME,
            "lifecycle actions through the API, all four",
            round(rate(total_actions, total_seconds), 1),
            "actions/s",
            "dispatch, accept, reply and urge together",
        )
    finally:
        db.dispose()
        for store in ("escalation", AUTH_STORE):
            drop_schema(ctx, settings.schema_for(store))
