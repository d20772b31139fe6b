"""Complaint text into the words search matches: Chinese segmented by jieba, English
lower-cased and stemmed, numbers kept, the commonest function words dropped.

Both languages end as one string of words separated by spaces, which PostgreSQL's
`simple` configuration turns into a tsvector as it is (it only lower-cases), and which
SQLite's fallback matches word by word: the segmentation is done here, once, the same way
for a document and for a query, so the two databases find the same complaints.

Segmentation uses jieba's dictionary alone (no HMM guessing of unknown words): a guessed
word depends on the characters around it, so a name or a place could be cut one way in a
complaint and another in the query that looks for it. An unknown word falls apart into
its characters, and a query matches those characters only in sequence (a phrase), so
`湖建` is not found in `西湖建筑` (西湖 / 建筑) however often 湖 and 建 occur.

Documents are cut in jieba's search mode, which adds the shorter words inside a long one
(安全隐患 gives 安全, 隐患 too); queries in its precise mode.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from shared import word_frequency

# A run of Chinese characters, or of Latin letters and digits (a word, an amount, a
# model or order number). Everything else (punctuation, spaces) only separates.
_RUNS = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+|[A-Za-z0-9]+")
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_lock = threading.Lock()


# Words in nearly every text that tell complaints apart by nothing: dropped from
# documents and queries alike.
def _set(text: str) -> frozenset[str]:
    return frozenset(text.split())


STOP_ZH = _set(
    "的 了 是 在 和 与 及 或 也 都 就 而 着 过 吗 呢 吧 啊 呀 哦 嘛 之 其 把 被 将 对 从 向 于 "
    "给 让 很 还 又 这 那 我 你 他 她 它 们 我们 你们 他们"
)
STOP_EN = _set(
    "a an the and or but of to in on at by for from with as is are was were be been being "
    "it its this that these those i me my we our you your he him his she her they them "
    "their do does did have has had not no so if then than there here"
)


@cache
def _jieba() -> Any:
    with _lock:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        return jieba


def warm_up(*, weights: bool = True) -> None:
    """Load the segmenter's dictionary now (about a second), and the words' weights
    (likely duplicates), so that the first registration or search does not wait."""
    _jieba()
    if weights:
        word_frequency.corpus_idf()


# --- English: a light Porter stemmer -------------------------------------------------------


def _consonant(word: str, i: int) -> bool:
    ch = word[i]
    if ch in "aeiou":
        return False
    if ch == "y":
        return i == 0 or not _consonant(word, i - 1)
    return True


def _measure(stem: str) -> int:
    """Porter's m: how many vowel-consonant sequences `stem` has."""
    count, vowel = 0, False
    for i in range(len(stem)):
        if not _consonant(stem, i):
            vowel = True
        elif vowel:
            count, vowel = count + 1, False
    return count


def _has_vowel(stem: str) -> bool:
    return any(not _consonant(stem, i) for i in range(len(stem)))


def _cvc(stem: str) -> bool:
    return (
        len(stem) >= 3
        and _consonant(stem, len(stem) - 3)
        and not _consonant(stem, len(stem) - 2)
        and _consonant(stem, len(stem) - 1)
        and stem[-1] not in "wxy"
    )


def stem(word: str) -> str:
    """Porter's steps 1 and 5a: plurals, -ed, -ing and a final e, so that leaks, leaked,
    leaking and leak are one word, and charge, charges, charged too. (The later steps,
    which fold -ation, -ness and the like, join words an agent means apart.)"""
    w = word.lower()
    if len(w) <= 2 or not w.isalpha():
        return w
    if w.endswith("sses") or w.endswith("ies"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    shortened = False
    if w.endswith("eed"):
        if _measure(w[:-3]) > 0:
            w = w[:-1]
    elif w.endswith("ed") and _has_vowel(w[:-2]):
        w, shortened = w[:-2], True
    elif w.endswith("ing") and _has_vowel(w[:-3]):
        w, shortened = w[:-3], True
    if shortened:
        if w.endswith(("at", "bl", "iz")):
            w += "e"
        elif len(w) >= 2 and w[-1] == w[-2] and _consonant(w, len(w) - 1) and w[-1] not in "lsz":
            w = w[:-1]
        elif _measure(w) == 1 and _cvc(w):
            w += "e"
    if w.endswith("y") and _has_vowel(w[:-1]):
        w = w[:-1] + "i"
    if w.endswith("e") and len(w) > 2:
        m = _measure(w[:-1])
        if m > 1 or (m == 1 and not _cvc(w[:-1])):
            w = w[:-1]
    return w


# --- words -----------------------------------------------------------------------------


def _latin(run: str) -> str | None:
    word = run.lower()
    if word in STOP_EN:
        return None
    return stem(word) if word.isalpha() else word


def _han(run: str, *, search: bool) -> Iterator[str]:
    jieba = _jieba()
    cut = jieba.cut_for_search if search else jieba.cut
    for word in cut(run, HMM=False):
        if word not in STOP_ZH:
            yield word


def words(text: str | None, *, search: bool = True) -> list[str]:
    """The words of `text` in order, as they are indexed (`search`: with the shorter
    words inside long ones) or as a query asks for them."""
    if not text:
        return []
    found: list[str] = []
    for run in _RUNS.findall(text):
        if HAN.match(run):
            found.extend(_han(run, search=search))
        else:
            word = _latin(run)
            if word:
                found.append(word)
    return found


def document(*texts: str | None) -> str:
    """The words of a complaint's texts as one string, as the search document keeps them."""
    return " ".join(w for text in texts for w in words(text))


@dataclass(frozen=True)
class Query:
    """What a search asks for: every group must be in the document; a group of several
    words (the characters of a word the dictionary does not know) in that order."""

    groups: tuple[tuple[str, ...], ...]

    @property
    def terms(self) -> frozenset[str]:
        return frozenset(w for group in self.groups for w in group)

    def __bool__(self) -> bool:
        return bool(self.groups)

    def tsquery(self) -> str:
        """As PostgreSQL's to_tsquery reads it. Words are letters and digits only, so
        nothing in them needs quoting."""
        return " & ".join(" <-> ".join(group) for group in self.groups)

    def any_of(self) -> str:
        """Any of the words, for a looser match (similar complaints)."""
        return " | ".join(sorted(self.terms))


def query(text: str) -> Query:
    """A query as typed (several words, with or without spaces) into what it asks for."""
    groups: list[tuple[str, ...]] = []
    for run in _RUNS.findall(text):
        if not HAN.match(run):
            word = _latin(run)
            if word:
                groups.append((word,))
            continue
        singles: list[str] = []
        for word in _jieba().cut(run, HMM=False):
            if len(word) == 1 and word not in STOP_ZH:
                singles.append(word)
                continue
            if singles:
                groups.append(tuple(singles))
                singles = []
            if word not in STOP_ZH:
                groups.append((word,))
        if singles:
            groups.append(tuple(singles))
    unique = list(dict.fromkeys(groups))
    return Query(tuple(unique))


def matches(query: Query, document_words: Iterable[str]) -> int:
    """How often the query's groups occur in the words of a document, 0 if one of them
    never does: the SQLite fallback's test and rank, as PostgreSQL's @@ and ts_rank_cd
    are on PostgreSQL."""
    doc = list(document_words)
    total = 0
    for group in query.groups:
        n = len(group)
        count = sum(1 for i in range(len(doc) - n + 1) if tuple(doc[i : i + n]) == group)
        if not count:
            return 0
        total += count
    return total


def rank(query: Query, document_words: list[str]) -> float:
    """Occurrences of the query, less for a long document (PostgreSQL's normalisation 1:
    divided by 1 + the logarithm of its length)."""
    found = matches(query, document_words)
    return found / (1 + math.log(len(document_words))) if found and document_words else 0.0


# --- where the words are in a text ------------------------------------------------------


def spans(text: str, terms: frozenset[str]) -> list[tuple[int, int]]:
    """Where the words of `terms` are in `text`, as (start, end) offsets, in order: each
    run of Chinese that holds one is segmented (only those), so a word is marked where
    search finds it and not inside another word."""
    if not terms or not text:
        return []
    han_terms = [t for t in terms if HAN.match(t)]
    found: list[tuple[int, int]] = []
    for m in _RUNS.finditer(text):
        run = m.group(0)
        if not HAN.match(run):
            if _latin(run) in terms:
                found.append(m.span())
            continue
        if not any(t in run for t in han_terms):
            continue
        for word, start, end in _jieba().tokenize(run, mode="search", HMM=False):
            if word in terms:
                found.append((m.start() + start, m.start() + end))
    return _merged(found)


def _merged(found: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


# --- how much a word says ----------------------------------------------------------------


def weight(word: str) -> float:
    """How much sharing `word` says two texts are about the same thing: little for words
    common in any text (问题, 没有), more for specific ones (漏水, 水管); numbers nothing
    (amounts and dates repeat by chance)."""
    if word.isdigit() or (len(word) == 1 and HAN.match(word)):
        return 0.0
    return max(word_frequency.idf(word) - 4.0, 0.0)
