"""Hot issues (热点问题): a specific problem at a specific place, or with a specific
organisation, reported by many people over a short time — "锦楚国际星城：停电", with how
many callers, since when, which departments, and whether it still grows.

Complaints are first put in buckets by what they name (`subjects.Subject.block`): the
place (places whose names differ by one character or hold one another, such as
锦楚国际星城 and 锦楚国际星城小区, are one), else the district, else nothing, and each
language apart, so a window holding both never lets one's words crowd out the other's.
Inside a bucket, complaints are taken in time order and each joins the issue whose
problem words it shares most, or starts one: the share is the part of the complaint's
problem (each word weighed by how telling it is) that the issue's complaints commonly
hold. A bucket of a named place asks for less (`PLACE_SHARE`) than one of a district or
of nothing (`WIDE_SHARE`), where only the same problem in other words makes one issue.

Issues are one client's each (an outsourcing centre serves several): two clients'
callers about one estate are two issues, in buckets apart.

Each issue counts its complaints and its distinct callers (a caller who writes three
times is one caller; an anonymous complaint is a caller of its own), and the callers of
the same issue in the period before (complaints of that period joining it by the same
rule, without starting new ones). Heat = callers × `callers` weight + callers in the
window's last quarter (at least a day) × `recency` + new callers against the period
before × `growth`; a centre sets the weights.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from services.analytics.text.subjects import _HAN, _REDACTED
from services.analytics.text.tokens import specificity
from shared.tenants import DEFAULT_TENANT

PLACE_SHARE = 0.3
WIDE_SHARE = 0.5
MAX_REFERENCES = 200
# A word in this share of an issue's complaints, and this telling in general (电梯 0.96,
# 噪音 0.96, 停电 1.3; not 故障 0.78, 维修 0.6), anchors it to its problem.
ANCHOR_SHARE = 0.6
ANCHOR_SPECIFICITY = 0.9
# Two issues of one bucket are one when their word profiles are this alike (cosine).
PLACE_MERGE = 0.35
WIDE_MERGE = 0.6
# Only the issue's most common words are compared, enough to tell two problems apart.
ISSUE_WORDS = 12
# A complaint's problem, for comparing: its most telling words (the subject line's first).
CORE = 3
# How many of the issues holding a word a complaint is compared with (the latest).
SCAN = 30
# An issue is profiled by its complaints' most telling words only.
PROFILE_WORDS = 5
# The most telling word counts twice: sharing it alone is half the problem.
RANK = (2.0, 1.0, 1.0)


class Entry(NamedTuple):
    """One complaint, as hot issues read it (a tuple: a month holds 100,000 of them)."""

    complaint_id: str
    reference: str
    caller: str | None
    at: datetime
    lang: str
    place: str | None
    place_key: str | None
    area: str | None
    words: tuple[str, ...]
    department: str | None = None
    category: str | None = None
    tenant: str = DEFAULT_TENANT

    @property
    def block(self) -> str:
        if self.place_key:
            return f"{self.clients_part}{self.lang}|p|{self.place_key}"
        if self.area:
            return f"{self.clients_part}{self.lang}|a|{self.area}"
        return f"{self.clients_part}{self.lang}|-"

    @property
    def clients_part(self) -> str:
        """The client's part of a bucket's name: none for the default client, so an
        installation of one organisation keeps its issues' keys."""
        return "" if self.tenant == DEFAULT_TENANT else f"{self.tenant}|"


@dataclass(frozen=True)
class Weights:
    callers: float = 1.0
    recency: float = 1.0
    growth: float = 1.0

    @classmethod
    def parse(cls, text: str | None) -> Weights:
        """`callers=1,recency=2,growth=0.5` (any left out keeps its default)."""
        values: dict[str, float] = {}
        for part in (text or "").replace(";", ",").split(","):
            if not part.strip():
                continue
            name, sep, raw = part.partition("=")
            name = name.strip()
            if not sep or name not in {"callers", "recency", "growth"}:
                raise ValueError(f"'{part.strip()}': give callers=, recency= or growth=")
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"'{part.strip()}': {raw.strip()!r} is not a number") from None
            if not 0 <= value <= 100 or math.isnan(value):
                raise ValueError(f"'{part.strip()}': a weight is from 0 to 100")
            values[name] = value
        return cls(**values)


@dataclass(eq=False)  # one issue is itself: compared by identity, not by its members
class _Issue:
    block: str
    members: list[Entry] = field(default_factory=list)
    words: dict[str, int] = field(default_factory=dict)
    before: list[Entry] = field(default_factory=list)

    def add(self, entry: Entry, *, earlier: bool = False) -> None:
        (self.before if earlier else self.members).append(entry)
        words = self.words
        for w in entry.words[:PROFILE_WORDS]:
            words[w] = words.get(w, 0) + 1

    @property
    def size(self) -> int:
        return len(self.members) + len(self.before)

    def share(self, entry: Entry, weight: dict[str, float]) -> float:
        """The part of the entry's problem (its `CORE` most telling words) this issue
        commonly holds."""
        core = entry.words[:CORE]
        weights = [weight[w] * r for w, r in zip(core, RANK, strict=False)]
        return _share(core, weights, self.words, self.size)

    def top_words(self, weight: dict[str, float], k: int = ISSUE_WORDS) -> list[str]:
        return sorted(self.words, key=lambda w: (-self.words[w] * weight[w], w))[:k]


def _share(core: Sequence[str], weights: Sequence[float], words: dict[str, int], n: int) -> float:
    total = sum(weights)
    if total <= 0:
        return 0.0
    held = 0.0
    for w, x in zip(core, weights, strict=False):
        c = words.get(w)
        if c:
            held += x * min(1.0, 2 * c / n)
    return held / total


def _weights(entries: Iterable[Entry]) -> dict[str, float]:
    weight: dict[str, float] = defaultdict(float)
    for entry in entries:
        for word in entry.words:
            if word not in weight:
                weight[word] = 0.3 + specificity(word) if _HAN.search(word) else 1.0
    return weight


def merge_places(keys: Iterable[str]) -> dict[str, str]:
    """Each place key -> the key of the place it is one with: names that hold one another
    at their start (锦楚国际星城 in 锦楚国际星城三期, four characters at least) or differ
    in one character of six or more, not a number or a direction (锦楚国际星城 and 锦楚
    国际新城: the way people write a name they heard)."""
    known = sorted(set(keys), key=lambda k: (len(k), k))
    parent = {k: k for k in known}

    def root(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    def join(a: str, b: str) -> None:
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[max(ra, rb, key=lambda k: (len(k), k))] = min(ra, rb, key=lambda k: (len(k), k))

    present = set(known)
    # Each name with one character blanked out: two names that share a blanked form
    # differ in that one character.
    blanked: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for key in known:
        for n in range(4, len(key)):
            if key[:n] in present:
                join(key, key[:n])
                break
        if len(key) >= 6:
            for i, ch in enumerate(key):
                blanked[key[:i] + "\0" + key[i + 1 :]].append((key, ch))
    for alike in blanked.values():
        for (a, x), (b, y) in itertools.pairwise(alike):
            if x not in NUMBERED and y not in NUMBERED:
                join(a, b)
    return {k: root(k) for k in known}


NUMBERED = frozenset("0123456789一二三四五六七八九十百东西南北中上下前后左右")


def group(
    window: Sequence[Entry], before: Sequence[Entry] = (), *, min_callers: int = 1
) -> tuple[list[_Issue], dict[str, float]]:
    """The window's complaints in issues, with the period before's complaints of the same
    issues. A bucket with fewer than `min_callers` callers in the window is left as one
    group, unsorted: none of its issues could be reported."""
    weight = _weights([*window, *before])
    places = merge_places(e.place_key for e in [*window, *before] if e.place_key)

    def block_of(entry: Entry) -> str:
        if entry.place_key:
            return f"{entry.clients_part}{entry.lang}|p|{places[entry.place_key]}"
        return entry.block

    # Both periods in one pass, so an issue is the same issue in each: the period before
    # is what its growth is measured against.
    earlier = {e.complaint_id for e in before}
    by_block: dict[str, list[Entry]] = defaultdict(list)
    for entry in sorted([*before, *window], key=lambda e: (e.at, e.complaint_id)):
        by_block[block_of(entry)].append(entry)
    issues: list[_Issue] = []
    for block, entries in by_block.items():
        window_callers = callers(e for e in entries if e.complaint_id not in earlier)
        if window_callers == 0:
            continue
        if window_callers < min_callers or len(entries) == 1:
            # Issues never span buckets: this one can hold no issue of enough callers.
            alone = _Issue(block)
            for entry in entries:
                alone.add(entry, earlier=entry.complaint_id in earlier)
            issues.append(alone)
            continue
        issues.extend(_merge(_lead(block, entries, earlier, weight), weight))
    return [issue for issue in issues if issue.members], weight


def _lead(
    block: str, entries: Sequence[Entry], earlier: set[str], weight: dict[str, float]
) -> list[_Issue]:
    """One bucket's complaints in time order, each joining the issue whose problem it
    shares most (at least PLACE_SHARE or WIDE_SHARE), or starting one. Complaints with
    the same most telling words go together, where the first of them went."""
    need = PLACE_SHARE if "|p|" in block else WIDE_SHARE
    alike: dict[tuple[str, ...], list[Entry]] = {}
    for entry in entries:
        alike.setdefault(entry.words[:CORE] or (entry.complaint_id,), []).append(entry)
    issues: list[_Issue] = []
    # Which issues hold a word, to compare a complaint with those only.
    holding: dict[str, list[_Issue]] = defaultdict(list)
    for core, members in alike.items():
        best: _Issue | None = None
        if members[0].words:
            weights = [weight[w] * r for w, r in zip(core, RANK, strict=False)]
            best_share = need
            seen: set[int] = set()
            for word in core:
                # The issues that took this word most recently: enough to find one's own.
                for issue in holding.get(word, ())[-SCAN:]:
                    if id(issue) in seen:
                        continue
                    seen.add(id(issue))
                    share = _share(core, weights, issue.words, issue.size)
                    if share >= best_share:
                        best, best_share = issue, share
        if best is None:
            best = _Issue(block)
            issues.append(best)
        for entry in members:
            best.add(entry, earlier=entry.complaint_id in earlier)
        # Found again by its complaints' most telling words.
        for word in core if members[0].words else ():
            listed = holding[word]
            if not listed or listed[-1] is not best:
                if best in listed:
                    listed.remove(best)
                listed.append(best)
    return issues


def _profile(issue: _Issue, weight: dict[str, float]) -> dict[str, float]:
    n = issue.size
    return {w: c / n * weight[w] for w, c in issue.words.items()}


def _anchors(issue: _Issue, weight: dict[str, float]) -> set[str]:
    """The telling words (`ANCHOR_SPECIFICITY`) that most of its complaints hold."""
    n = issue.size
    # A Chinese word's weight is 0.3 + its specificity (`_weights`).
    telling = 0.3 + ANCHOR_SPECIFICITY
    return {
        w
        for w, c in issue.words.items()
        if c >= ANCHOR_SHARE * n and weight[w] >= telling and _HAN.search(w)
    }


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    dot = sum(v * b.get(w, 0.0) for w, v in a.items())
    if dot <= 0:
        return 0.0
    return dot / math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))


def _merge(issues: list[_Issue], weight: dict[str, float]) -> list[_Issue]:
    """Issues of one bucket whose complaints, taken together, are about the same thing:
    complaint by complaint, the same problem in other words can start two issues (电梯又
    坏了 / 电梯故障困人); the issues' word profiles are alike where their complaints are
    not. Compared only with issues sharing one of their most telling words."""
    profiles = [_profile(issue, weight) for issue in issues]
    anchors = [_anchors(issue, weight) for issue in issues]
    tops = [sorted(p, key=lambda w: (-p[w], w))[:CORE] for p in profiles]
    if len(issues) < 2:
        return issues
    index: dict[str, list[int]] = defaultdict(list)
    parent = list(range(len(issues)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, issue in enumerate(issues):
        need = PLACE_MERGE if "|p|" in issue.block else WIDE_MERGE
        seen: set[int] = set()
        for word in {*tops[i], *anchors[i]}:
            for j in index[word]:
                if j in seen:
                    continue
                seen.add(j)
                if root(i) == root(j):
                    continue
                alike = _cosine(profiles[i], profiles[j]) >= need
                # At one place, the same telling word in nearly every complaint of both
                # is one problem told two ways (电梯又坏了 / 电梯长期故障无人维修).
                anchored = "|p|" in issue.block and bool(anchors[i] & anchors[j])
                if alike or anchored:
                    parent[root(i)] = root(j)
            index[word].append(i)
    merged: dict[int, _Issue] = {}
    for i, issue in enumerate(issues):
        into = merged.setdefault(root(i), _Issue(issue.block))
        for entry in issue.members:
            into.add(entry)
        for entry in issue.before:
            into.add(entry, earlier=True)
    for issue in merged.values():
        issue.members.sort(key=lambda e: (e.at, e.complaint_id))
        issue.before.sort(key=lambda e: (e.at, e.complaint_id))
    return list(merged.values())


def callers(entries: Iterable[Entry]) -> int:
    return len({e.caller or f"anonymous:{e.complaint_id}" for e in entries})


def issue_key(block: str, words: Sequence[str]) -> str:
    """The same issue keeps its key from one run to the next while its place and its two
    most telling words stay: alerts are sent once per key."""
    text = block + "|" + " ".join(sorted(words[:2]))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def rank(
    window: Sequence[Entry],
    before: Sequence[Entry],
    *,
    start: datetime,
    end: datetime,
    weights: Weights | None = None,
    min_callers: int = 3,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """The hottest issues of the window [start, end), each as a dict without labels and
    examples (`describe` adds them)."""
    weights = weights or Weights()
    issues, weight = group(window, before, min_callers=min_callers)
    recent_from = end - max((end - start) / 4, timedelta(days=1))
    scored: list[tuple[tuple[float, int, float, int], _Issue, int, int, int, float]] = []
    for n, issue in enumerate(issues):
        who = callers(issue.members)
        if who < min_callers:
            continue
        previous = callers(issue.before)
        recent = callers(e for e in issue.members if e.at >= recent_from)
        heat = (
            weights.callers * who
            + weights.recency * recent
            + weights.growth * max(who - previous, 0)
        )
        last = max(e.at for e in issue.members).timestamp()
        scored.append(((-heat, -who, -last, n), issue, who, previous, recent, heat))
    scored.sort(key=lambda item: item[0])
    found: list[dict[str, Any]] = []
    for _, issue, who, previous, recent, heat in scored[:limit]:
        top = issue.top_words(weight)
        first = min(issue.members, key=lambda e: e.at)
        areas = Counter(e.area for e in issue.members if e.area)
        found.append(
            {
                "key": issue_key(issue.block, top),
                "tenant": first.tenant,
                "lang": first.lang,
                "place": _place_of(issue.members),
                "area": areas.most_common(1)[0][0] if areas else None,
                "words": [w for w in top if not _REDACTED.fullmatch(w)][:6],
                "complaints": len(issue.members),
                "callers": who,
                "recent_callers": recent,
                "previous_callers": previous,
                "growth": round((who + 0.5) / (previous + 0.5), 2),
                "new": previous == 0,
                "heat": round(heat, 2),
                "first_at": first.at,
                "last_at": max(e.at for e in issue.members),
                "departments": Counter(e.department for e in issue.members if e.department),
                "categories": Counter(e.category for e in issue.members if e.category),
                "members": _central(issue, weight),
                # Every complaint in it, oldest first, to open from the report.
                "references": [e.reference for e in issue.members][:MAX_REFERENCES],
            }
        )
    return found


def _place_of(members: Sequence[Entry]) -> str | None:
    named = Counter(e.place for e in members if e.place)
    return named.most_common(1)[0][0] if named else None


def _central(issue: _Issue, weight: dict[str, float]) -> list[str]:
    """Its complaints, the most typical first (the examples and the label come from them)."""
    return [
        e.complaint_id for e in sorted(issue.members, key=lambda e: (-issue.share(e, weight), e.at))
    ]


# --- words a person would write ---------------------------------------------------------

_CLAUSES = re.compile(r"[，。！？；;!?\n\r]+|(?<=[a-z])[.,](?=\s)")
_OPENERS = re.compile(
    r"^(?:强烈|紧急|再次|多次)?(?:投诉|反映|举报|关于|请问|咨询|希望|建议|请求|要求|恳请|请|呼吁)+"
)
_AREA_CODE = re.compile(r"(?<![A-Za-z0-9])[A-Z][0-9]{0,2}(?:省|市|区|县)")


def label(issue: dict[str, Any], texts: Sequence[str]) -> str:
    """ "<place>: <problem>", the problem as its callers put it: the shortest clause of
    its typical complaints that holds the most of its telling words; those words
    themselves where no clause does. Never a redaction mark, a masked number, a place
    as the problem."""
    words = issue["words"][:4]
    place = issue.get("place")
    problem = _clause(words, texts, place) if words else None
    if problem is None:
        problem = ("、" if issue["lang"] == "zh" else ", ").join(words[:3]) or "?"
    where = place or issue.get("area")
    if issue["lang"] == "zh":
        return f"{where}：{problem}" if where else problem
    return f"{where}: {problem}" if where else problem


def _clause(words: Sequence[str], texts: Sequence[str], place: str | None) -> str | None:
    zh = any(_HAN.search(w) for w in words)
    top = set(words[:2])
    best: tuple[float, str] | None = None
    seen: Counter[str] = Counter()
    candidates: list[str] = []
    for text in texts:
        for raw in _CLAUSES.split(text):
            clause = _tidy(raw, place)
            if not clause or "*" in clause or _REDACTED.search(clause):
                continue
            size = len(clause) if zh else len(clause.split())
            if (zh and not 4 <= size <= 22) or (not zh and not 3 <= size <= 12):
                continue
            candidates.append(clause)
            seen[clause] += 1
    for clause in candidates:
        held = [w for w in words if w in (clause if zh else clause.lower())]
        if not held or not top & set(held):
            continue
        size = len(clause) if zh else len(clause.split())
        score = len(held) * 10 + seen[clause] * 3 - size * 0.3
        if best is None or score > best[0]:
            best = (score, clause)
    return best[1] if best else None


def _tidy(clause: str, place: str | None) -> str:
    text = " ".join(clause.split()).strip(" ：:、\"'“”")
    text = _AREA_CODE.sub("", text)
    if place:
        # The place said again in the problem, with what kind of place it is (小区).
        text = re.sub(re.escape(place) + r"(?:小区|社区)?", "", text)
    text = _OPENERS.sub("", text).strip(" ：:、的")
    return text
