"""Hot spots: topics that grow in complaint text, with their keywords and examples.

The window's complaints are compared with the baseline before it, word by word (document
frequency, each complaint counted once per word). A word is a candidate when it is in
at least `min_count` complaints of the window and is not a word every text uses (its
`specificity`, from a general corpus's inverse document frequency, is above zero); its
growth is the ratio of its smoothed shares, (n + ½) / (N + 1), in the window and in the
baseline. Candidates that grew (growth ≥ `min_growth`) are ranked by
n × log(growth) × specificity; without a baseline (nothing before the window) every word
is new and they are ranked by n × specificity. The best candidate seeds a topic: the
complaints that contain it, with the words most over-represented among them as keywords.
Complaints in a topic are not used for the next one, and a word that is already a
topic's keyword seeds none.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.analytics.text.tokens import specificity, tokens
from shared.privacy import mask_text, mask_word


@dataclass(frozen=True)
class Document:
    id: str
    reference: str
    category: str
    text: str
    # The customer's name, masked where an example shows the text.
    name: str | None = None


def _share(n: int, total: int) -> float:
    return (n + 0.5) / (total + 1)


def find_hotspots(
    window: Sequence[Document],
    baseline: Sequence[Document],
    *,
    topics: int = 8,
    min_count: int = 3,
    keywords: int = 6,
    examples: int = 3,
    min_growth: float = 1.2,
    with_members: bool = False,
) -> list[dict[str, Any]]:
    words = [set(tokens(d.text)) for d in window]
    names = {d.name for d in window if d.name}
    base_words = [set(tokens(d.text)) for d in baseline]
    df = Counter(w for doc in words for w in doc)
    base_df = Counter(w for doc in base_words for w in doc)
    n, n_base = len(window), len(baseline)

    def growth(word: str) -> float:
        return _share(df[word], n) / _share(base_df[word], n_base)

    weight = {w: specificity(w) for w in df}

    def score(word: str) -> float:
        rise = math.log(growth(word)) if n_base else 1.0
        return df[word] * rise * weight[word]

    ranked = sorted(
        (
            w
            for w, c in df.items()
            if c >= min_count and weight[w] > 0 and (not n_base or growth(w) >= min_growth)
        ),
        key=lambda w: (-score(w), w),
    )
    taken: set[int] = set()
    used: set[str] = set()
    found: list[dict[str, Any]] = []
    for seed in ranked:
        if len(found) >= topics:
            break
        if seed in used:
            continue
        members = [i for i, doc in enumerate(words) if seed in doc and i not in taken]
        if len(members) < min_count:
            continue
        inside = Counter(w for i in members for w in words[i])
        lift = {
            w: (c / len(members)) / (df[w] / n)
            for w, c in inside.items()
            if w != seed and c >= 2 and c >= len(members) * 0.15 and weight[w] > 0
        }
        related = sorted(
            lift, key=lambda w: (-(inside[w] * math.log(lift[w] + 1e-9) * weight[w]), w)
        )
        related = [w for w in related if lift[w] > 1.0][: keywords - 1]
        topic_words = [seed, *related]
        used.update(topic_words)
        taken.update(members)
        categories = Counter(window[i].category for i in members)
        picked = sorted(members, key=lambda i: -len(words[i] & set(topic_words)))[:examples]
        if with_members:
            # For judging the grouping: which complaints the topic took.
            found.append({"complaint_ids": [window[i].id for i in members]})
            continue
        found.append(
            {
                # A courier's number or a frequent caller's name is a word that grew, too.
                "keywords": [mask_word(word, names=names) for word in topic_words],
                "count": len(members),
                "baseline_count": sum(1 for doc in base_words if seed in doc),
                "growth": round(growth(seed), 2) if n_base else None,
                "new": base_df[seed] == 0,
                "categories": dict(categories.most_common(3)),
                "examples": [
                    {
                        "complaint_id": window[i].id,
                        "reference": window[i].reference,
                        "text": _excerpt(window[i].text, seed, name=window[i].name),
                    }
                    for i in picked
                ],
            }
        )
    return found


def _excerpt(text: str, word: str, size: int = 90, *, name: str | None = None) -> str:
    # Masked before it is cut, so no part of a number is left for a reader to piece out.
    flat = " ".join(mask_text(text, names=(name,)).split())
    at = flat.lower().find(word.lower())
    start = max(at - size // 3, 0) if at >= 0 else 0
    piece = flat[start : start + size]
    return ("…" if start else "") + piece + ("…" if start + size < len(flat) else "")
