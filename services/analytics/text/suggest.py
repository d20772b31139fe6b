"""Root-cause suggestion: learn from complaints already tagged which root cause a
complaint's words (its text and the department's written resolution) and its category
most likely have, and say nothing when it does not know.

A logistic regression (scikit-learn) over the complaint's words (tokens.py) and its
category, the words weighted by their specificity and then by tf-idf, each cause
weighted by its rarity so the rare causes are learned and not outvoted. Explainable (the
words that tipped it are returned) and quick to learn again as QA tags more complaints.
Its regularisation and whether it reads the category are a `Setting`, and its
`threshold` the probability below which it abstains; evaluation.py chooses both on
training data only and measures the result against baselines on complaints it never saw.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from services.analytics.text.tokens import specificity, tokens

# A complaint as the model reads it: weighted words (and its category).
Doc = Mapping[str, float]
CATEGORY = "category:"


def features(
    text: str | None, category: str | None = None, resolution: str | None = None
) -> dict[str, float]:
    """Weighted words of a complaint and of its written resolution (rarer words weigh
    more), and its category. The resolution is what the department found and did: the
    words that tell a root cause are mostly there, not in the customer's account."""
    found: defaultdict[str, float] = defaultdict(float)
    for word in [*tokens(text), *tokens(resolution)]:
        found[word] += 0.5 + specificity(word)
    if category:
        found[f"{CATEGORY}{category}"] += 2
    return dict(found)


@dataclass(frozen=True)
class Setting:
    """How a suggester learns: the inverse strength of its regularisation `c` (small:
    few, broad words decide; large: it follows the tagged complaints closely) and
    whether the category is read as well as the words."""

    c: float = 10.0
    use_category: bool = True

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# What evaluation.py chooses among, on the training folds only.
SETTINGS = tuple(Setting(c, category) for c in (1.0, 10.0, 100.0) for category in (True, False))


def likeliest(found: Mapping[str, float]) -> tuple[str, float]:
    """The likeliest label (ties to the first by name) and its probability."""
    label = max(sorted(found), key=lambda lb: found[lb])
    return label, found[label]


class Encoder:
    """Complaints into the model's rows: every key (words and category) counted, then
    tf-idf weighted and scaled to unit length, learned on the tagged complaints. One
    encoder serves every setting: a setting that does not read the category drops
    those columns afterwards, so a fold encodes its complaints once for all settings."""

    def __init__(self, docs: Sequence[Doc]) -> None:
        self.vectors = DictVectorizer()
        self.weights = TfidfTransformer(sublinear_tf=True)
        self.weights.fit(self.vectors.fit_transform(docs))
        self.names = [str(n) for n in self.vectors.get_feature_names_out()]
        self.words = np.array([not n.startswith(CATEGORY) for n in self.names])

    def rows(self, docs: Sequence[Doc]) -> Any:
        return self.weights.transform(self.vectors.transform(docs)).tocsr()

    def columns(self, setting: Setting) -> Any:
        """The columns a setting reads: all, or the words only."""
        return np.ones(len(self.names), dtype=bool) if setting.use_category else self.words


@dataclass
class Suggester:
    setting: Setting = field(default_factory=Setting)
    # Below this probability of the likeliest cause it abstains; None: it never answers.
    threshold: float | None = 0.0
    trained_on: int = 0
    labels: list[str] = field(default_factory=list)
    known: frozenset[str] = frozenset()
    _encoder: Encoder | None = None
    _model: LogisticRegression | None = None

    def fit(
        self,
        docs: Sequence[Doc],
        labels: Sequence[str],
        *,
        encoder: Encoder | None = None,
        rows: Any = None,
    ) -> Suggester:
        """Learn from tagged complaints; `encoder` and `rows` (the complaints already
        encoded by it) let several settings share one encoding of the same complaints."""
        if not docs or len(docs) != len(labels):
            raise ValueError("need as many labels as documents, and at least one")
        self.labels = sorted(set(labels))
        self.trained_on = len(labels)
        self.known = frozenset(w for d in docs for w in d if not w.startswith(CATEGORY))
        if len(self.labels) < 2:
            # One cause only: nothing to tell apart, every answer is that cause.
            self._encoder = self._model = None
            return self
        self._encoder = encoder or Encoder(docs)
        matrix = rows if rows is not None else self._encoder.rows(docs)
        self._model = LogisticRegression(
            C=self.setting.c, class_weight="balanced", max_iter=3000, solver="newton-cg"
        )
        # One thread for the numeric library: its threads spin against each other and
        # against the service's own on a busy machine (a fit took 17 s instead of 0.3).
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            # At the largest `c` a small training part may not converge fully; the
            # answer is still usable and is measured like any other.
            warnings.simplefilter("ignore", ConvergenceWarning)
            self._model.fit(matrix[:, self._encoder.columns(self.setting)], list(labels))
        return self

    def probabilities_of(self, docs: Sequence[Doc], *, rows: Any = None) -> list[dict[str, float]]:
        """Each complaint's probability per cause (`rows`: the complaints already encoded
        by this suggester's encoder)."""
        if not self.labels:
            raise RuntimeError("the suggester has not learned yet")
        if self._model is None or self._encoder is None:
            return [{self.labels[0]: 1.0} for _ in docs]
        matrix = rows if rows is not None else self._encoder.rows(docs)
        with threadpool_limits(limits=1):
            found = self._model.predict_proba(matrix[:, self._encoder.columns(self.setting)])
        names = [str(c) for c in self._model.classes_]
        return [dict(zip(names, (float(p) for p in row), strict=True)) for row in found]

    def grounded(self, doc: Doc) -> bool:
        """Whether any of the complaint's words was seen in the tagged complaints."""
        return any(w in self.known for w in doc if not w.startswith(CATEGORY))

    def confident_many(self, docs: Sequence[Doc], *, rows: Any = None) -> list[tuple[str, float]]:
        """`confident` for many complaints at once (one call into the model)."""
        found = self.probabilities_of(docs, rows=rows)
        out = []
        for doc, probability in zip(docs, found, strict=True):
            label, p = likeliest(probability)
            out.append((label, p if self.grounded(doc) else 0.0))
        return out

    def confident(self, doc: Doc) -> tuple[str, float]:
        """The likeliest label and the confidence it is weighed on: its probability, or
        0 when none of the complaint's words was seen in the tagged complaints (then the
        answer would rest on the category and the priors alone)."""
        return self.confident_many([doc])[0]

    def answers(self, confidence: float) -> bool:
        return self.threshold is not None and confidence >= self.threshold

    def _leanings(self) -> dict[str, dict[int, float]]:
        """Per cause, each feature's weight for it less its best weight for another."""
        assert self._model is not None
        names = [str(c) for c in self._model.classes_]
        coef = self._model.coef_
        # Two causes: one row of weights, for the second against the first.
        rows = [-coef[0], coef[0]] if len(names) == 2 else list(coef)
        out = {}
        for k, label in enumerate(names):
            others = [rows[o] for o in range(len(names)) if o != k]
            best_other = others[0]
            for other in others[1:]:
                best_other = best_other.copy()
                best_other[other > best_other] = other[other > best_other]
            lean = rows[k] - best_other
            out[label] = {j: float(v) for j, v in enumerate(lean) if v > 0}
        return out

    def suggest(self, doc: Doc, top: int = 3) -> list[dict[str, Any]]:
        """The likeliest labels with their probabilities and the words that favour each
        (whether or not it is confident enough to answer: see `answers`)."""
        found = self.probabilities_of([doc])[0]
        ranked = sorted(found, key=lambda label: (-found[label], label))[:top]
        if self._model is None:
            return [{"label": lb, "probability": 1.0, "because_of": []} for lb in ranked]
        assert self._encoder is not None
        columns = np.flatnonzero(self._encoder.columns(self.setting))
        row = self._encoder.rows([doc])[:, columns].tocoo()
        names = [self._encoder.names[j] for j in columns]
        leanings = self._leanings()
        out = []
        for label in ranked:
            lean = leanings[label]
            telling = sorted(
                (
                    (str(names[j]), v * lean[j])
                    for j, v in zip(row.col, row.data, strict=True)
                    if j in lean
                ),
                key=lambda pair: (-pair[1], pair[0]),
            )
            out.append(
                {
                    "label": label,
                    "probability": round(found[label], 4),
                    "because_of": [k.removeprefix(CATEGORY) for k, _ in telling[:5]],
                }
            )
        return out
