"""Root-cause suggestion: learn from complaints already tagged which root cause a text
(and its category) most likely has.

A multinomial naive Bayes over the complaint's words (tokens.py) and its category, the
words weighted by their specificity so the few telling words are not drowned by common
ones. Small, explainable (the words that tipped it are returned) and quick to learn
again as QA tags more complaints. `evaluate` measures it on a held-out split against
the baseline of always answering the most common cause.
"""

from __future__ import annotations

import math
import random
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.analytics.text.tokens import specificity, tokens

# A complaint as the model reads it: weighted words (and its category).
Doc = Mapping[str, float]


def features(text: str | None, category: str | None = None) -> dict[str, float]:
    """Weighted words of a complaint (rarer words weigh more) and its category."""
    found: defaultdict[str, float] = defaultdict(float)
    for word in tokens(text):
        found[word] += 0.5 + specificity(word)
    if category:
        found[f"category:{category}"] += 2
    return dict(found)


@dataclass
class Suggester:
    alpha: float = 2.0  # chosen on held-out splits of both data sets (make bench)
    priors: dict[str, float] = field(default_factory=dict)
    weights: dict[str, dict[str, float]] = field(default_factory=dict)
    unseen: dict[str, float] = field(default_factory=dict)
    trained_on: int = 0

    def fit(self, docs: Sequence[Doc], labels: Sequence[str]) -> Suggester:
        if not docs or len(docs) != len(labels):
            raise ValueError("need as many labels as documents, and at least one")
        per_label: dict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
        for doc, label in zip(docs, labels, strict=True):
            for word, weight in doc.items():
                per_label[label][word] += weight
        vocabulary = {w for doc in docs for w in doc}
        size = len(vocabulary)
        counts = Counter(labels)
        self.priors = {label: math.log(n / len(labels)) for label, n in counts.items()}
        self.weights, self.unseen = {}, {}
        for label, words in per_label.items():
            total = sum(words.values()) + self.alpha * size
            self.weights[label] = {w: math.log((c + self.alpha) / total) for w, c in words.items()}
            self.unseen[label] = math.log(self.alpha / total)
        self.trained_on = len(labels)
        return self

    def scores(self, doc: Doc) -> dict[str, float]:
        return {
            label: prior
            + sum(n * self.weights[label].get(w, self.unseen[label]) for w, n in doc.items())
            for label, prior in self.priors.items()
        }

    def predict(self, doc: Doc) -> str:
        scores = self.scores(doc)
        return max(sorted(scores), key=lambda label: scores[label])

    def suggest(self, doc: Doc, top: int = 3) -> list[dict[str, Any]]:
        """The likeliest labels with their probabilities and the words that favour each."""
        scores = self.scores(doc)
        peak = max(scores.values())
        exp = {label: math.exp(s - peak) for label, s in scores.items()}
        norm = sum(exp.values())
        ranked = sorted(exp, key=lambda label: (-exp[label], label))[:top]
        out = []
        for label in ranked:
            others = [other for other in self.priors if other != label]

            def lean(word: str, label: str = label, others: list[str] = others) -> float:
                mine = self.weights[label].get(word, self.unseen[label])
                rest = max(
                    (self.weights[o].get(word, self.unseen[o]) for o in others), default=mine
                )
                return mine - rest

            telling = sorted((w for w in doc if lean(w) > 0), key=lambda w: -lean(w) * doc[w])
            out.append(
                {
                    "label": label,
                    "probability": round(exp[label] / norm, 4),
                    "because_of": [w.removeprefix("category:") for w in telling[:5]],
                }
            )
        return out


# --- evaluation ------------------------------------------------------------------------


def split(
    labels: Sequence[str], *, test_share: float = 0.25, seed: int = 7
) -> tuple[list[int], list[int]]:
    """Indexes of a stratified train / test split, the same for the same seed."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    rng = random.Random(seed)
    train, test = [], []
    for label in sorted(by_label):
        items = by_label[label]
        rng.shuffle(items)
        cut = max(1, round(len(items) * test_share)) if len(items) > 1 else 0
        test += items[:cut]
        train += items[cut:]
    return sorted(train), sorted(test)


def macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """The mean over the true classes of each class's F1."""
    labels = sorted(set(truth))
    total = 0.0
    for label in labels:
        tp = sum(t == p == label for t, p in zip(truth, predicted, strict=True))
        fp = sum(p == label and t != label for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted, strict=True))
        total += 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return total / len(labels) if labels else 0.0


def accuracy(truth: Sequence[str], predicted: Sequence[str]) -> float:
    return sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth)


@dataclass(frozen=True)
class Evaluation:
    train: int
    test: int
    classes: int
    accuracy: float
    macro_f1: float
    baseline_accuracy: float
    baseline_macro_f1: float
    majority: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def evaluate(
    texts: Sequence[str],
    labels: Sequence[str],
    categories: Sequence[str | None] | None = None,
    *,
    test_share: float = 0.25,
    seed: int = 7,
) -> Evaluation:
    """Learn on a stratified share of the data, measure on the rest, and measure the
    majority-class baseline on the same rest."""
    cats = categories or [None] * len(texts)
    docs = [features(t, c) for t, c in zip(texts, cats, strict=True)]
    train, test = split(labels, test_share=test_share, seed=seed)
    model = Suggester().fit([docs[i] for i in train], [labels[i] for i in train])
    truth = [labels[i] for i in test]
    predicted = [model.predict(docs[i]) for i in test]
    majority = Counter(labels[i] for i in train).most_common(1)[0][0]
    baseline = [majority] * len(test)
    return Evaluation(
        train=len(train),
        test=len(test),
        classes=len(set(labels)),
        accuracy=round(accuracy(truth, predicted), 4),
        macro_f1=round(macro_f1(truth, predicted), 4),
        baseline_accuracy=round(accuracy(truth, baseline), 4),
        baseline_macro_f1=round(macro_f1(truth, baseline), 4),
        majority=majority,
    )
