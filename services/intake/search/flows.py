"""Search and likely duplicates as the API answers them: complaints found by their words
with a snippet of where, masked as the reader may see the text; and, while a complaint is
being registered, the earlier ones it may repeat, with why."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.intake.complaints.models import NAME_MAX, ComplaintRead
from services.intake.complaints.service import complaints, notes_t
from services.intake.complaints.service import customer_keys as service_keys
from services.intake.search import service
from services.intake.search.models import ComplaintHit, Likely, Snippet
from services.intake.search.service import RANKED, Filters, Hit
from services.intake.search.words import HAN, Query, spans, weight, words
from shared.privacy import Sight
from shared.vocabulary import DuplicateReason, SearchField, State

# The free-text fields of a complaint, masked alike for those who may not read them.
TEXTS = ("description", "location")
# How much of a text a snippet shows, and how much of it before the first word found.
SNIPPET_WIDTH = 80
SNIPPET_LEAD = 20
# Where a word is written inside another (水管 in 排水管道: 排水 / 管道), it is no hit:
# the next place it is written is tried, this many at most.
SNIPPET_TRIES = 5


def seen(row: Any, sees: Sight) -> dict[str, Any]:
    """A complaint's fields as this reader may see them (shared.privacy)."""
    return sees.complaint(row._mapping, text=TEXTS)


# --- search ---------------------------------------------------------------------------


def for_reader(filters: Filters, text: str, q: Query, sees: Sight) -> Filters:
    """The filters a reader's words add: her complaints by her name as registered, for
    those who may see it; for the others, not even through the text (finding her
    complaints by her name says they exist), no complaint whose customer's name holds
    the words."""
    if sees.name:
        return replace(filters, name=text if len(text) <= NAME_MAX else None)
    return replace(filters, unnamed=(text, *(w for w in q.terms if len(w) >= 2)))


class Found(NamedTuple):
    """A complaint as stored, and as the reader is answered."""

    row: Any
    item: Any


def find(
    session: Session,
    q: Query,
    filters: Filters,
    *,
    sees: Sight,
    after: tuple[float, datetime, str] | None = None,
    limit: int = 50,
    ranked: int = RANKED,
) -> list[Found]:
    """A page of complaints whose words hold `q`, most relevant first, each with a
    snippet of where the words are, masked as `sees` may read it."""
    hits = service.find(session, q, filters, after=after, limit=limit, ranked=ranked)
    texts = _texts_of(session, hits)
    answer = []
    for hit in hits:
        row = hit.row
        names = (row.customer_name,)

        def see(text: str, names: Sequence[str | None] = names) -> str:
            return sees.text_of(text, names=names) or ""

        item = ComplaintHit.model_validate(
            {
                **seen(row, sees),
                "rank": hit.rank,
                "snippet": snippet(texts.get(row.id, []), q.terms, see=see),
            }
        )
        answer.append(Found(row, item))
    return answer


def _texts_of(session: Session, hits: list[Hit]) -> dict[str, list[tuple[SearchField, str]]]:
    """Each hit's texts in the order a snippet prefers them: what the caller said, where,
    the replies, the notes."""
    ids = [h.row.id for h in hits]
    texts: dict[str, list[tuple[SearchField, str]]] = {
        h.row.id: [(SearchField.DESCRIPTION, h.row.description)]
        + ([(SearchField.LOCATION, h.row.location)] if h.row.location else [])
        for h in hits
    }
    if not ids:
        return texts
    for reply in service.replies_of(session, ids):
        texts[reply.complaint_id].append((SearchField.RESOLUTION, reply.resolution))
    for note in session.execute(
        select(notes_t.c.complaint_id, notes_t.c.text)
        .where(notes_t.c.complaint_id.in_(ids))
        .order_by(notes_t.c.id)
    ):
        texts[note.complaint_id].append((SearchField.NOTE, note.text))
    return texts


def snippet(
    texts: list[tuple[SearchField, str]],
    terms: frozenset[str],
    *,
    see: Callable[[str], str],
) -> Snippet | None:
    """The stretch of the text holding most of the words (the first such text), as the
    reader sees it: the words are found in the masked text, so a masked number is never
    marked, nor shown.

    Which text, and where in it, is found by looking for the words as they are written;
    only the stretch shown is segmented to mark them, so a page of hits costs a few
    sentences' segmentation, not its texts'."""
    needles = {t: t if HAN.match(t) or len(t) <= 3 else t[:-1] for t in terms}
    ranked = []
    for order, (field, raw) in enumerate(texts):
        text = " ".join(see(raw).split())
        low = text.lower()
        found = sum(1 for n in needles.values() if n in low)
        if found:
            ranked.append((-found, order, field, text, low))
    for _, _, field, text, low in sorted(ranked, key=lambda r: r[:2]):
        at = [p for n in needles.values() for p in _places(low, n)]
        for first in sorted(at)[:SNIPPET_TRIES]:
            start = max(0, first - SNIPPET_LEAD)
            end = min(len(text), start + SNIPPET_WIDTH)
            marks = spans(text[start:end], terms)
            if marks:
                lead = "…" if start > 0 else ""
                tail = "…" if end < len(text) else ""
                return Snippet(
                    field=field,
                    text=lead + text[start:end] + tail,
                    marks=[(a + len(lead), b + len(lead)) for a, b in marks],
                )
    return None


def _places(text: str, needle: str) -> Iterator[int]:
    at = text.find(needle)
    while at >= 0:
        yield at
        at = text.find(needle, at + 1)


# --- likely duplicates ---------------------------------------------------------------------

# The most telling words of a description that look for similar complaints.
LOOK_FOR = 8
# How similar two descriptions must be (the weighted Dice coefficient of their words, 0
# to 1) to be worth the agent's look: from the same place, or from anywhere. Text alone
# says little: of the 273 hand-labelled hotline pairs (bench/data/hot_issue_pairs.csv,
# drawn mostly among look-alikes), 7 reach 0.3 and 3 of them are the same issue, and 3 of
# the 10 same-issue pairs do. So from anywhere only very similar text counts, and at the
# same place much less is enough.
SIMILAR_AT_PLACE = 0.1
SIMILAR_ANYWHERE = 0.3
# What each reason adds to the score.
SAME_CALLER_WEIGHT = 0.4
SAME_PLACE_WEIGHT = 0.2
CANDIDATES = 30


@dataclass(frozen=True)
class Asked:
    """The complaint being registered, as far as the agent has typed it."""

    phone: str | None
    location: str | None
    description: str | None
    # The client it is being made to; None: any (a centre of one client).
    tenant: str | None = None

    @property
    def keys(self) -> list[str]:
        """The caller's files: with that client, or with each."""
        return service_keys(self.phone, self.tenant) if self.phone else []


def similarity(mine: set[str], theirs: set[str]) -> tuple[float, list[str]]:
    """How much two texts' words say they are about one thing (0 to 1: the weighted Dice
    coefficient, each word weighing what it tells), and the words they share, most
    telling first."""
    shared = sorted(mine & theirs, key=lambda w: (-weight(w), w))
    total = sum(map(weight, mine)) + sum(map(weight, theirs))
    if not total:
        return 0.0, []
    return 2 * sum(map(weight, shared)) / total, [w for w in shared if weight(w) > 0]


def same_place(place: set[str], their_place: set[str], their_words: set[str]) -> bool:
    """One place named in both: the one given is the other's or part of it, or the other
    is part of it (幸福里小区 and 幸福里小区 3 号楼); without a place of its own, the other
    complaint's text names every word of it."""
    if not place:
        return False
    if their_place:
        return place <= their_place or their_place <= place
    return place <= their_words


def likely_duplicates(
    session: Session, asked: Asked, *, since: datetime, sees: Sight, limit: int = 10
) -> list[Found]:
    """Complaints registered since `since` that the one being registered may repeat:
    the same caller's (and their complaints still open, however old), those from the
    same place with similar text, and those with very similar text from anywhere;
    scored, most likely first."""
    described = {w for w in words(asked.description) if weight(w) > 0}
    place = set(words(asked.location))
    ids: dict[str, None] = {}
    if asked.phone:
        c = complaints.c
        for cid in session.execute(
            select(c.id)
            .where(
                c.customer_key.in_(asked.keys),
                (c.registered_at >= since) | (c.status != State.CLOSED),
            )
            .order_by(c.registered_at.desc())
            .limit(CANDIDATES)
        ).scalars():
            ids[cid] = None
    telling = sorted(described, key=lambda w: (-weight(w), w))[:LOOK_FOR]
    if telling:
        for cid in service.any_of(session, telling, since=since, limit=CANDIDATES):
            ids[cid] = None
    if place:
        near = Query(tuple((w,) for w in sorted(place)))
        within = Filters(since=since, tenant=asked.tenant)
        for hit in service.find(session, near, within, limit=CANDIDATES):
            ids[hit.row.id] = None
    if not ids:
        return []
    rows = list(session.execute(select(complaints).where(complaints.c.id.in_(list(ids)))))
    if asked.tenant is not None:
        # Another client's complaint is not a duplicate of this one, nor theirs to see.
        rows = [row for row in rows if row.tenant == asked.tenant]
    indexed = service.words_of(session, list(ids))
    found: list[tuple[float, datetime, Found]] = []
    for row in rows:
        their_words = set(indexed.get(row.id, "").split())
        their_place = set(words(row.location))
        score, shared = similarity(described, their_words - their_place)
        reasons = []
        if asked.phone and row.customer_key in asked.keys:
            reasons.append(DuplicateReason.SAME_CALLER)
        if same_place(place, their_place, their_words):
            reasons.append(DuplicateReason.SAME_PLACE)
        if score >= (
            SIMILAR_AT_PLACE if DuplicateReason.SAME_PLACE in reasons else SIMILAR_ANYWHERE
        ):
            reasons.append(DuplicateReason.SIMILAR_TEXT)
        if DuplicateReason.SAME_CALLER not in reasons and (
            DuplicateReason.SIMILAR_TEXT not in reasons
        ):
            continue
        total = score
        total += SAME_CALLER_WEIGHT if DuplicateReason.SAME_CALLER in reasons else 0.0
        total += SAME_PLACE_WEIGHT if DuplicateReason.SAME_PLACE in reasons else 0.0
        likely = Likely(
            complaint=ComplaintRead.model_validate(seen(row, sees)),
            score=round(min(total, 1.0), 2),
            reasons=reasons,
            shared_words=shared[:5],
        )
        found.append((likely.score, row.registered_at, Found(row, likely)))
    found.sort(key=lambda f: (f[0], f[1]), reverse=True)
    return [pair for _, _, pair in found[:limit]]
