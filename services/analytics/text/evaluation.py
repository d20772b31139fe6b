"""How good root-cause suggestions are on complaints they never saw, and whether they
are worth offering at all.

Tagged complaints repeat themselves: the same incident filed twice, a template with
another date or another province's name. A complaint whose twin sits in the training
data is not a new complaint, so copies are grouped first (`near_duplicate_groups`) and
a group lies wholly on one side of every split (`grouped_folds`, checked by
`fold_problems`). Every choice the suggester makes — its `Setting` and the probability
below which it abstains — is made on the training part of a fold by an inner grouped
cross-validation (`choose`), never on the part it is measured on.

Beside the suggester two baselines are measured on the same folds: the majority cause
of the training part, and the cause of the training complaint sharing the most words
(`NearestByWords`). `Report.verdict` offers suggestions only where, on the complaints it
chose to answer, the suggester is right significantly more often than either baseline
on those same complaints.
"""

from __future__ import annotations

import math
import random
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from services.analytics.text.suggest import (
    CATEGORY,
    SETTINGS,
    Doc,
    Encoder,
    Setting,
    Suggester,
    features,
)

# Two complaints are near duplicates from this Jaccard similarity of their character
# trigrams on. On the incident reports, pairs at 0.8 and above differ by one word or
# one name ("中断" for "缺失", one province for another) in an otherwise identical
# report; below 0.8 they are other systems or other findings in the same template, and
# grouping there chains unrelated reports (at 0.7, one group of 41).
NEAR = 0.8
SHINGLE = 3
# A resolution links complaints as copies only from this many letters on (a sentence of
# findings, not a stock phrase).
WRITTEN_OUT = 20
FOLDS = 5
INNER_FOLDS = 4
# Where it answers it should be right at least this often (on the training folds).
TARGET_PRECISION = 0.8
# A threshold is chosen on no fewer answers than this, so two lucky ones do not set it.
MIN_ANSWERED = 10
# The one-sided 95% normal quantile: how sure the chosen precision must be.
CONFIDENCE_Z = 1.645
# The chance of doing as well against a baseline by luck that still counts as no better.
SIGNIFICANCE = 0.05

# What the suggester is compared with, in the words a reason is given in.
BASELINES = {
    "majority": "the commonest cause",
    "keyword": "the cause of the complaint sharing the most words",
}

# Whitespace, punctuation, digits and underscores: what dates, times, ticket numbers and
# formatting change between two copies of one complaint.
_NOISE = re.compile(r"[\W\d_]+")


def normalise(text: str | None) -> str:
    return _NOISE.sub("", (text or "").lower())


def shingles(text: str, size: int = SHINGLE) -> frozenset[str]:
    if len(text) <= size:
        return frozenset({text})
    return frozenset(text[i : i + size] for i in range(len(text) - size + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def near_duplicate_groups(texts: Sequence[str | None], threshold: float = NEAR) -> list[int]:
    """A group number for each text: equal once normalised, or linked by a chain of
    pairs at least `threshold` similar, is one group. Numbers follow first appearance.

    Pairs are found by prefix filtering: with the trigrams of each text ordered rarest
    first, two sets at least `threshold` similar share one of the first
    |A| - ceil(threshold·|A|) + 1, so only texts sharing such a trigram are compared —
    the same pairs as comparing all of them, in a fraction of the time."""
    keys = [normalise(t) for t in texts]
    distinct = sorted(set(keys))
    sets = [shingles(k) for k in distinct]
    frequency = Counter(s for found in sets for s in found)
    parent = list(range(len(distinct)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    index: defaultdict[str, list[int]] = defaultdict(list)
    for i, found in enumerate(sets):
        ordered = sorted(found, key=lambda s: (frequency[s], s))
        prefix = ordered[: len(ordered) - math.ceil(threshold * len(ordered) - 1e-9) + 1]
        candidates = {j for s in prefix for j in index[s]}
        for j in candidates:
            if jaccard(found, sets[j]) >= threshold:
                parent[root(i)] = root(j)
        for s in prefix:
            index[s].append(i)
    of_key = {key: root(i) for i, key in enumerate(distinct)}
    numbers: dict[int, int] = {}
    return [numbers.setdefault(of_key[key], len(numbers)) for key in keys]


def linked_groups(
    texts: Sequence[str | None], *others: Sequence[str | None], threshold: float = NEAR
) -> list[int]:
    """A group number for each complaint: near duplicates in its text, or in any of its
    other fields (its written resolution), are one group, so a complaint whose
    resolution was copied from another's is not learned from and tested on either.
    Another field links only from WRITTEN_OUT characters on: two complaints closed
    with the stock "已处理" are not copies of each other (a centre's every complaint
    could say it), two with the same paragraph of findings are."""
    size = len(texts)
    parent = list(range(size))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for n, field_texts in enumerate((texts, *others)):
        if len(field_texts) != size:
            raise ValueError("every field needs one text per complaint")
        least = 0 if n == 0 else WRITTEN_OUT
        first: dict[int, int] = {}
        found = near_duplicate_groups(field_texts, threshold)
        for i, (group, text) in enumerate(zip(found, field_texts, strict=True)):
            if n > 0 and len(normalise(text)) < max(least, 1):
                continue
            if group in first:
                parent[root(i)] = root(first[group])
            else:
                first[group] = i
    numbers: dict[int, int] = {}
    return [numbers.setdefault(root(i), len(numbers)) for i in range(size)]


def grouped_folds(
    labels: Sequence[str], groups: Sequence[int], k: int = FOLDS, *, seed: int = 7
) -> list[list[int]]:
    """The rows of each of `k` test folds: each group wholly in one fold, each label
    spread over the folds as evenly as whole groups allow, and folds of about one size.

    Groups are placed largest first (ties in a seeded random order), each in the fold
    where it leaves the labels' and the rows' shares most even."""
    members: defaultdict[int, list[int]] = defaultdict(list)
    for row, group in enumerate(groups):
        members[group].append(row)
    k = max(1, min(k, len(members)))
    order = sorted(members)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda g: -len(members[g]))
    totals = Counter(labels)
    placed: list[Counter[str]] = [Counter() for _ in range(k)]
    folds: list[list[int]] = [[] for _ in range(k)]
    for group in order:
        rows = members[group]
        adds = Counter(labels[r] for r in rows)

        def cost(f: int, adds: Counter[str] = adds, size: int = len(rows)) -> float:
            spread = sum(((placed[f][lb] + n) / totals[lb]) ** 2 for lb, n in adds.items())
            return spread + ((len(folds[f]) + size) / len(labels)) ** 2

        best = min(range(k), key=lambda f: (cost(f), len(folds[f]), f))
        folds[best] += rows
        placed[best].update(adds)
    return [sorted(fold) for fold in folds]


def fold_problems(folds: Sequence[Sequence[int]], groups: Sequence[int]) -> list[str]:
    """What makes these folds unfit to measure on; none when every row is in exactly
    one test fold, no fold is empty and no group has rows in two folds (so no group is
    ever both learned from and tested on)."""
    problems = []
    seen = Counter(row for fold in folds for row in fold)
    if sum(len(fold) for fold in folds) != len(groups) or set(seen) != set(range(len(groups))):
        problems.append(
            f"the folds hold {sum(len(f) for f in folds)} rows, {len(seen)} distinct, "
            f"of {len(groups)}"
        )
    if any(n > 1 for n in seen.values()):
        problems.append(f"{sum(n > 1 for n in seen.values())} rows are in two folds")
    if any(not fold for fold in folds):
        problems.append("a fold is empty")
    fold_of: dict[int, set[int]] = defaultdict(set)
    for f, fold in enumerate(folds):
        for row in fold:
            fold_of[groups[row]].add(f)
    split = [g for g, found in fold_of.items() if len(found) > 1]
    if split:
        problems.append(f"{len(split)} groups of near duplicates span two folds")
    return problems


class FoldsUnfit(RuntimeError):
    """The folds would let a complaint's copy be learned from and tested on."""


# --- measures ---------------------------------------------------------------------------


def accuracy(truth: Sequence[str], predicted: Sequence[str]) -> float:
    if not truth:
        return 0.0
    return sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth)


def macro_f1(truth: Sequence[str], predicted: Sequence[str]) -> float:
    """The mean F1 over every class that is true or predicted (a class predicted but
    never true counts, with F1 0)."""
    labels = sorted(set(truth) | set(predicted))
    total = 0.0
    for label in labels:
        tp = sum(t == p == label for t, p in zip(truth, predicted, strict=True))
        fp = sum(p == label and t != label for t, p in zip(truth, predicted, strict=True))
        fn = sum(t == label and p != label for t, p in zip(truth, predicted, strict=True))
        total += 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return total / len(labels) if labels else 0.0


def sign_test(wins: int, losses: int) -> float:
    """One-sided exact sign test: the chance of at least `wins` of `wins + losses`
    disagreements going one's way if both sides were equally good."""
    n = wins + losses
    if n == 0:
        return 1.0
    return sum(math.comb(n, i) for i in range(wins, n + 1)) / (1 << n)


# --- the keyword baseline ---------------------------------------------------------------


@dataclass
class NearestByWords:
    """The cause of the training complaint sharing the most words with this one
    (Jaccard of their word sets); the commonest cause when none shares a word."""

    sizes: list[int] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    index: dict[str, list[int]] = field(default_factory=dict)
    majority: str = ""

    @staticmethod
    def read(doc: Doc) -> frozenset[str]:
        return frozenset(w for w in doc if not w.startswith(CATEGORY))

    def fit(self, docs: Sequence[Doc], labels: Sequence[str]) -> NearestByWords:
        words = [self.read(d) for d in docs]
        self.sizes = [len(found) for found in words]
        self.labels = list(labels)
        self.majority = Counter(labels).most_common(1)[0][0]
        index: defaultdict[str, list[int]] = defaultdict(list)
        for i, found in enumerate(words):
            for word in found:
                index[word].append(i)
        self.index = dict(index)
        return self

    def predict(self, doc: Doc) -> str:
        found = self.read(doc)
        shared = Counter(i for w in found for i in self.index.get(w, ()))
        if not shared:
            return self.majority
        size, sizes = len(found), self.sizes
        # |A ∪ B| = |A| + |B| - |A ∩ B|
        similar = {i: n / (size + sizes[i] - n) for i, n in shared.items()}
        best = max(similar.values())
        counts = Counter(self.labels[i] for i, s in similar.items() if s == best)
        return max(sorted(counts), key=lambda label: counts[label])


# --- choosing on training data ----------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    """What the inner cross-validation chose: a setting and the probability from which
    the suggester answers (None: no threshold reached the target precision)."""

    setting: Setting
    threshold: float | None
    answered: int  # how many of the inner held-out complaints it would have answered
    of: int


def lower_bound(right: int, answered: int, z: float = CONFIDENCE_Z) -> float:
    """The Wilson score lower bound of a precision of `right` in `answered`: the
    precision the answers are at least, with 95% confidence (one-sided). A threshold
    chosen on it still holds on complaints the choice never saw; one chosen on the
    bare ratio lands just under its target half the time."""
    if answered == 0:
        return 0.0
    p = right / answered
    centre = p + z * z / (2 * answered)
    spread = z * math.sqrt(p * (1 - p) / answered + z * z / (4 * answered * answered))
    return (centre - spread) / (1 + z * z / answered)


def pick_threshold(
    truth: Sequence[str],
    predicted: Sequence[str],
    probability: Sequence[float],
    *,
    target: float = TARGET_PRECISION,
) -> tuple[float | None, int]:
    """The lowest confidence from which the answers are right at least `target` of the
    time (over at least MIN_ANSWERED of them), and how many that answers."""
    # A complaint with confidence 0 (no known word) is never answered.
    order = sorted(
        (i for i in range(len(truth)) if probability[i] > 0), key=lambda i: -probability[i]
    )
    chosen: tuple[float | None, int] = (None, 0)
    right = 0
    least = max(MIN_ANSWERED, math.ceil(0.02 * len(truth)))
    for rank, i in enumerate(order, 1):
        right += truth[i] == predicted[i]
        boundary = rank == len(order) or probability[order[rank]] < probability[i]
        if boundary and rank >= least and lower_bound(right, rank) >= target:
            chosen = (probability[i], rank)
    return chosen


def choose(
    docs: Sequence[Doc],
    labels: Sequence[str],
    groups: Sequence[int],
    *,
    folds: int = INNER_FOLDS,
    seed: int = 7,
    target: float = TARGET_PRECISION,
    settings: Sequence[Setting] = SETTINGS,
) -> Choice:
    """Setting and threshold by a grouped cross-validation of these (training) rows:
    the setting that answers the most held-out complaints at the target precision (the
    best macro-F1 when answering all breaks ties, and chooses when none reaches it)."""
    inner = grouped_folds(labels, groups, folds, seed=seed)
    if len(inner) < 2:
        return Choice(settings[0], None, 0, len(labels))
    held: dict[Setting, list[tuple[str, float]]] = {s: [("", 0.0)] * len(labels) for s in settings}
    for fold in inner:
        test = set(fold)
        train = [i for i in range(len(labels)) if i not in test]
        train_docs, train_labels = [docs[i] for i in train], [labels[i] for i in train]
        held_docs = [docs[i] for i in fold]
        encoder = Encoder(train_docs)
        train_rows, held_rows = encoder.rows(train_docs), encoder.rows(held_docs)
        for setting in settings:
            model = Suggester(setting).fit(
                train_docs, train_labels, encoder=encoder, rows=train_rows
            )
            answers = model.confident_many(held_docs, rows=held_rows)
            for i, answer in zip(fold, answers, strict=True):
                held[setting][i] = answer
    ranked = []
    for rank, setting in enumerate(settings):
        predicted = [p for p, _ in held[setting]]
        threshold, answered = pick_threshold(
            labels, predicted, [q for _, q in held[setting]], target=target
        )
        order = (answered, macro_f1(labels, predicted), -rank)
        ranked.append((order, Choice(setting, threshold, answered, len(labels))))
    return max(ranked, key=lambda found: found[0])[1]


# --- the evaluation ---------------------------------------------------------------------


@dataclass(frozen=True)
class Fold:
    """One outer fold: what was chosen on its training part, and for each of its test
    complaints the truth, the suggester's answer and confidence, and the baselines'."""

    train: int
    choice: Choice
    truth: tuple[str, ...]
    model: tuple[str, ...]
    confidence: tuple[float, ...]
    majority: tuple[str, ...]
    keyword: tuple[str, ...]

    @property
    def answered(self) -> list[int]:
        t = self.choice.threshold
        return [i for i, c in enumerate(self.confidence) if t is not None and c >= t]

    def answers(self) -> tuple[list[str], list[str]]:
        """Truth and the suggester's answer where it answered."""
        return [self.truth[i] for i in self.answered], [self.model[i] for i in self.answered]


def _spread(values: Sequence[float]) -> dict[str, float]:
    return {
        "mean": round(statistics.fmean(values), 4) if values else 0.0,
        "sd": round(statistics.pstdev(values), 4) if len(values) > 1 else 0.0,
        "min": round(min(values), 4) if values else 0.0,
        "max": round(max(values), 4) if values else 0.0,
    }


@dataclass(frozen=True)
class Report:
    rows: int
    classes: int
    groups: tuple[int, ...]
    test_folds: tuple[tuple[int, ...], ...]
    folds: tuple[Fold, ...]

    def problems(self) -> list[str]:
        return fold_problems(self.test_folds, self.groups)

    def pooled(self, of: str) -> tuple[list[str], list[str]]:
        """Truth and `of`'s answers (model, majority or keyword) on the complaints the
        suggester answered, over all folds."""
        truth: list[str] = []
        found: list[str] = []
        for fold in self.folds:
            truth += [fold.truth[i] for i in fold.answered]
            found += [getattr(fold, of)[i] for i in fold.answered]
        return truth, found

    def versus(self, baseline: str) -> dict[str, Any]:
        """The suggester against a baseline on the complaints the suggester answered."""
        truth, mine = self.pooled("model")
        _, theirs = self.pooled(baseline)
        wins = sum(m == t != b for t, m, b in zip(truth, mine, theirs, strict=True))
        losses = sum(b == t != m for t, m, b in zip(truth, mine, theirs, strict=True))
        return {
            "precision": round(accuracy(truth, theirs), 4),
            "wins": wins,
            "losses": losses,
            "p_value": round(sign_test(wins, losses), 4),
        }

    def verdict(self) -> tuple[bool, str]:
        """Offer suggestions only where, on the complaints it answers, the suggester is
        right significantly more often than each baseline on those same complaints."""
        truth, mine = self.pooled("model")
        if not truth:
            return False, (
                "never confident: the thresholds chosen on the training folds (surely right "
                f"{TARGET_PRECISION:.0%} of the time, by the 95% lower bound, over "
                f"{MIN_ANSWERED} or more complaints) let it answer none of the complaints "
                "it was tested on"
            )
        said = (
            f"where it answers ({len(truth)} of {self.rows} complaints) it is right "
            f"{accuracy(truth, mine):.0%} of the time"
        )
        for baseline, name in BASELINES.items():
            against = self.versus(baseline)
            if against["p_value"] > SIGNIFICANCE:
                return False, (
                    f"no better than {name}: {said}, {name} {against['precision']:.0%} "
                    f"on the same complaints ({against['wins']} better, "
                    f"{against['losses']} worse, p = {against['p_value']})"
                )
        return True, f"{said}, more often than the commonest cause or word matching there"

    def figures(self) -> dict[str, Any]:
        """Accuracy and macro-F1 of the suggester answering every complaint and of the two
        baselines (mean and spread over the folds), then the abstaining suggester:
        coverage, precision and macro-F1 where it answers, and the verdict."""

        def answering_all(of: str) -> dict[str, Any]:
            return {
                "accuracy": _spread([accuracy(f.truth, getattr(f, of)) for f in self.folds]),
                "macro_f1": _spread([macro_f1(f.truth, getattr(f, of)) for f in self.folds]),
            }

        truth, mine = self.pooled("model")
        answering = [f for f in self.folds if f.answered]
        offered, reason = self.verdict()
        return {
            "rows": self.rows,
            "groups": len(set(self.groups)),
            "classes": self.classes,
            "fold_sizes": [len(f) for f in self.test_folds],
            "model": answering_all("model"),
            "majority": answering_all("majority"),
            "keyword": answering_all("keyword"),
            "settings": [f.choice.setting.as_dict() for f in self.folds],
            "thresholds": [f.choice.threshold for f in self.folds],
            "abstaining": {
                "target_precision": TARGET_PRECISION,
                "coverage": _spread([len(f.answered) / len(f.truth) for f in self.folds]),
                "answered": len(truth),
                "precision": round(accuracy(truth, mine), 4) if truth else None,
                "precision_by_fold": _spread([accuracy(*f.answers()) for f in answering]),
                "macro_f1": round(macro_f1(truth, mine), 4) if truth else None,
                "majority": self.versus("majority"),
                "keyword": self.versus("keyword"),
            },
            "offered": offered,
            "reason": reason,
        }

    def summary(self) -> dict[str, Any]:
        """The figures a person reads beside a suggestion (or its absence)."""
        found = self.figures()
        where = found["abstaining"]
        return {
            "complaints": self.rows,
            "groups": found["groups"],
            "folds": len(self.folds),
            "accuracy": found["model"]["accuracy"]["mean"],
            "majority_accuracy": found["majority"]["accuracy"]["mean"],
            "keyword_accuracy": found["keyword"]["accuracy"]["mean"],
            "macro_f1": found["model"]["macro_f1"]["mean"],
            "majority_macro_f1": found["majority"]["macro_f1"]["mean"],
            "keyword_macro_f1": found["keyword"]["macro_f1"]["mean"],
            "coverage": where["coverage"]["mean"],
            "precision": where["precision"],
            "majority_precision": where["majority"]["precision"],
            "keyword_precision": where["keyword"]["precision"],
        }


def evaluate(
    texts: Sequence[str | None],
    labels: Sequence[str],
    categories: Sequence[str | None] | None = None,
    *,
    folds: int = FOLDS,
    inner_folds: int = INNER_FOLDS,
    seed: int = 7,
    target: float = TARGET_PRECISION,
    docs: Sequence[Doc] | None = None,
    groups: Sequence[int] | None = None,
    resolutions: Sequence[str | None] | None = None,
) -> Report:
    """Grouped, nested cross-validation of the suggester and the two baselines.

    Raises FoldsUnfit before measuring anything if the folds fail `fold_problems`."""
    if len(texts) != len(labels):
        raise ValueError("need as many labels as texts")
    cats = categories or [None] * len(texts)
    written = resolutions or [None] * len(texts)
    docs = docs or [features(t, c, r) for t, c, r in zip(texts, cats, written, strict=True)]
    groups = groups or linked_groups(texts, written)
    test_folds = grouped_folds(labels, groups, folds, seed=seed)
    problems = fold_problems(test_folds, groups)
    if len(test_folds) < 2:
        problems.append("fewer than two groups of complaints")
    if problems:
        raise FoldsUnfit("; ".join(problems))
    outcomes = []
    for f, test in enumerate(test_folds):
        held = set(test)
        train = [i for i in range(len(labels)) if i not in held]
        train_docs, train_labels = [docs[i] for i in train], [labels[i] for i in train]
        choice = choose(
            train_docs,
            train_labels,
            [groups[i] for i in train],
            folds=inner_folds,
            seed=seed + f + 1,
            target=target,
        )
        model = Suggester(choice.setting, choice.threshold).fit(train_docs, train_labels)
        nearest = NearestByWords().fit(train_docs, train_labels)
        answers = model.confident_many([docs[i] for i in test])
        outcomes.append(
            Fold(
                train=len(train),
                choice=choice,
                truth=tuple(labels[i] for i in test),
                model=tuple(label for label, _ in answers),
                confidence=tuple(c for _, c in answers),
                majority=(nearest.majority,) * len(test),
                keyword=tuple(nearest.predict(docs[i]) for i in test),
            )
        )
    return Report(
        rows=len(labels),
        classes=len(set(labels)),
        groups=tuple(groups),
        test_folds=tuple(tuple(f) for f in test_folds),
        folds=tuple(outcomes),
    )


def learn(
    texts: Sequence[str | None],
    labels: Sequence[str],
    categories: Sequence[str | None] | None = None,
    resolutions: Sequence[str | None] | None = None,
    *,
    seed: int = 7,
) -> tuple[Suggester, Report]:
    """What the service runs on its tagged complaints: the evaluation above, then the
    suggester itself, its setting and threshold chosen the same way on all of them."""
    cats = categories or [None] * len(texts)
    written = resolutions or [None] * len(texts)
    docs = [features(t, c, r) for t, c, r in zip(texts, cats, written, strict=True)]
    groups = linked_groups(texts, written)
    report = evaluate(texts, labels, cats, seed=seed, docs=docs, groups=groups)
    choice = choose(docs, labels, groups, seed=seed)
    return Suggester(choice.setting, choice.threshold).fit(docs, labels), report


@dataclass
class Learned:
    """A centre's suggester and whether it is offered: `suggester` is None when the
    evaluation on the centre's own tagged complaints does not support it, and `reason`
    says why (or how well it does)."""

    suggester: Suggester | None
    learned_from: int
    reason: str
    summary: dict[str, Any] | None = None
    trained_on: int = 0  # tagged complaints when it was learned (for learning again)


def for_centre(
    texts: Sequence[str | None],
    labels: Sequence[str],
    categories: Sequence[str | None] | None = None,
    resolutions: Sequence[str | None] | None = None,
) -> Learned:
    """Learn and evaluate on a centre's tagged complaints (their texts, categories and
    the departments' written resolutions); offer the suggester only if the evaluation's
    verdict is yes and it found a confidence to answer from."""
    try:
        suggester, report = learn(texts, labels, categories, resolutions)
    except FoldsUnfit as exc:
        return Learned(None, len(labels), f"cannot be measured yet: {exc}")
    offered, reason = report.verdict()
    if offered and suggester.threshold is None:
        offered, reason = False, "never confident on the tagged complaints as a whole"
    return Learned(suggester if offered else None, len(labels), reason, report.summary())
