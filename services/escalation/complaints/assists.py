"""Joint handling (主办/协办): the assisting departments' parts beyond what the lifecycle
judges — each part's deadline, what it contributed, the queue it sits in, and the timer
that urges a department whose part is late. The caller owns the transaction.

The lifecycle keeps each part's status on the complaint (`complaint_states.assists`);
this table follows it, row for row, in the same transaction as the action."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.orm import Session

from services.escalation.complaints.models import AssistRow
from services.escalation.config import EscalationConfig
from services.escalation.lifecycle import AssistPart, Decision
from shared.db import table_of
from shared.vocabulary import ASSIST_OUTSTANDING, Action, AssistStatus, Stage

log = logging.getLogger(__name__)

assists = table_of(AssistRow)
OUTSTANDING = tuple(status.value for status in ASSIST_OUTSTANDING)


def due_for(
    config: EscalationConfig, severity: str, now: datetime, tenant: str | None = None
) -> datetime:
    """An assisting part's deadline: its share of the client's resolution time, so the
    lead has the rest to write the answer for all."""
    allowed = config.sla(Stage.RESOLUTION, severity, tenant) * config.assist_share_percent / 100
    calendar = config.calendar
    return calendar.add(now, allowed) if calendar else now + allowed


def sync(
    session: Session,
    complaint_id: str,
    before: tuple[AssistPart, ...],
    decision: Decision,
    *,
    now: datetime,
    due_at: datetime | None,
    tenant: str,
) -> None:
    """Make the rows follow the parts the decision left: a dispatch starts each part
    afresh with its deadline; a change of status stamps when, and what was said."""
    was = {part.department_id: part.status for part in before}
    fresh = decision.action == Action.DISPATCH
    for part in decision.new.assists:
        if fresh or part.department_id not in was:
            session.execute(
                delete(assists).where(
                    assists.c.complaint_id == complaint_id,
                    assists.c.department_id == part.department_id,
                )
            )
            session.execute(
                insert(assists).values(
                    complaint_id=complaint_id,
                    department_id=part.department_id,
                    tenant=tenant,
                    status=part.status.value,
                    dispatched_at=now,
                    due_at=due_at,
                    next_breach_at=due_at,
                )
            )
        elif was[part.department_id] != part.status:
            session.execute(
                update(assists)
                .where(
                    assists.c.complaint_id == complaint_id,
                    assists.c.department_id == part.department_id,
                )
                .values(_stamps(part.status, decision.payload, now))
            )


def _stamps(status: AssistStatus, payload: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    values: dict[str, Any] = {"status": status.value}
    if status == AssistStatus.ACCEPTED:
        return values | {"accepted_at": now}
    # Contributed, declined or released: nothing more is due from it.
    values |= {"settled_at": now, "next_breach_at": None}
    if status == AssistStatus.CONTRIBUTED:
        values["contribution"] = payload.get("contribution")
    else:
        values["reason"] = payload.get("reason")
    return values


def parts_of(session: Session, complaint_id: str) -> list[Any]:
    query = (
        select(assists)
        .where(assists.c.complaint_id == complaint_id)
        .order_by(assists.c.dispatched_at, assists.c.department_id)
    )
    return list(session.execute(query))


def assisted_by(session: Session, department_id: str) -> list[str]:
    """The complaints whose part this department still owes."""
    query = select(assists.c.complaint_id).where(
        assists.c.department_id == department_id, assists.c.status.in_(OUTSTANDING)
    )
    return [str(cid) for (cid,) in session.execute(query)]


@dataclass
class AssistSweep:
    urged: int = 0


def due_parts(session: Session, *, now: datetime, limit: int) -> list[tuple[str, str]]:
    query = (
        select(assists.c.complaint_id, assists.c.department_id)
        .where(assists.c.next_breach_at <= now, assists.c.status.in_(OUTSTANDING))
        .order_by(assists.c.next_breach_at)
        .limit(limit)
    )
    return [(str(c), str(d)) for c, d in session.execute(query)]


def still_due(session: Session, complaint_id: str, department_id: str, now: datetime) -> Any:
    """The part, if it is still due once its complaint is locked (another scheduler may
    have urged it meanwhile)."""
    query = select(assists).where(
        assists.c.complaint_id == complaint_id,
        assists.c.department_id == department_id,
        and_(assists.c.next_breach_at <= now, assists.c.status.in_(OUTSTANDING)),
    )
    return session.execute(query).first()


def mark_urged(session: Session, complaint_id: str, department_id: str, now: datetime) -> None:
    session.execute(
        update(assists)
        .where(assists.c.complaint_id == complaint_id, assists.c.department_id == department_id)
        .values(urged_at=now, next_breach_at=None)
    )


def late_minutes(due_at: datetime, now: datetime) -> int:
    return max(int((now - due_at) / timedelta(minutes=1)), 0)
