"""SLA timers: deadlines live on the complaints; a sweep finds the breached ones and acts.

At a stage's deadline the holder is urged (level 1); each further `escalation_step`
past it raises the level (2: the supervisors, or the department's head; 3: the centre
managers), each level once per stage. The next moment anything is due is stamped on
the complaint (`next_breach_at`, indexed), so a sweep reads only what is due, takes
each row with FOR UPDATE SKIP LOCKED and moves `next_breach_at` on in the same
transaction as the history entry and the event: two schedulers never act twice on a
breach, and one that restarts between the deadline and the scan catches up — every
level it missed once, none twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.escalation.complaints import assists, flows, service
from services.escalation.complaints.flows import next_breach
from services.escalation.config import EscalationConfig
from services.escalation.directory import service as directory
from services.escalation.lifecycle import Command, LifecycleError
from services.escalation.roster import flows as roster
from shared.clock import utcnow
from shared.db import Database
from shared.outbox import Outbox
from shared.vocabulary import Action

log = logging.getLogger(__name__)


@dataclass
class SweepResult:
    complaints: int = 0  # breached complaints looked at
    urged: int = 0
    escalated: int = 0
    more: bool = False  # the batch was full: sweep again at once
    assists_urged: int = 0  # assisting departments whose part is late (协办)


def _act(
    session: Session,
    outbox: Outbox,
    row: Any,
    *,
    now: datetime,
    config: EscalationConfig,
    decided: list[flows.Applied],
    breaches: dict[str, dict[str, Any]],
) -> tuple[int, int]:
    """Everything due on one locked complaint, oldest first; the writes are collected in
    `decided` and `breaches` for the sweep to store in a few statements."""
    urged = escalated = 0
    top = config.max_escalation_level
    if row.paused_at is not None:
        # The pause ran out (it is due, or the sweep would not hold it): the clock starts
        # again, and whatever the moved deadline makes due is acted on below.
        try:
            applied = flows.apply_in(
                session,
                outbox,
                row.id,
                Command(Action.RESUME, flows.SYSTEM, {"reason": "pause ran out"}),
                now=now,
                config=config,
                locked=row,
                defer=decided,
            )
        except LifecycleError as exc:
            log.warning("pause of %s not ended: %s", row.reference, exc)
            breaches[row.id] = {"next_breach_at": None}
            return 0, 0
        row = service.RowView(applied.complaint)
    step, current = row.breach_step, row
    interval = timedelta(seconds=row.breach_interval_seconds or 0)
    due_at, stage = row.due_at, row.stage
    next_at = row.next_breach_at
    while next_at is not None and next_at <= now:
        step += 1
        late = now - due_at
        reason = (
            f"{stage} deadline {due_at.isoformat(timespec='minutes')} passed "
            f"({_minutes(late)} late)"
        )
        # The facts, for notify to word in the reader's language; `reason` stays the
        # English line the history always had.
        breach = {
            "stage": stage,
            "due_at": due_at.isoformat(),
            "step": step,
            "late_minutes": int(late.total_seconds() // 60),
        }
        context = {"breach": breach}
        command = None
        if step == 1:
            command = Command(Action.URGE, flows.SYSTEM, {"reason": reason, "level": 1})
        elif current.escalation_level < step:
            command = Command(Action.ESCALATE, flows.SYSTEM, {"reason": reason, "level": step})
        if command is not None:
            try:
                applied = flows.apply_in(
                    session,
                    outbox,
                    row.id,
                    command,
                    now=now,
                    config=config,
                    context=context,
                    locked=current,
                    defer=decided,
                )
            except LifecycleError as exc:  # the table changed under us: log, move on
                log.warning("breach of %s not acted on: %s", row.reference, exc)
            else:
                current = service.RowView(applied.complaint)
                urged += step == 1
                escalated += step > 1
        next_at = next_breach(due_at, step, interval, top)
    breaches[row.id] = {"breach_step": step, "next_breach_at": next_at}
    return urged, escalated


def _minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def sweep(db: Database, outbox: Outbox, *, now: datetime, config: EscalationConfig) -> SweepResult:
    """One transaction: up to `sweep_batch` breached complaints, each acted on in full."""
    result = SweepResult()
    c = service.complaints
    with db.transaction() as session:
        rows = session.execute(
            select(c)
            .where(c.c.next_breach_at <= now)
            .order_by(c.c.next_breach_at)
            .limit(config.sweep_batch)
            .with_for_update(skip_locked=True)
        ).all()
        # The same few holders, departments and supervisors are told about many
        # breaches: read each from the directory once per sweep.
        session.info[directory.CACHE] = {}
        decided: list[flows.Applied] = []
        breaches: dict[str, dict[str, Any]] = {}
        for row in rows:
            urged, escalated = _act(
                session,
                outbox,
                row,
                now=now,
                config=config,
                decided=decided,
                breaches=breaches,
            )
            result.urged += urged
            result.escalated += escalated
        flows.write_deferred(session, outbox, decided, breaches)
        result.complaints = len(rows)
        result.more = len(rows) == config.sweep_batch
    return result


def sweep_assists(db: Database, outbox: Outbox, *, now: datetime, config: EscalationConfig) -> int:
    """Urge each assisting department whose part is past its deadline, once. Each part
    in a transaction of its own that locks its complaint first, as every action does."""
    with db.read() as session:
        due = assists.due_parts(session, now=now, limit=config.sweep_batch)
    urged = 0
    for complaint_id, department_id in due:
        with db.transaction() as session:
            row = service.get_complaint(session, complaint_id, for_update=True)
            part = assists.still_due(session, complaint_id, department_id, now) if row else None
            if part is None:
                continue  # another scheduler urged it, or the part was settled meanwhile
            late = assists.late_minutes(part.due_at, now)
            reason = (
                f"assisting part due {part.due_at.isoformat(timespec='minutes')} "
                f"not contributed ({late} min late)"
            )
            breach = {"due_at": part.due_at.isoformat(), "late_minutes": late}
            command = Command(
                Action.URGE_ASSIST, flows.SYSTEM, {"department_id": department_id, "reason": reason}
            )
            try:
                flows.apply_in(
                    session,
                    outbox,
                    complaint_id,
                    command,
                    now=now,
                    config=config,
                    context={"assist_breach": breach},
                    locked=row,
                )
            except LifecycleError as exc:
                log.warning(
                    "late part of %s on %s not urged: %s", department_id, row.reference, exc
                )
            else:
                urged += 1
            assists.mark_urged(session, complaint_id, department_id, now)
    return urged


def tick(db: Database, outbox: Outbox, *, now: datetime, config: EscalationConfig) -> SweepResult:
    """What the scheduler does each time: a shift change on any roster first (so
    escalations reach the manager now on duty), then every breach due."""
    roster.hand_over_all(db, outbox, now=now, config=config)
    total = SweepResult()
    while True:
        result = sweep(db, outbox, now=now, config=config)
        total.complaints += result.complaints
        total.urged += result.urged
        total.escalated += result.escalated
        if not result.more:
            total.assists_urged = sweep_assists(db, outbox, now=now, config=config)
            return total


def scheduler_loop(
    db: Database, outbox: Outbox, config: EscalationConfig
) -> Callable[[threading.Event], None]:
    """The worker's timer thread: a tick every `sweep_seconds` until told to stop."""

    def run(stop: threading.Event) -> None:
        log.info("SLA scheduler running every %.1f s", config.sweep_seconds)
        while not stop.is_set():
            try:
                result = tick(db, outbox, now=utcnow(), config=config)
                if result.complaints:
                    log.info(
                        "SLA sweep: %d breached complaints, %d urged, %d escalated",
                        result.complaints,
                        result.urged,
                        result.escalated,
                    )
            except Exception:  # a database blip: try again next time, do not die
                log.exception("SLA sweep failed; retrying in %.1f s", config.sweep_seconds)
            stop.wait(config.sweep_seconds)

    return run
