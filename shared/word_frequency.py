"""How common a word is in general Chinese text: the inverse document frequencies of
the large corpus jieba ships, read once per process. Intake's search and analytics'
topics both weigh words by it."""

from __future__ import annotations

from functools import cache

# A word the corpus does not have (a place, a product, an English word) is fairly specific.
UNKNOWN_IDF = 9.0


@cache
def corpus_idf() -> dict[str, float]:
    """Inverse document frequencies of a large general corpus (shipped with jieba)."""
    from jieba.analyse.tfidf import DEFAULT_IDF

    table: dict[str, float] = {}
    with open(DEFAULT_IDF, encoding="utf-8") as fh:
        for line in fh:
            word, _, value = line.strip().partition(" ")
            if value:
                table[word] = float(value)
    return table


def idf(word: str) -> float:
    return corpus_idf().get(word, UNKNOWN_IDF)
