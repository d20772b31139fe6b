"""Database reads and writes for the read models; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, case, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.analytics.facts.models import (
    AssistPartFact,
    ComplaintFact,
    DepartmentName,
    FactEvent,
    RootCauseRevision,
)
from services.analytics.knowledge.models import ArticleCopy
from shared.db import table_of
from shared.tenants import DEFAULT_TENANT
from shared.vocabulary import AssistStatus

facts = table_of(ComplaintFact)
fact_events = table_of(FactEvent)
revisions = table_of(RootCauseRevision)
department_names = table_of(DepartmentName)
assist_parts = table_of(AssistPartFact)
article_copies = table_of(ArticleCopy)

# The tables a rebuild fills and compares, each with the columns that order its rows.
READ_MODELS = (
    (facts, ("complaint_id",)),
    (fact_events, ("event_id",)),
    (revisions, ("id",)),
    (department_names, ("department_id",)),
    (assist_parts, ("complaint_id", "department_id")),
    (article_copies, ("article_id",)),
)


def _insert(session: Session, table: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def get_fact(session: Session, complaint_id: str) -> dict[str, Any] | None:
    """One complaint's fact row as a dict, or None."""
    row = session.execute(select(facts).where(facts.c.complaint_id == complaint_id)).first()
    return dict(row._mapping) if row is not None else None


def find_fact(
    session: Session, id_or_reference: str, *, tenant: str | None = None
) -> dict[str, Any] | None:
    """By id, or by the reference staff have in hand (TS20261122-000123); `tenant`: only
    a complaint of that client (None: of any)."""
    fact = get_fact(session, id_or_reference)
    if fact is None:
        query = select(facts).where(facts.c.reference == id_or_reference)
        if tenant is not None:
            query = query.where(facts.c.tenant == tenant)
        row = session.execute(query.limit(1)).first()
        fact = dict(row._mapping) if row is not None else None
    if fact is not None and tenant is not None and fact["tenant"] != tenant:
        return None
    return fact


def get_facts(session: Session, complaint_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Several complaints' fact rows by id."""
    ids = list(set(complaint_ids))
    if not ids:
        return {}
    rows = session.execute(select(facts).where(facts.c.complaint_id.in_(ids)))
    return {row.complaint_id: dict(row._mapping) for row in rows}


def save_fact(session: Session, *, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
    """Insert a new fact row, or write the columns that changed."""
    if before is None:
        session.execute(insert(facts).values(**after))
        return
    changed = {k: v for k, v in after.items() if before.get(k) != v}
    if changed:
        session.execute(
            update(facts).where(facts.c.complaint_id == after["complaint_id"]).values(**changed)
        )


def save_facts(
    session: Session, *, before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> None:
    """`save_fact` for many rows: the new ones inserted together, the changed ones
    rewritten together (every column; the values are the same as column by column)."""
    new = [fact for cid, fact in after.items() if cid not in before]
    changed = [
        {**{k: v for k, v in fact.items() if k != "complaint_id"}, "b_id": cid}
        for cid, fact in after.items()
        if cid in before and fact != before[cid]
    ]
    if new:
        session.execute(insert(facts), new)
    if changed:
        stmt = update(facts).where(facts.c.complaint_id == bindparam("b_id"))
        session.execute(stmt, changed)


def add_events(session: Session, *, rows: list[dict[str, Any]]) -> None:
    if rows:
        session.execute(_insert(session, fact_events).on_conflict_do_nothing(), rows)


def add_event(session: Session, *, row: dict[str, Any]) -> None:
    session.execute(_insert(session, fact_events).values(**row).on_conflict_do_nothing())


def name_departments(
    session: Session, names: Mapping[str, tuple[str, datetime]], *, tenant: str = DEFAULT_TENANT
) -> None:
    """Keep each department's latest name: (name, as of) per id, of the client whose
    events named it; an older name read after a newer one (events of different
    complaints come in any order) changes nothing."""
    if not names:
        return
    rows = [
        {"department_id": dept, "tenant": tenant, "name": name[:100], "named_at": at}
        for dept, (name, at) in names.items()
    ]
    stmt = _insert(session, department_names)
    newer = stmt.excluded.named_at >= department_names.c.named_at
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[department_names.c.department_id],
            set_={
                "name": stmt.excluded.name,
                "named_at": stmt.excluded.named_at,
                "tenant": stmt.excluded.tenant,
            },
            where=newer,
        ),
        rows,
    )


def department_name_map(session: Session, *, tenant: str | None = None) -> dict[str, str]:
    """Every department's latest name, by id: of one client, or (None) of every one."""
    d = department_names.c
    query = select(d.department_id, d.name)
    if tenant is not None:
        query = query.where(d.tenant == tenant)
    return {row.department_id: row.name for row in session.execute(query)}


def add_revision(session: Session, *, row: dict[str, Any]) -> bool:
    """Store a revision; False if it was already stored (the event comes back from Kafka)."""
    stmt = _insert(session, revisions).values(**row).on_conflict_do_nothing()
    return session.execute(stmt.returning(revisions.c.id)).first() is not None


def revisions_of(
    session: Session, complaint_ids: Iterable[str]
) -> dict[str, list[tuple[str, datetime]]]:
    """Each complaint's stored revisions (root cause, when), oldest first."""
    ids = list(set(complaint_ids))
    if not ids:
        return {}
    rows = session.execute(
        select(revisions.c.complaint_id, revisions.c.root_cause, revisions.c.revised_at)
        .where(revisions.c.complaint_id.in_(ids))
        .order_by(revisions.c.revised_at, revisions.c.id)
    )
    found: dict[str, list[tuple[str, datetime]]] = {}
    for row in rows:
        found.setdefault(row.complaint_id, []).append((row.root_cause, row.revised_at))
    return found


def last_revision(session: Session, complaint_id: str) -> Any:
    return session.execute(
        select(revisions)
        .where(revisions.c.complaint_id == complaint_id)
        .order_by(revisions.c.revised_at.desc(), revisions.c.id.desc())
        .limit(1)
    ).first()


OWED = (AssistStatus.DISPATCHED.value, AssistStatus.ACCEPTED.value)


def apply_part_change(session: Session, change: Any, *, complaint_id: str, at: datetime) -> None:
    """Write what one lifecycle event did to a complaint's assisting parts (协办)."""
    p = assist_parts.c
    for row in change.start:
        session.execute(
            delete(assist_parts).where(
                p.complaint_id == row["complaint_id"], p.department_id == row["department_id"]
            )
        )
    if change.start:
        session.execute(insert(assist_parts), change.start)
    if change.status is None:
        return
    where = [p.complaint_id == complaint_id, p.status.in_(OWED)]
    if change.department is not None:
        where.append(p.department_id == change.department)
    values: dict[str, Any] = {"status": change.status.value}
    if change.status != AssistStatus.ACCEPTED:
        values["settled_at"] = at
    if change.status == AssistStatus.CONTRIBUTED:
        # In time if contributed by its deadline; a part without one is always in time.
        values["met"] = case((p.due_at.is_(None), True), else_=p.due_at >= at)
    session.execute(update(assist_parts).where(*where).values(values))
