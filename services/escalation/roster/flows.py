"""Who is on duty, keeping the roster, and handing open complaints over at a shift change."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session

from services.escalation.complaints import flows as complaint_flows
from services.escalation.complaints import service as complaints
from services.escalation.config import EscalationConfig
from services.escalation.directory import service as directory
from services.escalation.lifecycle import Command, LifecycleError
from services.escalation.roster import service
from services.escalation.roster.duty import on_duty, own_rosters
from services.escalation.roster.models import OnDuty, ShiftCreate, ShiftRead
from shared.contracts import DUTY_HANDED_OVER, DutyHandedOver, HandedOverItem, Recipient
from shared.db import Database
from shared.errors import Conflict, NotFound, Unprocessable
from shared.events import SYSTEM as SYSTEM_ACTOR
from shared.events import registry
from shared.outbox import Outbox
from shared.tenants import DEFAULT_TENANT, UnknownTenant, tenants
from shared.vocabulary import Action, Audience, Role, Severity, State

log = logging.getLogger(__name__)


def on_duty_read(
    session: Session, at: datetime, config: EscalationConfig, tenant: str | None = None
) -> OnDuty:
    choice = on_duty(session, at, config, tenant)
    person = directory.get_staff(session, choice.staff_id) if choice.staff_id else None
    return OnDuty(
        at=at,
        staff_id=choice.staff_id,
        role=Role.DUTY_MANAGER if choice.staff_id else Role.SUPERVISOR,
        shift=ShiftRead.model_validate(choice.shift) if choice.shift is not None else None,
        via=choice.via,
        name=person.name if person else None,
        phone=person.phone if person else None,
        tenant=tenant,
        roster_tenant=choice.roster,
    )


# --- keeping the roster ---------------------------------------------------------------


def _check_manager(session: Session, field: str, staff_id: str | None, roster: str | None) -> None:
    if staff_id is None:
        return
    row = directory.get_staff(session, staff_id)
    if row is None:
        raise Unprocessable(field, f"no staff {staff_id!r} in the directory")
    if not row.active:
        raise Unprocessable(field, f"{staff_id} is no longer active")
    if row.role != Role.DUTY_MANAGER:
        raise Unprocessable(field, f"{staff_id} is a {row.role}, not a duty_manager")
    if row.tenant is not None and row.tenant != roster:
        # The shared roster's manager takes every client's complaints: one of the centre's.
        whose = f"the own roster of {roster}" if roster else "the centre's shared roster"
        raise Unprocessable(
            field, f"{staff_id} works for client {row.tenant}, and cannot be on {whose}"
        )


def check_roster(roster: str | None) -> None:
    """A shift goes on the shared roster, or on the own roster of a client that keeps one."""
    if roster is None:
        return
    try:
        client = tenants().require(roster)
    except UnknownTenant as exc:
        raise Unprocessable("tenant", str(exc)) from None
    if not client.own_roster:
        raise Unprocessable(
            "tenant",
            f"client {roster} keeps no roster of its own (own_roster): the centre's shared "
            "roster serves it",
        )


def create_shift(
    db: Database, data: ShiftCreate, *, by: str, now: datetime, roster: str | None = None
) -> ShiftRead:
    """A shift on the roster of `roster` (a client keeping its own), or the shared one."""
    check_roster(roster)
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        **data.model_dump(),
        "tenant": roster,
        "created_by": by,
        "created_at": now,
    }
    with db.transaction() as session:
        _check_manager(session, "staff_id", data.staff_id, roster)
        _check_manager(session, "backup_staff_id", data.backup_staff_id, roster)
        # One manager on duty at a time on each roster: a shift that overlaps another of
        # its roster is refused. Two concurrent creations are serialised on its desk row.
        service.lock_desk(session, roster)
        clash = service.overlapping(session, data.starts_at, data.ends_at, roster)
        if clash is not None:
            raise Conflict(
                f"the shift overlaps shift {clash.id} of {clash.staff_id} "
                f"({clash.starts_at.isoformat()} to {clash.ends_at.isoformat()})",
                shift_id=clash.id,
            )
        service.insert_shift(session, values=values)
    return ShiftRead.model_validate(values)


def delete_shift(
    db: Database, shift_id: str, *, now: datetime, planner_tenant: str | None = None
) -> None:
    """Remove a shift still to come; a planner who works for one client, only one of its
    own roster (any other is not found)."""
    with db.transaction() as session:
        row = service.get_shift(session, shift_id)
        if row is None or (planner_tenant is not None and row.tenant != planner_tenant):
            raise NotFound(f"no shift {shift_id!r}", shift_id=shift_id)
        if row.starts_at <= now:
            raise Conflict(
                f"shift {shift_id} has started; only shifts still to come can be removed",
                shift_id=shift_id,
            )
        service.delete_shift(session, shift_id)


# --- the hand-over at a shift change ----------------------------------------------------


@dataclass(frozen=True)
class HandOver:
    from_staff_id: str | None
    to_staff_id: str
    complaint_ids: list[str]


def hand_over_all(
    db: Database, outbox: Outbox, *, now: datetime, config: EscalationConfig
) -> list[HandOver]:
    """Each roster's hand-over, if its manager changed: the shared roster's, then each
    client's own, a transaction each."""
    done = []
    for roster in [None, *own_rosters()]:
        with db.transaction() as session:
            handed = hand_over_if_changed(session, outbox, now=now, config=config, roster=roster)
        if handed is not None:
            done.append(handed)
    return done


def hand_over_if_changed(
    session: Session,
    outbox: Outbox,
    *,
    now: datetime,
    config: EscalationConfig,
    roster: str | None = None,
) -> HandOver | None:
    """If the manager on duty for a roster (a client's own, or the shared one) is not
    the one its open complaints were last handed to, move each of them to them: a
    `handed_over` entry and event on each, and one `duty.handed_over` event listing them
    for a summary SMS. A client's own roster with nobody on duty hands its complaints to
    the shared roster's manager. The desk row lock makes this happen once however many
    schedulers run."""
    desk = service.lock_desk(session, roster)
    choice = on_duty(session, now, config, roster)
    if choice.staff_id is None or choice.staff_id == desk.staff_id:
        return None
    incoming = choice.staff_id
    shift_id = choice.shift.id if choice.shift is not None else None
    c = complaints.complaints
    unowned = and_(
        c.c.duty_manager_id.is_(None),
        c.c.holder_role == Role.SUPERVISOR.value,
        c.c.holder_staff_id.is_(None),
        c.c.bounce_count < config.max_returns,
    )
    served: ColumnElement[bool] = true()
    if roster is not None:
        served = c.c.tenant == roster
    elif own_rosters():
        # Every client but those keeping a roster of their own.
        served = c.c.tenant.not_in(own_rosters())
    rows = session.execute(
        select(c.c.id)
        .where(
            c.c.state != State.CLOSED.value,
            served,
            or_(c.c.duty_manager_id != incoming, unowned),
        )
        .order_by(c.c.due_at, c.c.id)
        .with_for_update()
    ).all()
    moved: list[dict[str, Any]] = []
    context: dict[str, Any] = {"shift_id": shift_id, "shift_change": True}
    if roster is not None:
        context["roster"] = roster
        if choice.fallback:
            context["roster_fallback"] = choice.fallback
    for (complaint_id,) in rows:
        command = Command(Action.HAND_OVER, complaint_flows.SYSTEM, {"staff_id": incoming})
        try:
            applied = complaint_flows.apply_in(
                session, outbox, complaint_id, command, now=now, config=config, context=context
            )
        except LifecycleError as exc:  # e.g. received and never assigned
            log.info("complaint %s not handed over: %s", complaint_id, exc)
            continue
        moved.append(applied.complaint)
    service.set_desk(session, staff_id=incoming, shift_id=shift_id, since=now, roster=roster)
    outgoing = desk.staff_id
    person = directory.get_staff(session, incoming)
    recipients = []
    if person is not None and person.active:
        recipients.append(
            Recipient(
                audience=Audience.DUTY_MANAGER,
                phone=person.phone,
                staff_id=person.id,
                name=person.name,
            )
        )
    urgent = sum(1 for m in moved if m["severity"] == Severity.URGENT or m["strong_emotion"])
    overdue = sum(1 for m in moved if m["due_at"] is not None and m["due_at"] < now)
    summary = (
        f"On duty from {now:%H:%M} UTC: {len(moved)} open complaints handed over"
        + (f" from {outgoing}" if outgoing else "")
        + (f", {urgent} urgent" if urgent else "")
        + (f", {overdue} overdue" if overdue else "")
    )
    payload = DutyHandedOver(
        shift_id=shift_id,
        from_staff_id=outgoing,
        to_staff_id=incoming,
        recipients=recipients,
        at=now,
        complaints=[
            HandedOverItem(
                complaint_id=m["id"],
                reference=m["reference"],
                state=m["state"],
                severity=m["severity"],
                category=m["category"],
                due_at=m["due_at"],
                escalation_level=m["escalation_level"],
            )
            for m in moved
        ],
        summary=summary,
        roster_tenant=roster,
    )
    event = registry.new(
        DUTY_HANDED_OVER.name,
        payload,
        source=complaint_flows.SOURCE,
        tenant=roster or DEFAULT_TENANT,
        actor=SYSTEM_ACTOR,
        complaint_id=None,
        occurred_at=now,
    )
    outbox.add(session, event)
    log.info(
        "shift change on the %s roster: %d open complaints handed from %s to %s",
        roster or "shared",
        len(moved),
        outgoing,
        incoming,
    )
    return HandOver(outgoing, incoming, [m["id"] for m in moved])
