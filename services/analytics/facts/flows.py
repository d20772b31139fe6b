"""What analytics does with each event, and QA's root-cause revision.

Each handler runs inside the consumer's transaction, after the inbox has claimed the
event: the fact row, the event log row and the inbox row commit together.

A complaint belongs to the client (tenant) its first event named; an event naming
another client for it is refused whole (shared.consumer.Refused: dead-lettered, nothing
applied), so no client's event reaches another client's figures.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.orm import Session

from services.analytics.facts import projection, service
from services.analytics.facts.models import RootCauseRead, RootCauseUpdate
from shared.consumer import Refused
from shared.contracts import ComplaintReceived, LifecycleChanged, RootCauseRevised
from shared.db import Database
from shared.errors import NotFound
from shared.events import Actor, Event, registry
from shared.outbox import Outbox
from shared.vocabulary import EventName

SOURCE = "analytics"
REVISED = EventName.ROOT_CAUSE_REVISED


def _born(session: Session, fact: projection.Fact) -> projection.Fact:
    """A fact made now takes the QA revisions of its complaint that were read first."""
    found = service.revisions_of(session, [fact["complaint_id"]])
    return projection.with_revisions(fact, found.get(fact["complaint_id"], []))


def tenant_problem(event: Event[Any], fact: projection.Fact | None) -> str | None:
    """Why an event may not touch the complaint's fact: it names another client than the
    one the complaint belongs to. None when it may."""
    if fact is None or fact["tenant"] == event.envelope.tenant:
        return None
    return (
        f"'{event.type}' names client '{event.envelope.tenant}' for complaint "
        f"{fact['complaint_id']} ({fact['reference']}), which belongs to '{fact['tenant']}'"
    )


def _own(event: Event[Any], fact: projection.Fact | None) -> None:
    problem = tenant_problem(event, fact)
    if problem is not None:
        raise Refused(problem, error_class="tenant")


def on_received(session: Session, event: Event[Any], tz: tzinfo) -> None:
    payload: ComplaintReceived = event.payload
    envelope = event.envelope
    before = service.get_fact(session, payload.complaint_id)
    _own(event, before)
    after = projection.received(
        before, payload, envelope.occurred_at, tz, tenant=envelope.tenant, by=envelope.actor
    )
    if before is None:
        after = _born(session, after)
    service.save_fact(session, before=before, after=after)


def on_lifecycle(session: Session, event: Event[Any], tz: tzinfo) -> None:
    payload: LifecycleChanged = event.payload
    at, tenant = event.envelope.occurred_at, event.envelope.tenant
    before = service.get_fact(session, payload.complaint_id)
    _own(event, before)
    after = projection.lifecycle(before, payload, event.type, at, tz, tenant=tenant)
    if after is None:
        return  # an older entry than the fact already reflects
    if before is None:
        after = _born(session, after)
    service.save_fact(session, before=before, after=after)
    event_id = str(event.envelope.event_id)
    row = projection.event_row(payload, event.type, event_id, at, tz, tenant=tenant)
    service.add_event(session, row=row)
    change = projection.assist_change(payload, event.type, at, tz, tenant=tenant)
    service.apply_part_change(session, change, complaint_id=payload.complaint_id, at=at)
    if payload.department_id and payload.department_name:
        named = {payload.department_id: (payload.department_name, at)}
        service.name_departments(session, named, tenant=tenant)


def on_revised(session: Session, event: Event[Any], tz: tzinfo) -> None:
    payload: RootCauseRevised = event.payload
    before = service.get_fact(session, payload.complaint_id)
    _own(event, before)
    row = _revision_row(str(event.envelope.event_id), payload, event.envelope.tenant)
    stored = service.add_revision(session, row=row)
    if stored and before is not None:
        after = projection.revised(before, payload, event.envelope.occurred_at)
        service.save_fact(session, before=before, after=after)


def apply_events(
    session: Session, events: Sequence[Event[Any]], tz: tzinfo
) -> list[tuple[Event[Any], str]]:
    """What `on_received`, `on_lifecycle` and `on_revised` do for each event in turn,
    with the batch's facts read in one query and written in a few: the rebuild's path.
    The rows are the same as the handlers' one event at a time (the projection is pure);
    the events must be claimed already, and be of the types those handlers take. The
    events the handlers would refuse (another client's, `tenant_problem`) are left out,
    as the consumer dead-letters them: returned with the reason."""
    stored = service.get_facts(session, (event.payload.complaint_id for event in events))
    current = dict(stored)
    # Revisions of complaints without a fact yet, for the fact when it is made (_born).
    waiting = service.revisions_of(
        session, (e.payload.complaint_id for e in events if e.payload.complaint_id not in stored)
    )
    event_rows = []
    names: dict[str, dict[str, tuple[str, datetime]]] = {}
    refused: list[tuple[Event[Any], str]] = []
    for event in events:
        payload, at = event.payload, event.envelope.occurred_at
        tenant = event.envelope.tenant
        complaint_id = payload.complaint_id
        before = current.get(complaint_id)
        if (problem := tenant_problem(event, before)) is not None:
            refused.append((event, problem))
            continue
        if event.type == EventName.COMPLAINT_RECEIVED:
            by = event.envelope.actor
            after = projection.received(before, payload, at, tz, tenant=tenant, by=by)
        elif event.type == REVISED:
            row = _revision_row(str(event.envelope.event_id), payload, tenant)
            if service.add_revision(session, row=row):
                if before is not None:
                    current[complaint_id] = projection.revised(before, payload, at)
                else:
                    waiting.setdefault(complaint_id, []).append((payload.root_cause, at))
            continue
        else:
            lifecycle_after = projection.lifecycle(
                before, payload, event.type, at, tz, tenant=tenant
            )
            if lifecycle_after is None:
                continue  # an older entry than the fact already reflects
            after = lifecycle_after
            change = projection.assist_change(payload, event.type, at, tz, tenant=tenant)
            service.apply_part_change(session, change, complaint_id=complaint_id, at=at)
            event_id = str(event.envelope.event_id)
            row = projection.event_row(payload, event.type, event_id, at, tz, tenant=tenant)
            event_rows.append(row)
            if payload.department_id and payload.department_name:
                named = names.setdefault(tenant, {})
                known = named.get(payload.department_id)
                if known is None or known[1] <= at:
                    named[payload.department_id] = (payload.department_name, at)
        if before is None:
            after = projection.with_revisions(after, waiting.pop(complaint_id, []))
        current[complaint_id] = after
    service.save_facts(session, before=stored, after=current)
    service.add_events(session, rows=event_rows)
    for tenant, named in names.items():
        service.name_departments(session, named, tenant=tenant)
    return refused


def _revision_row(revision_id: str, p: RootCauseRevised, tenant: str) -> dict[str, Any]:
    return {
        "id": revision_id,
        "complaint_id": p.complaint_id,
        "tenant": tenant,
        "root_cause": p.root_cause,
        "previous": p.previous,
        "note": p.note,
        "revised_by": p.revised_by,
        "revised_at": p.revised_at,
    }


def revise_root_cause(
    db: Database,
    outbox: Outbox,
    complaint_id: str,
    data: RootCauseUpdate,
    *,
    staff_id: str,
    role: str,
    now: datetime,
    tenant: str | None = None,
) -> RootCauseRead:
    """QA's revision: stored with its event in one transaction. The event goes to the
    lifecycle topic, so a rebuild from the topics replays it; when the worker reads it
    back, the revision is already there and nothing happens twice. `tenant`: only a
    complaint of that client (the reviser's); another client's is answered as if it did
    not exist."""
    with db.transaction() as session:
        before = service.find_fact(session, complaint_id, tenant=tenant)
        if before is None:
            raise NotFound(f"no complaint {complaint_id} in analytics", complaint_id=complaint_id)
        complaint_id = before["complaint_id"]  # a reference was given: the id from here on
        note = data.note.strip() if data.note and data.note.strip() else None
        payload = RootCauseRevised(
            complaint_id=complaint_id,
            reference=before["reference"],
            root_cause=data.root_cause,
            previous=before["root_cause"],
            note=note,
            revised_by=staff_id,
            revised_at=now,
        )
        event_id = uuid.uuid4()
        envelope = registry.new(
            REVISED,
            payload,
            source=SOURCE,
            tenant=before["tenant"],
            actor=Actor(id=staff_id, role=role),
            complaint_id=complaint_id,
            occurred_at=now,
            event_id=event_id,
        )
        service.add_revision(session, row=_revision_row(str(event_id), payload, before["tenant"]))
        after = projection.revised(before, payload, now)
        service.save_fact(session, before=before, after=after)
        outbox.add(session, envelope)
    return RootCauseRead(
        complaint_id=complaint_id,
        tenant=after["tenant"],
        reference=after["reference"],
        root_cause=after["root_cause"],
        root_cause_reported=after["root_cause_reported"],
        revisions=after["root_cause_revisions"],
        revised_by=staff_id,
        revised_at=now,
    )


def root_cause_of(
    db: Database, complaint_id: str, *, department: str | None = None, tenant: str | None = None
) -> RootCauseRead:
    """`department`: only a complaint with that department (a department user's view);
    `tenant`: only a complaint of that client; another department's or client's is
    answered as if it did not exist."""
    with db.read() as session:
        fact = service.find_fact(session, complaint_id, tenant=tenant)
        if fact is None or (department is not None and fact["department_id"] != department):
            raise NotFound(f"no complaint {complaint_id} in analytics", complaint_id=complaint_id)
        last = service.last_revision(session, fact["complaint_id"])
    return RootCauseRead(
        complaint_id=fact["complaint_id"],
        tenant=fact["tenant"],
        reference=fact["reference"],
        root_cause=fact["root_cause"],
        root_cause_reported=fact["root_cause_reported"],
        revisions=fact["root_cause_revisions"],
        revised_by=last.revised_by if last else None,
        revised_at=last.revised_at if last else None,
    )
