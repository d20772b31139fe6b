"""Hot issues over the read models: each complaint's subject stored as it arrives, the
period's complaints read with their subjects, grouped and ranked
(services/analytics/text/issues.py), labelled from their typical complaints' words, and
kept until the period's complaints change; and the alert when an issue crosses the
threshold within a day.

A period's answer is computed once however many ask at the same time (the others wait
for it), and served again until a complaint of the period (or of the period before) is
added or changes, or the reading of subjects does. An answer is one client's, or every
client's with each client's issues apart (`Ask.tenant`), and kept under that.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import DateTime, and_, func, or_, select, type_coerce
from sqlalchemy.orm import Session

from services.analytics.facts.models import ComplaintSubject, HotIssueAlert, HotIssueAnswer
from services.analytics.facts.service import _insert, department_names, facts
from services.analytics.text import issues as grouping
from services.analytics.text.issues import Entry, Weights
from services.analytics.text.subjects import Subject, subject_of, version
from shared.contracts import HotIssueDetected
from shared.db import Database, table_of
from shared.events import Actor, registry
from shared.outbox import Outbox
from shared.privacy import mask_text
from shared.tenants import DEFAULT_TENANT
from shared.vocabulary import EventName, Role

subjects = table_of(ComplaintSubject)
alerts = table_of(HotIssueAlert)
answers = table_of(HotIssueAnswer)
FILL_BATCH = 500
EXAMPLES = 3
# How many of an issue's typical complaints its label is read from.
LABEL_FROM = 12


def subject_row(
    complaint_id: str, subject: Subject, *, tenant: str = DEFAULT_TENANT
) -> dict[str, Any]:
    return {
        "complaint_id": complaint_id,
        "tenant": tenant,
        "version": subject.version,
        "lang": subject.lang,
        "place": (subject.place or "")[:64] or None,
        "place_key": (subject.place_key or "")[:64] or None,
        "area": (subject.area or "")[:32] or None,
        "words": " ".join(subject.words)[:400],
    }


def save_subjects(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or replace subjects (a complaint received again keeps the latest reading)."""
    if not rows:
        return
    stmt = _insert(session, subjects)
    names = ("tenant", "version", "lang", "place", "place_key", "area")
    columns = {c: stmt.excluded[c] for c in names}
    columns["words"] = stmt.excluded["words"]
    session.execute(stmt.on_conflict_do_update(index_elements=["complaint_id"], set_=columns), rows)


def read_subject(
    complaint_id: str,
    description: str | None,
    location: str | None,
    *,
    tenant: str = DEFAULT_TENANT,
) -> dict[str, Any]:
    return subject_row(complaint_id, subject_of(description, location), tenant=tenant)


# --- the period's complaints ---------------------------------------------------------------


def _period_where(
    start: date, end: date, department: str | None, tenant: str | None = None
) -> list[Any]:
    c = facts.c
    where = [c.registered_day >= start, c.registered_day <= end]
    if department is not None:
        where.append(c.department_id == department)
    if tenant is not None:
        where.append(c.tenant == tenant)
    return where


def entries(
    db: Database,
    *,
    start: date,
    end: date,
    department: str | None = None,
    tenant: str | None = None,
) -> list[Entry]:
    """The period's complaints with their subjects, of one client or (None) of every
    one; those read with another version (or never) are read now and stored."""
    c, s = facts.c, subjects.c
    current = version()
    query = (
        select(
            c.complaint_id,
            c.reference,
            c.customer_key,
            # Read as the driver gives it: 200,000 rows through the UTC column type cost
            # a second; the times are only compared here, and made UTC where naive.
            type_coerce(c.registered_at, DateTime(timezone=True)).label("at"),
            c.department_id,
            c.category,
            c.tenant,
            s.version,
            s.lang,
            s.place,
            s.place_key,
            s.area,
            s.words,
        )
        .select_from(facts.outerjoin(subjects, s.complaint_id == c.complaint_id))
        .where(*_period_where(start, end, department, tenant))
    )
    with db.read() as session:
        rows = session.execute(query).all()
    stale = [r.complaint_id for r in rows if r.version != current]
    fresh = _fill(db, stale) if stale else {}
    found = []
    for cid, reference, caller, at, department, category, client, _, *read in rows:
        if fresh and cid in fresh:
            sub = fresh[cid]
            read = [sub["lang"], sub["place"], sub["place_key"], sub["area"], sub["words"]]
        lang, place, key, area, words = read
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        found.append(
            Entry(cid, reference, caller, at, lang or "zh", place, key, area,
                  tuple(words.split()) if words else (), department, category, client)
        )  # fmt: skip
    return found


def _fill(db: Database, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    c = facts.c
    made: dict[str, dict[str, Any]] = {}
    for i in range(0, len(ids), FILL_BATCH):
        chunk = ids[i : i + FILL_BATCH]
        with db.read() as session:
            texts = session.execute(
                select(c.complaint_id, c.description, c.location, c.tenant).where(
                    c.complaint_id.in_(chunk)
                )
            ).all()
        rows = [
            read_subject(t.complaint_id, t.description, t.location, tenant=t.tenant) for t in texts
        ]
        with db.transaction() as session:
            save_subjects(session, rows)
        made.update((r["complaint_id"], r) for r in rows)
    return made


def _stamps(
    db: Database,
    periods: Sequence[tuple[date, date]],
    department: str | None,
    tenant: str | None = None,
) -> tuple[Any, ...]:
    """What changes when the answer would: each period's count of complaints and latest
    change, in one pass over them."""
    c = facts.c
    columns = []
    for start, end in periods:
        inside = and_(c.registered_day >= start, c.registered_day <= end)
        columns += [func.count().filter(inside), func.max(c.updated_at).filter(inside)]
    where = [
        c.registered_day >= min(p[0] for p in periods),
        c.registered_day <= max(p[1] for p in periods),
    ]
    if department is not None:
        where.append(c.department_id == department)
    if tenant is not None:
        where.append(c.tenant == tenant)
    with db.read() as session:
        row = session.execute(select(*columns).where(*where)).one()
    return (*row, version())


# --- the answer ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    start: date
    end: date
    department: str | None = None
    weights: Weights = field(default_factory=Weights)
    min_callers: int = 3
    limit: int = 10
    # One client's issues; None: every client's, each client's apart.
    tenant: str | None = None


def local_bounds(start: date, end: date, tz: tzinfo) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


def compute(db: Database, ask: Ask, *, tz: tzinfo, now: datetime) -> dict[str, Any]:
    days = (ask.end - ask.start).days + 1
    before_start, before_end = ask.start - timedelta(days=days), ask.start - timedelta(days=1)
    window = entries(db, start=ask.start, end=ask.end, department=ask.department, tenant=ask.tenant)
    before = entries(
        db, start=before_start, end=before_end, department=ask.department, tenant=ask.tenant
    )
    start_at, end_at = local_bounds(ask.start, ask.end, tz)
    found = grouping.rank(
        window,
        before,
        start=start_at,
        end=min(end_at, max(now, start_at + timedelta(days=1))),
        weights=ask.weights,
        min_callers=ask.min_callers,
        limit=ask.limit,
    )
    _describe(db, found)
    return {
        "tenant": ask.tenant,
        "from": ask.start.isoformat(),
        "to": ask.end.isoformat(),
        "previous_from": before_start.isoformat(),
        "previous_to": before_end.isoformat(),
        "complaints": len(window),
        "previous_complaints": len(before),
        "weights": vars(ask.weights),
        "min_callers": ask.min_callers,
        "issues": found,
    }


def _describe(db: Database, found: list[dict[str, Any]]) -> None:
    """Labels, examples and department names for the issues found (their texts read for
    these few only)."""
    c = facts.c
    wanted = {cid for issue in found for cid in issue["members"][:LABEL_FROM]}
    with db.read() as session:
        rows = (
            session.execute(
                select(c.complaint_id, c.reference, c.description, c.customer_name).where(
                    c.complaint_id.in_(wanted)
                )
            ).all()
            if wanted
            else []
        )
        d = department_names.c
        names = dict(session.execute(select(d.department_id, d.name)).all())
    text = {r.complaint_id: r for r in rows}
    for issue in found:
        typical = [text[cid] for cid in issue.pop("members")[:LABEL_FROM] if cid in text]
        masked = [mask_text(r.description or "", names=(r.customer_name,)) for r in typical]
        issue["label"] = grouping.label(issue, masked)
        issue["examples"] = [
            {
                "complaint_id": r.complaint_id,
                "reference": r.reference,
                "text": _excerpt(m),
            }
            for r, m in list(zip(typical, masked, strict=True))[:EXAMPLES]
        ]
        issue["departments"] = [
            {"department_id": d, "name": names.get(d, d), "complaints": n}
            for d, n in issue["departments"].most_common()
        ]
        issue["categories"] = dict(issue["categories"].most_common(3))
        issue["first_at"] = issue["first_at"].isoformat()
        issue["last_at"] = issue["last_at"].isoformat()


def _excerpt(text: str, size: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= size else flat[:size] + "…"


def ask_key(ask: Ask) -> str:
    """The ask as a stored answer's key: a client's ask has a key of its own (an ask of
    every client keeps the key it had before there were several)."""
    parts: list[Any] = [ask.start.isoformat(), ask.end.isoformat(), ask.department,
                        vars(ask.weights), ask.min_callers, ask.limit]  # fmt: skip
    if ask.tenant is not None:
        parts.append({"tenant": ask.tenant})
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def stamp_of(db: Database, ask: Ask, now: datetime) -> str:
    """What changes when the answer would: the complaints of the period and of the one
    before, the reading of subjects, and (while the period is current) the day."""
    days = (ask.end - ask.start).days + 1
    before = (ask.start - timedelta(days=days), ask.start - timedelta(days=1))
    parts = (
        _stamps(db, [(ask.start, ask.end), before], ask.department, ask.tenant),
        now.date() if ask.end >= now.date() - timedelta(days=1) else None,
    )
    return repr(parts)[:200]


def stored_answer(db: Database, key: str) -> tuple[str, datetime, dict[str, Any]] | None:
    with db.read() as session:
        row = session.execute(
            select(answers.c.stamp, answers.c.computed_at, answers.c.answer).where(
                answers.c.ask_key == key
            )
        ).first()
    return None if row is None else (row.stamp, row.computed_at, json.loads(row.answer))


def store_answer(
    db: Database,
    key: str,
    stamp: str,
    at: datetime,
    answer: dict[str, Any],
    *,
    tenant: str | None = None,
) -> None:
    row = {
        "ask_key": key,
        "tenant": tenant,
        "stamp": stamp,
        "computed_at": at,
        "answer": json.dumps(answer),
    }
    with db.transaction() as session:
        stmt = _insert(session, answers).values(**row)
        session.execute(
            stmt.on_conflict_do_update(
                index_elements=["ask_key"],
                set_={c: stmt.excluded[c] for c in ("stamp", "computed_at", "answer")},
            )
        )


class HotIssues:
    """Computes a period's hot issues once for everyone asking at the same time, and
    keeps the answers: served again while the period's complaints are unchanged, or
    for `fresh_seconds` after they were computed while complaints keep arriving (a busy
    month changes every second). Kept in this process and in the database, where the
    worker leaves the current month's and the last 30 days' (`warm`)."""

    def __init__(self, keep: int = 64, fresh_seconds: float = 120) -> None:
        self._lock = threading.Lock()
        self._running: dict[Ask, threading.Event] = {}
        self._done: dict[Ask, tuple[str, datetime, dict[str, Any]]] = {}
        self._keep = keep
        self._fresh = timedelta(seconds=fresh_seconds)

    def _usable(self, found: tuple[str, datetime, dict[str, Any]] | None, stamp: str,
                now: datetime) -> dict[str, Any] | None:  # fmt: skip
        if found is None:
            return None
        kept_stamp, at, answer = found
        return answer if kept_stamp == stamp or now - at < self._fresh else None

    def get(self, db: Database, ask: Ask, *, tz: tzinfo, now: datetime) -> dict[str, Any]:
        stamp = stamp_of(db, ask, now)
        key = ask_key(ask)
        while True:
            with self._lock:
                if (kept := self._usable(self._done.get(ask), stamp, now)) is not None:
                    return kept
                waiting = self._running.get(ask)
                if waiting is None:
                    mine = threading.Event()
                    self._running[ask] = mine
                    break
            waiting.wait()
        try:
            stored = stored_answer(db, key)
            answer = self._usable(stored, stamp, now)
            if answer is not None and stored is not None:
                self._keep_answer(ask, stored)
                return answer
            answer = compute(db, ask, tz=tz, now=now)
            answer["computed_at"] = now.isoformat()
            self._keep_answer(ask, (stamp, now, answer))
            store_answer(db, key, stamp, now, answer, tenant=ask.tenant)
            return answer
        finally:
            with self._lock:
                self._running.pop(ask, None)
            mine.set()

    def _keep_answer(self, ask: Ask, found: tuple[str, datetime, dict[str, Any]]) -> None:
        with self._lock:
            if len(self._done) >= self._keep and ask not in self._done:
                self._done.pop(next(iter(self._done)))
            self._done[ask] = found


def warm(db: Database, asks: Sequence[Ask], *, tz: tzinfo, now: datetime) -> int:
    """Computes and stores the answers to these asks whose complaints changed since they
    were stored; how many it computed. The worker's loop: the API then finds them."""
    made = 0
    for ask in asks:
        stamp = stamp_of(db, ask, now)
        stored = stored_answer(db, ask_key(ask))
        if stored is not None and stored[0] == stamp:
            continue
        answer = compute(db, ask, tz=tz, now=now)
        answer["computed_at"] = now.isoformat()
        store_answer(db, ask_key(ask), stamp, now, answer, tenant=ask.tenant)
        made += 1
    return made


# --- alerts ---------------------------------------------------------------------------------


def due_alerts(
    db: Database,
    *,
    now: datetime,
    tz: tzinfo,
    threshold: int,
    quiet_days: int = 7,
) -> list[dict[str, Any]]:
    """Issues whose distinct callers within the day before `now` reached `threshold`
    and that the desk was not told about in the last `quiet_days` days; recorded as told
    in the same transaction the caller publishes in (see `record_alerts`). Every
    client's, each issue one client's (its `tenant`)."""
    day_ago = now - timedelta(days=1)
    start = day_ago.astimezone(tz).date()
    # The day and the days before it, read once and split at a day ago.
    read = entries(db, start=start - timedelta(days=quiet_days), end=now.astimezone(tz).date())
    window = [e for e in read if day_ago <= e.at]
    before = [e for e in read if e.at < day_ago]
    found = grouping.rank(window, before, start=day_ago, end=now, min_callers=threshold, limit=50)
    if not found:
        return []
    _describe(db, found)
    with db.read() as session:
        told = {
            row.key
            for row in session.execute(
                select(alerts.c.key).where(
                    alerts.c.key.in_([i["key"] for i in found]),
                    alerts.c.alerted_at >= now - timedelta(days=quiet_days),
                )
            )
        }
    return [i for i in found if i["key"] not in told]


def fill_recent(
    db: Database, *, now: datetime, tz: tzinfo, days: int, limit: int = FILL_BATCH
) -> int:
    """Reads the subjects of the newest complaints of the last `days` days not read yet
    (or read with another version), at most `limit`; how many it read. The worker calls
    it while idle, so hot issues seldom read texts while someone waits."""
    c, s = facts.c, subjects.c
    since = now.astimezone(tz).date() - timedelta(days=days)
    current = version()
    with db.read() as session:
        ids = list(
            session.execute(
                select(c.complaint_id)
                .select_from(facts.outerjoin(subjects, s.complaint_id == c.complaint_id))
                .where(c.registered_day >= since, or_(s.version.is_(None), s.version != current))
                .order_by(c.registered_at.desc())
                .limit(limit)
            ).scalars()
        )
    if ids:
        _fill(db, ids)
    return len(ids)


def record_alerts(
    session: Session, found: Sequence[dict[str, Any]], *, now: datetime, quiet_days: int
) -> set[str]:
    """Records the alerts; the keys of those not told within `quiet_days` (the others
    were told meanwhile, by this or another worker, and are left as they were)."""
    told: set[str] = set()
    for issue in found:
        row = {
            "key": issue["key"],
            "tenant": issue.get("tenant") or DEFAULT_TENANT,
            "label": issue["label"][:200],
            "callers": issue["callers"],
            "alerted_at": now,
        }
        stmt = _insert(session, alerts).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=["key"],
            set_={c: stmt.excluded[c] for c in ("label", "callers", "alerted_at")},
            where=alerts.c.alerted_at < now - timedelta(days=quiet_days),
        ).returning(alerts.c.key)
        told.update(session.execute(stmt).scalars())
    return told


def publish_alerts(
    db: Database,
    outbox: Outbox,
    *,
    now: datetime,
    tz: tzinfo,
    threshold: int,
    quiet_days: int,
) -> list[str]:
    """The issues that crossed the threshold within the day, each told once: recorded
    and its `analytics.hot_issue_detected` event written in one transaction, in the name
    of the issue's client (its desk is told, in its words). Their labels."""
    found = due_alerts(db, now=now, tz=tz, threshold=threshold, quiet_days=quiet_days)
    if not found:
        return []
    with db.transaction() as session:
        told = record_alerts(session, found, now=now, quiet_days=quiet_days)
        events = [
            registry.new(
                EventName.HOT_ISSUE_DETECTED,
                HotIssueDetected(
                    key=i["key"],
                    label=i["label"],
                    lang=i["lang"],
                    place=i["place"],
                    words=i["words"],
                    callers=i["callers"],
                    complaints=i["complaints"],
                    threshold=threshold,
                    first_at=i["first_at"],
                    last_at=i["last_at"],
                    detected_at=now,
                    department_ids=[d["department_id"] for d in i["departments"]],
                    references=i["references"][-EXAMPLES:],
                ),
                source="analytics",
                tenant=i.get("tenant") or DEFAULT_TENANT,
                actor=Actor(id="analytics", role=Role.SYSTEM),
                complaint_id=None,
                occurred_at=now,
            )
            for i in found
            if i["key"] in told
        ]
        outbox.add_many(session, events)
    return [i["label"] for i in found if i["key"] in told]
