"""Database reads and writes of search: the documents, the replies, and the queries that
find complaints by their words; the caller owns the transaction.

On PostgreSQL a search is one statement: the matching complaints that pass the filters,
newest first, at most `ranked` of them; those ranked by `ts_rank_cd`; a page of them
taken, and its complaints read. A word in more complaints than `ranked` is ranked among
its newest `ranked`, so that a word in half of a million complaints costs what a word in
a thousand does. How the newest are found follows the statistics of the words (`_way`):
a common word's by walking back in time, the others' through the GIN index, first within
a recent stretch where many are expected. SQLite does the same with the words themselves
(`LIKE` on each, in its place among the others) and ranks in Python (search.words.rank).
"""

from __future__ import annotations

import base64
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import (
    ColumnElement,
    Float,
    and_,
    any_,
    case,
    cast,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from services.intake.complaints.service import complaints
from services.intake.search.models import Reply, SearchDocument
from services.intake.search.words import Query, rank
from shared.db import table_of

documents = table_of(SearchDocument)
replies = table_of(Reply)

# How many of a query's newest matches are ranked by relevance (see the module's doc).
RANKED = 1000
DAY = timedelta(days=1)
_SIMPLE: Any = literal_column("'simple'::regconfig")


def add_words(session: Session, complaint_id: str, words: str) -> None:
    """Words of a note or a reply, added to the complaint's document."""
    if not words:
        return
    session.execute(
        update(documents)
        .where(documents.c.complaint_id == complaint_id)
        .values(more_words=documents.c.more_words + " " + words)
    )


def add_reply(session: Session, row: dict[str, Any]) -> None:
    session.execute(replies.insert().values(**row))


def last_reply(session: Session, complaint_id: str) -> str | None:
    return session.execute(
        select(replies.c.resolution)
        .where(replies.c.complaint_id == complaint_id)
        .order_by(replies.c.history_seq.desc(), replies.c.id.desc())
        .limit(1)
    ).scalar()


def reply_of(session: Session, complaint_id: str, *, history_seq: int | None = None) -> Any:
    """A complaint's reply as the lifecycle gave it: the one of that history entry, or
    the latest."""
    query = select(replies).where(replies.c.complaint_id == complaint_id)
    if history_seq is not None:
        query = query.where(replies.c.history_seq == history_seq)
    return session.execute(
        query.order_by(replies.c.history_seq.desc(), replies.c.id.desc()).limit(1)
    ).first()


def replies_of(session: Session, complaint_ids: Sequence[str]) -> list[Any]:
    return list(
        session.execute(
            select(replies.c.complaint_id, replies.c.resolution)
            .where(replies.c.complaint_id.in_(complaint_ids))
            .order_by(replies.c.id)
        )
    )


def words_of(session: Session, complaint_ids: Sequence[str]) -> dict[str, str]:
    """Each complaint's own words (description and place), as indexed."""
    rows = session.execute(
        select(documents.c.complaint_id, documents.c.words).where(
            documents.c.complaint_id.in_(complaint_ids)
        )
    )
    return {r.complaint_id: r.words for r in rows}


# --- finding complaints by their words ----------------------------------------------------


def encode_cursor(rank: float, registered_at: datetime, complaint_id: str) -> str:
    """Where a page of hits ended: its last hit's rank, time and id (repr keeps the rank
    exact, so the next page starts right after it)."""
    raw = json.dumps([repr(rank), registered_at.isoformat(), complaint_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, datetime, str]:
    """Raises ValueError on anything that is not a cursor of a search."""
    padded = cursor + "=" * (-len(cursor) % 4)
    r, at, cid = json.loads(base64.urlsafe_b64decode(padded.encode()))
    when = datetime.fromisoformat(at)
    if when.tzinfo is None or not isinstance(cid, str) or not isinstance(r, str):
        raise ValueError("malformed cursor")
    rank = float(r)
    if not math.isfinite(rank):
        raise ValueError("malformed cursor")
    return rank, when, cid


@dataclass(frozen=True)
class Filters:
    """What narrows a search besides its words; `name` finds the customer's name as
    registered (any case), `unnamed` leaves out complaints whose customer's name holds
    one of those words (for readers who may not look a customer up by name)."""

    # The caller's files (complaints.service.customer_keys): with one client or each.
    phone: tuple[str, ...] = ()
    tenant: str | None = None
    status: str | None = None
    category: str | None = None
    department_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    name: str | None = None
    unnamed: tuple[str, ...] = ()

    @property
    def on_complaints(self) -> bool:
        return bool(
            self.phone
            or self.tenant
            or self.status
            or self.category
            or self.department_id
            or self.unnamed
        )


@dataclass(frozen=True)
class Hit:
    row: Any  # the complaint
    rank: float


def _tsquery(text: str) -> Any:
    return func.to_tsquery(_SIMPLE, literal(text))


def _conditions(f: Filters) -> list[ColumnElement[bool]]:
    s, c = documents.c, complaints.c
    found: list[ColumnElement[bool]] = []
    if f.phone:
        found.append(c.customer_key.in_(list(f.phone)))
    if f.tenant:
        found.append(c.tenant == f.tenant)
    if f.status:
        found.append(c.status == f.status)
    if f.category:
        found.append(c.category == f.category)
    if f.department_id:
        found.append(c.department_id == f.department_id)
    if f.since:
        found.append(s.registered_at >= f.since)
    if f.until:
        found.append(s.registered_at < f.until)
    if f.unnamed:
        named = or_(*(c.customer_name.ilike(f"%{_escaped(w)}%", escape="\\") for w in f.unnamed))
        found.append(or_(c.customer_name.is_(None), not_(named)))
    return found


def _escaped(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _after(
    rank_col: Any, at_col: Any, id_col: Any, after: tuple[float, datetime, str]
) -> ColumnElement[bool]:
    r, at, cid = after
    return or_(rank_col < r, and_(rank_col == r, tuple_(at_col, id_col) < tuple_(at, cid)))


def find(
    session: Session,
    query: Query,
    filters: Filters,
    *,
    after: tuple[float, datetime, str] | None = None,
    limit: int = 50,
    ranked: int = RANKED,
) -> list[Hit]:
    """Complaints whose words hold `query`, most relevant first (then newest); `after`
    is the (rank, registered_at, id) of the last hit already seen."""
    if session.get_bind().dialect.name == "postgresql":
        return _find_postgres(session, query, filters, after=after, limit=limit, ranked=ranked)
    return _find_sqlite(session, query, filters, after=after, limit=limit, ranked=ranked)


def _named(name: str) -> Any:
    c = complaints.c
    return func.array(
        select(c.id).where(func.lower(c.customer_name) == name.lower()).scalar_subquery()
    )


@dataclass(frozen=True)
class _Stats:
    """How many documents there are, how often the commonest words are in them and over
    which time, as PostgreSQL's statistics have it (ANALYZE)."""

    documents: float
    shares: dict[str, float]
    rarest: float  # the least share the statistics name; words they do not are rarer
    oldest: datetime | None
    newest: datetime | None
    read_at: float

    def share(self, query: Query) -> float:
        """The share of documents holding the query's words (each word's, multiplied)."""
        found = 1.0
        for group in query.groups:
            found *= min(self.shares.get(w, self.rarest / 2) for w in group)
        return found


# Per engine: each service's engine reads one schema.
_stats: WeakKeyDictionary[Any, _Stats] = WeakKeyDictionary()
_STATS_SECONDS = 600


def _statistics(session: Session) -> _Stats:
    engine = session.get_bind().engine
    found = _stats.get(engine)
    if found is not None and time.monotonic() - found.read_at < _STATS_SECONDS:
        return found
    row = session.execute(
        text(
            "SELECT c.reltuples, s.most_common_elems::text::text[] AS words, "
            "s.most_common_elem_freqs AS shares, t.histogram_bounds::text::timestamptz[] "
            "AS times FROM pg_class c "
            "LEFT JOIN pg_stats s ON s.schemaname = current_schema() "
            "AND s.tablename = 'search_documents' AND s.attname = 'document' "
            "LEFT JOIN pg_stats t ON t.schemaname = current_schema() "
            "AND t.tablename = 'search_documents' AND t.attname = 'registered_at' "
            "WHERE c.oid = 'search_documents'::regclass"
        )
    ).one()
    words, shares, times = row.words or [], row.shares or [], row.times or []
    found = _Stats(
        documents=max(float(row.reltuples), 0.0),
        shares=dict(zip(words, shares, strict=False)),
        # After the words' shares come the least and the greatest of them.
        rarest=float(shares[len(words)]) if len(shares) > len(words) else 0.0,
        oldest=times[0] if times else None,
        newest=times[-1] if times else None,
        read_at=time.monotonic(),
    )
    _stats[engine] = found
    return found


@dataclass(frozen=True)
class _Way:
    """How to find a query's newest matches: by walking back in time (a word in many
    documents), or through the words' index; and first among those registered since
    `since` only, where so many match that the newest are surely that recent."""

    walk: bool = False
    since: datetime | None = None


def _way(session: Session, query: Query, f: Filters, ranked: int) -> _Way:
    """Walking back finds the `ranked` newest sooner than the words' index finds them all
    when a share above sqrt(ranked / documents) holds the words (both then read as many
    documents). Below it, the index finds them all, and each one costs a read: so where
    the statistics expect many more than `ranked`, a recent stretch that should hold
    twice `ranked` is looked in first, and only if it holds fewer, all of time."""
    stats = _statistics(session)
    if stats.documents <= ranked:
        return _Way()
    share = stats.share(query)
    if share >= math.sqrt(ranked / stats.documents):
        return _Way(walk=True)
    if f.on_complaints or stats.oldest is None or stats.newest is None:
        # How many a department, a state or a caller leaves, the statistics do not say.
        return _Way()
    end = min(f.until, stats.newest) if f.until else stats.newest
    begin = max(f.since, stats.oldest) if f.since else stats.oldest
    if end <= begin:
        return _Way()
    # Spread evenly over time, as far as anyone can tell.
    per_day = share * stats.documents / max((stats.newest - stats.oldest) / DAY, 1.0)
    expected = per_day * (end - begin) / DAY
    if expected < 4 * ranked:
        return _Way()
    return _Way(since=end - DAY * (2 * ranked / per_day))


def _find_postgres(
    session: Session,
    query: Query,
    f: Filters,
    *,
    after: tuple[float, datetime, str] | None,
    limit: int,
    ranked: int,
) -> list[Hit]:
    way = _way(session, query, f, ranked)
    if way.since is not None:
        rows = _ranked_page(session, query, f, way, after=after, limit=limit, ranked=ranked)
        # The stretch held `ranked` matches: they are the newest of all time.
        if rows and rows[0].candidates == ranked:
            return [Hit(row, float(row.rank)) for row in rows]
        way = _Way()
    rows = _ranked_page(session, query, f, way, after=after, limit=limit, ranked=ranked)
    return [Hit(row, float(row.rank)) for row in rows]


def _ranked_page(
    session: Session,
    query: Query,
    f: Filters,
    way: _Way,
    *,
    after: tuple[float, datetime, str] | None,
    limit: int,
    ranked: int,
) -> list[Any]:
    s, c = documents.c, complaints.c
    tsq = _tsquery(query.tsquery())
    matched: ColumnElement[bool] = s.document.op("@@")(tsq)
    if f.name:
        # The customer's name, as an agent types it to find her complaints: through
        # the index on it, beside the words' (a bitmap OR), never by reading them all.
        matched = or_(matched, s.complaint_id == any_(_named(f.name)))
    source = documents.join(complaints, c.id == s.complaint_id) if f.on_complaints else documents
    when: Any = s.registered_at
    if not way.walk:
        # Through the words' index, never by walking back in time: the planner prices
        # reading a document's words far below what it costs, and would walk back through
        # 60,000 complaints for the 1,000 newest of a word in 1.5% of them. The
        # expression is the same time, which no index orders.
        when = s.registered_at + literal_column("interval '0'")
    conditions = _conditions(f)
    if way.since is not None:
        conditions.append(s.registered_at >= way.since)
    # The document travels with its row: ranked without reading it again.
    newest = (
        select(s.complaint_id, s.registered_at, s.document)
        .select_from(source)
        .where(matched, *conditions)
        .order_by(when.desc(), s.complaint_id.desc())
        .limit(ranked)
        .subquery("newest")
    )
    n = newest.c
    score: Any = cast(func.ts_rank_cd(n.document, tsq, 1), Float)
    if f.name:
        score = score + case((n.complaint_id == any_(_named(f.name)), 1.0), else_=0.0)
    scored = select(
        n.complaint_id,
        n.registered_at,
        score.label("rank"),
        func.count().over().label("candidates"),
    ).subquery("scored")
    order = (scored.c.rank.desc(), scored.c.registered_at.desc(), scored.c.complaint_id.desc())
    # The page first, then its complaints: a page's rows read, not every ranked one's.
    wanted = select(scored)
    if after is not None:
        wanted = wanted.where(
            _after(scored.c.rank, scored.c.registered_at, scored.c.complaint_id, after)
        )
    p = wanted.order_by(*order).limit(limit).subquery("page")
    page = (
        select(complaints, p.c.rank, p.c.candidates)
        .join(p, c.id == p.c.complaint_id)
        .order_by(p.c.rank.desc(), p.c.registered_at.desc(), p.c.complaint_id.desc())
    )
    return list(session.execute(page))


def _find_sqlite(
    session: Session,
    query: Query,
    f: Filters,
    *,
    after: tuple[float, datetime, str] | None,
    limit: int,
    ranked: int,
) -> list[Hit]:
    s, c = documents.c, complaints.c
    spaced = " " + s.words + " " + s.more_words + " "
    matched: ColumnElement[bool] = and_(
        *(spaced.like(f"% {' '.join(group)} %") for group in query.groups)
    )
    if f.name:
        matched = or_(matched, func.lower(c.customer_name) == f.name.lower())
    hits = (
        select(s.complaint_id, s.registered_at, s.words, s.more_words, c.customer_name)
        .select_from(documents.join(complaints, c.id == s.complaint_id))
        .where(matched, *_conditions(f))
        .order_by(s.registered_at.desc(), s.complaint_id.desc())
        .limit(ranked)
    )
    scored: list[tuple[float, datetime, str]] = []
    for row in session.execute(hits):
        r = rank(query, (row.words + " " + row.more_words).split())
        if f.name and row.customer_name and row.customer_name.lower() == f.name.lower():
            r += 1.0
        scored.append((r, row.registered_at, row.complaint_id))
    scored.sort(reverse=True)
    if after is not None:
        scored = [h for h in scored if h < after]
    scored = scored[:limit]
    ids = [cid for _, _, cid in scored]
    rows = {r.id: r for r in session.execute(select(complaints).where(c.id.in_(ids)))}
    return [Hit(rows[cid], r) for r, _, cid in scored]


def any_of(session: Session, terms: Sequence[str], *, since: datetime, limit: int) -> list[str]:
    """The complaints registered since `since` holding any of `terms`, those holding
    most of them (PostgreSQL: by ts_rank_cd) first."""
    s = documents.c
    if session.get_bind().dialect.name == "postgresql":
        tsq = _tsquery(" | ".join(terms))
        return list(
            session.execute(
                select(s.complaint_id)
                .where(s.document.op("@@")(tsq), s.registered_at >= since)
                .order_by(func.ts_rank_cd(s.document, tsq, 1).desc(), s.registered_at.desc())
                .limit(limit)
            ).scalars()
        )
    spaced = " " + s.words + " " + s.more_words + " "
    rows = session.execute(
        select(s.complaint_id, s.registered_at, s.words, s.more_words).where(
            or_(*(spaced.like(f"% {w} %") for w in terms)), s.registered_at >= since
        )
    )
    wanted = set(terms)
    scored = sorted(
        (
            (
                len(wanted & set((r.words + " " + r.more_words).split())),
                r.registered_at,
                r.complaint_id,
            )
            for r in rows
        ),
        reverse=True,
    )
    return [cid for _, _, cid in scored[:limit]]
