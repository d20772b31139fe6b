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

Each issue counts its complaints and its distinct callers (a caller who writes three
times is one caller; an anonymous complaint is a caller of its own), and the callers of
the same issue in the period before (complaints of that period joining it by the same
rule, without starting new ones). Heat = callers × `callers` weight + callers in the
window's last quarter (at least a day) × `recency` + new callers against the period
before × `growth`; a centre sets the weights.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.analytics.text.subjects import _HAN, _REDACTED
from services.analytics.text.tokens import specificity

PLACE_SHARE = 0.25
WIDE_SHARE = 0.5
MAX_REFERENCES = 200
# Two issues of one bucket are one when their word profiles are this alike (cosine).
PLACE_MERGE = 0.35
WIDE_MERGE = 0.6
# Only the issue's most common words are compared, enough to tell two problems apart.
ISSUE_WORDS = 12
# A complaint's problem, for comparing: its most telling words (the subject line's first).
CORE = 3
# The most telling word counts twice: sharing it alone is half the problem.
RANK = (2.0, 1.0, 1.0)


@dataclass(frozen=True)
class Entry:
    """One complaint, as hot issues read it."""

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

    @property
    def block(self) -> str:
        if self.place_key:
            return f"{self.lang}|p|{self.place_key}"
        if self.area:
            return f"{self.lang}|a|{self.area}"
        return f"{self.lang}|-"


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


@dataclass
class _Issue:
    block: str
    members: list[Entry] = field(default_factory=list)
    words: Counter[str] = field(default_factory=Counter)
    before: list[Entry] = field(default_factory=list)

    def add(self, entry: Entry, *, earlier: bool = False) -> None:
        (self.before if earlier else self.members).append(entry)
        self.words.update(entry.words)

    @property
    def size(self) -> int:
        return len(self.members) + len(self.before)

    def share(self, entry: Entry, weight: dict[str, float]) -> float:
        """The part of the entry's problem (its `CORE` most telling words) this issue
        commonly holds."""
        core = entry.words[:CORE]
        total = sum(weight[w] * RANK[i] for i, w in enumerate(core))
        if total <= 0:
            return 0.0
        n = self.size
        held = sum(
            weight[w] * RANK[i] * min(1.0, 2 * self.words[w] / n) for i, w in enumerate(core)
        )
        return held / total

    def top_words(self, weight: dict[str, float], k: int = ISSUE_WORDS) -> list[str]:
        return sorted(self.words, key=lambda w: (-self.words[w] * weight[w], w))[:k]


def _weights(entries: Iterable[Entry]) -> dict[str, float]:
    weight: dict[str, float] = defaultdict(float)
    for entry in entries:
        for word in entry.words:
            if word not in weight:
                weight[word] = 0.3 + specificity(word) if _HAN.search(word) else 1.0
    return weight


def merge_places(keys: Iterable[str]) -> dict[str, str]:
    """Each place key -> the key of the place it is one with: names that hold one another
    (锦楚国际星城 in 锦楚国际星城三期) or differ in one character of five or more (锦楚国际
    星城 and 锦楚国际新城: the way people write a name they heard)."""
    by_head: dict[str, list[str]] = defaultdict(list)
    for key in sorted(set(keys), key=lambda k: (len(k), k)):
        by_head[key[:2]].append(key)
    parent: dict[str, str] = {}

    def root(k: str) -> str:
        while parent.get(k, k) != k:
            k = parent[k]
        return k

    for group in by_head.values():
        for i, a in enumerate(group):
            parent.setdefault(a, a)
            for b in group[:i]:
                if _same_place(a, b):
                    ra, rb = root(a), root(b)
                    if ra != rb:
                        parent[ra] = rb
    return {k: root(k) for k in parent}


def _same_place(a: str, b: str) -> bool:
    short, long = sorted((a, b), key=len)
    if len(short) >= 4 and long.startswith(short):
        return True
    if len(a) == len(b) >= 5:
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    return False


def group(
    window: Sequence[Entry], before: Sequence[Entry] = ()
) -> tuple[list[_Issue], dict[str, float]]:
    """The window's complaints in issues, with the period before's complaints of the same
    issues."""
    weight = _weights([*window, *before])
    places = merge_places(e.place_key for e in [*window, *before] if e.place_key)

    def block_of(entry: Entry) -> str:
        if entry.place_key:
            return f"{entry.lang}|p|{places[entry.place_key]}"
        return entry.block

    issues: list[_Issue] = []
    # Which issues of a block hold a word, to compare a complaint with those only.
    holding: dict[tuple[str, str], list[_Issue]] = defaultdict(list)
    # Both periods in one pass, so an issue is the same issue in each: the period before
    # is what its growth is measured against.
    earlier = {e.complaint_id for e in before}
    for entry in sorted([*before, *window], key=lambda e: (e.at, e.complaint_id)):
        block = block_of(entry)
        best = _best(entry, block, holding, weight)
        if best is None:
            best = _Issue(block)
            issues.append(best)
        known = set(best.words)
        best.add(entry, earlier=entry.complaint_id in earlier)
        for word in entry.words:
            if word not in known:
                holding[(block, word)].append(best)
    merged = _merge(issues, weight)
    return [issue for issue in merged if issue.members], weight


def _profile(issue: _Issue, weight: dict[str, float]) -> dict[str, float]:
    n = issue.size
    return {w: c / n * weight[w] for w, c in issue.words.items()}


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
    tops = [sorted(p, key=lambda w: (-p[w], w))[:CORE] for p in profiles]
    index: dict[tuple[str, str], list[int]] = defaultdict(list)
    parent = list(range(len(issues)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, issue in enumerate(issues):
        need = PLACE_MERGE if "|p|" in issue.block else WIDE_MERGE
        seen: set[int] = set()
        for word in tops[i]:
            for j in index[(issue.block, word)]:
                if j in seen:
                    continue
                seen.add(j)
                if root(i) != root(j) and _cosine(profiles[i], profiles[j]) >= need:
                    parent[root(i)] = root(j)
            index[(issue.block, word)].append(i)
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


def _best(
    entry: Entry,
    block: str,
    holding: dict[tuple[str, str], list[_Issue]],
    weight: dict[str, float],
) -> _Issue | None:
    if not entry.words:
        return None
    need = PLACE_SHARE if "|p|" in block else WIDE_SHARE
    candidates: dict[int, _Issue] = {}
    for word in entry.words[:CORE]:
        for issue in holding.get((block, word), ()):
            candidates[id(issue)] = issue
    best, best_share = None, need
    for issue in candidates.values():
        share = issue.share(entry, weight)
        if share >= best_share:
            best, best_share = issue, share
    return best


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
    issues, weight = group(window, before)
    recent_from = end - max((end - start) / 4, timedelta(days=1))
    found: list[dict[str, Any]] = []
    for issue in issues:
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
        top = issue.top_words(weight)
        first = min(issue.members, key=lambda e: e.at)
        found.append(
            {
                "key": issue_key(issue.block, top),
                "lang": first.lang,
                "place": _place_of(issue.members),
                "area": Counter(e.area for e in issue.members if e.area).most_common(1)[0][0]
                if any(e.area for e in issue.members)
                else None,
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
    found.sort(key=_hottest)
    return found[:limit]


def _hottest(issue: dict[str, Any]) -> tuple[float, int, float, str]:
    return (-issue["heat"], -issue["callers"], -issue["last_at"].timestamp(), issue["key"])


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
        text = text.replace(place, "")
    text = _OPENERS.sub("", text).strip(" ：:、的")
    return text
