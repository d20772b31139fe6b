"""Root-cause suggestion: learn from complaints already tagged which root cause a text
(and its category) most likely has, and say nothing when it does not know.

A multinomial naive Bayes over the complaint's words (tokens.py) and its category, the
words weighted by their specificity so the few telling words are not drowned by common
ones. Small, explainable (the words that tipped it are returned) and quick to learn
again as QA tags more complaints. Its smoothing, priors and whether it reads the
category are a `Setting`, and its `threshold` the probability below which it abstains;
evaluation.py chooses both on training data only and measures the result against
baselines on complaints it never saw.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.analytics.text.tokens import specificity, tokens

# A complaint as the model reads it: weighted words (and its category).
Doc = Mapping[str, float]
CATEGORY = "category:"


def features(text: str | None, category: str | None = None) -> dict[str, float]:
    """Weighted words of a complaint (rarer words weigh more) and its category."""
    found: defaultdict[str, float] = defaultdict(float)
    for word in tokens(text):
        found[word] += 0.5 + specificity(word)
    if category:
        found[f"{CATEGORY}{category}"] += 2
    return dict(found)


@dataclass(frozen=True)
class Setting:
    """How a suggester learns: its smoothing, whether every cause starts equally likely
    (so a rare cause is not outvoted by its rarity alone) and whether the category is
    read as well as the words."""

    alpha: float = 1.0
    uniform_priors: bool = False
    use_category: bool = True

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# What evaluation.py chooses among, on the training folds only.
SETTINGS = tuple(
    Setting(alpha, uniform, category)
    for alpha in (0.3, 1.0, 3.0, 10.0)
    for uniform in (False, True)
    for category in (True, False)
)


@dataclass(frozen=True)
class Tally:
    """The tagged complaints counted once, for learning with any setting: complaints per
    cause, and per cause the summed weight of each word and of each category."""

    counts: Counter[str]
    words: dict[str, dict[str, float]]
    categories: dict[str, dict[str, float]]
    vocabulary: int
    category_vocabulary: int

    @classmethod
    def of(cls, docs: Sequence[Doc], labels: Sequence[str]) -> Tally:
        if not docs or len(docs) != len(labels):
            raise ValueError("need as many labels as documents, and at least one")
        counts = Counter(labels)
        words: dict[str, defaultdict[str, float]] = {lb: defaultdict(float) for lb in counts}
        cats: dict[str, defaultdict[str, float]] = {lb: defaultdict(float) for lb in counts}
        seen: set[str] = set()
        for doc, label in zip(docs, labels, strict=True):
            for key, weight in doc.items():
                (cats if key.startswith(CATEGORY) else words)[label][key] += weight
                seen.add(key)
        in_categories = sum(key.startswith(CATEGORY) for key in seen)
        return cls(
            counts=counts,
            words={lb: dict(found) for lb, found in words.items()},
            categories={lb: dict(found) for lb, found in cats.items()},
            vocabulary=len(seen) - in_categories,
            category_vocabulary=in_categories,
        )


class Smoothed:
    """A tally's log-weights at one smoothing `alpha`: a key's weight for a cause is
    log((its count + alpha) / the cause's total), the total counting the category keys
    or not. A complaint's score splits into the part from its words and the part from
    its category (`parts`), so one pass serves every setting with this alpha."""

    def __init__(self, tally: Tally, alpha: float) -> None:
        self.labels = sorted(tally.counts)
        self.known = frozenset(w for found in tally.words.values() for w in found)
        self.log_alpha = math.log(alpha)
        self.words = {
            lb: {w: math.log(c + alpha) for w, c in tally.words[lb].items()} for lb in self.labels
        }
        self.categories = {
            lb: {k: math.log(c + alpha) for k, c in tally.categories[lb].items()}
            for lb in self.labels
        }
        self.log_total: dict[bool, dict[str, float]] = {False: {}, True: {}}
        for lb in self.labels:
            mass = sum(tally.words[lb].values())
            self.log_total[False][lb] = math.log(mass + alpha * tally.vocabulary)
            self.log_total[True][lb] = math.log(
                mass
                + sum(tally.categories[lb].values())
                + alpha * (tally.vocabulary + tally.category_vocabulary)
            )

    def grounded(self, doc: Doc) -> bool:
        """Whether any of the complaint's words was seen in the tagged complaints."""
        return any(w in self.known for w in doc if not w.startswith(CATEGORY))

    def weight(self, label: str, key: str, *, use_category: bool) -> float:
        table = self.categories if key.startswith(CATEGORY) else self.words
        return table[label].get(key, self.log_alpha) - self.log_total[use_category][label]

    def parts(self, doc: Doc) -> dict[str, tuple[float, float, float, float]]:
        """Per cause: summed log-counts and weight of the words, then of the category."""
        words = [(w, n) for w, n in doc.items() if not w.startswith(CATEGORY)]
        cats = [(k, n) for k, n in doc.items() if k.startswith(CATEGORY)]
        n_words, n_cats = sum(n for _, n in words), sum(n for _, n in cats)
        a = self.log_alpha
        found = {}
        for lb in self.labels:
            table, ctable = self.words[lb], self.categories[lb]
            found[lb] = (
                sum(n * table.get(w, a) for w, n in words),
                n_words,
                sum(n * ctable.get(k, a) for k, n in cats),
                n_cats,
            )
        return found

    def scores(
        self,
        parts: Mapping[str, tuple[float, float, float, float]],
        priors: Mapping[str, float],
        *,
        use_category: bool,
    ) -> dict[str, float]:
        out = {}
        for lb in self.labels:
            words, n_words, cats, n_cats = parts[lb]
            total = self.log_total[use_category][lb]
            score = priors[lb] + words - n_words * total
            if use_category:
                score += cats - n_cats * total
            out[lb] = score
        return out


def priors(tally: Tally, *, uniform: bool) -> dict[str, float]:
    n = sum(tally.counts.values())
    if uniform:
        return {lb: -math.log(len(tally.counts)) for lb in tally.counts}
    return {lb: math.log(c / n) for lb, c in tally.counts.items()}


def likeliest(scores: Mapping[str, float]) -> tuple[str, float]:
    """The likeliest label (ties to the first by name) and its probability."""
    found = probabilities(scores)
    label = max(sorted(found), key=lambda lb: found[lb])
    return label, found[label]


def probabilities(scores: Mapping[str, float]) -> dict[str, float]:
    peak = max(scores.values())
    exp = {label: math.exp(s - peak) for label, s in scores.items()}
    norm = sum(exp.values())
    return {label: e / norm for label, e in exp.items()}


@dataclass
class Suggester:
    setting: Setting = field(default_factory=Setting)
    # Below this probability of the likeliest cause it abstains; None: it never answers.
    threshold: float | None = 0.0
    trained_on: int = 0
    smoothed: Smoothed | None = None
    priors: dict[str, float] = field(default_factory=dict)

    def fit(self, docs: Sequence[Doc], labels: Sequence[str]) -> Suggester:
        return self.learn(Tally.of(docs, labels))

    def learn(self, tally: Tally) -> Suggester:
        self.smoothed = Smoothed(tally, self.setting.alpha)
        self.priors = priors(tally, uniform=self.setting.uniform_priors)
        self.trained_on = sum(tally.counts.values())
        return self

    def _model(self) -> Smoothed:
        if self.smoothed is None:
            raise RuntimeError("the suggester has not learned yet")
        return self.smoothed

    def scores(self, doc: Doc) -> dict[str, float]:
        model = self._model()
        return model.scores(model.parts(doc), self.priors, use_category=self.setting.use_category)

    def best(self, doc: Doc) -> tuple[str, float]:
        """The likeliest label and its probability."""
        return likeliest(self.scores(doc))

    def confident(self, doc: Doc) -> tuple[str, float]:
        """The likeliest label and the confidence it is weighed on: its probability, or
        0 when none of the complaint's words was seen in the tagged complaints (then the
        answer would rest on the category and the priors alone)."""
        label, probability = self.best(doc)
        return label, probability if self._model().grounded(doc) else 0.0

    def answers(self, confidence: float) -> bool:
        return self.threshold is not None and confidence >= self.threshold

    def predict(self, doc: Doc) -> str:
        return self.best(doc)[0]

    def suggest(self, doc: Doc, top: int = 3) -> list[dict[str, Any]]:
        """The likeliest labels with their probabilities and the words that favour each
        (whether or not it is confident enough to answer: see `answers`)."""
        model = self._model()
        use_category = self.setting.use_category
        found = probabilities(self.scores(doc))
        read = {k: n for k, n in doc.items() if use_category or not k.startswith(CATEGORY)}
        ranked = sorted(found, key=lambda label: (-found[label], label))[:top]
        out = []
        for label in ranked:
            others = [other for other in model.labels if other != label]

            def lean(key: str, label: str = label, others: list[str] = others) -> float:
                mine = model.weight(label, key, use_category=use_category)
                rest = max(
                    (model.weight(o, key, use_category=use_category) for o in others),
                    default=mine,
                )
                return mine - rest

            telling = sorted((k for k in read if lean(k) > 0), key=lambda k: -lean(k) * read[k])
            out.append(
                {
                    "label": label,
                    "probability": round(found[label], 4),
                    "because_of": [k.removeprefix(CATEGORY) for k in telling[:5]],
                }
            )
        return out
