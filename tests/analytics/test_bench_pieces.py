"""The analytics benchmark's pieces on small sizes, so `make bench` does not find out
first that one is broken."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from bench import analytics as bench
from bench.common import Check, Figure
from services.analytics.facts.service import facts
from shared.db import Database
from shared.events import encode, registry


@pytest.mark.postgres
def test_facts_that_lived_are_counted_by_the_reports_as_the_generator_tallied(
    migrated: Callable[[str], Database],
) -> None:
    """The benchmark's load, small: complaints registered and updated through their
    lives by two writers at once, then every timed report answers with exactly the
    counts the generator's own tally holds (the check the benchmark makes before it
    prints a figure)."""
    from services.analytics.config import get_config

    db = migrated("analytics")
    load = bench.live_load(db, 400, batch=10, workers=2)
    # Registered once each, then written again as their lives go on.
    assert (load.tally.complaints, load.inserted) == (400, 400) and load.updated > 200
    with db.read() as session:
        rows = session.execute(facts.select()).all()
    assert len(rows) == 400
    assert {r.root_cause for r in rows if r.root_cause} <= set(bench.CAUSE_WEIGHTS)
    tz = get_config().tz()
    found = bench.queries(load.tally, tz, "network")
    assert {"overview, 12 months", "overview, a quarter", "Pareto, one month"} <= set(found)
    for name, query in found.items():
        with db.read() as session:
            assert query.counted(query.call(session)) == query.expected, name
        assert len(bench.timed(db, query.call, runs=1, warmup=0)) == 1, name


def test_the_rebuild_stream_is_events_the_worker_understands() -> None:
    events = bench.lifecycle_events(3)
    assert len(events) == 3 * 7
    assert {registry.decode(encode(e)).type for e in events} >= {
        "complaint.received",
        "complaint.closed",
    }


def test_suggestion_figures_name_the_suggester_and_both_baselines_per_data_set() -> None:
    found = list(bench.suggestion_figures())
    checks = [c for c in found if isinstance(c, Check)]
    assert len(checks) == 3 and all(c.passed for c in checks)
    figures = [f for f in found if isinstance(f, Figure)]
    assert len(figures) == 3 * 10
    assert {f.bench for f in figures} == {"analytics"}
    by_name = {f.name: f for f in figures}
    for data in bench.SUGGESTION_DATA:
        for who in ("suggester", "majority", "keyword"):
            assert f"{who} macro-F1, {data}" in by_name
            assert "over the folds" in by_name[f"{who} accuracy, {data}"].note
        assert f"suggester precision where it answers, {data}" in by_name
    symptom, analysed, _ = bench.SUGGESTION_DATA
    assert by_name[f"suggestions offered, {symptom}"].value == 0.0
    assert (
        by_name[f"suggester accuracy, {symptom}"].value
        < by_name[f"majority accuracy, {symptom}"].value
    )
    assert by_name[f"suggestions offered, {analysed}"].value == 1.0


def test_folds_that_fail_the_integrity_check_print_no_figure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reports = bench.suggestion_reports()
    it, _, hotline = list(reports)
    report = reports[it]
    # Move one row of a group with copies into another fold: the group spans two folds.
    copied = next(g for g in set(report.groups) if report.groups.count(g) > 1)
    rows = [r for r, g in enumerate(report.groups) if g == copied]
    folds = [list(f) for f in report.test_folds]
    home = next(n for n, f in enumerate(folds) if rows[0] in f)
    folds[home].remove(rows[0])
    folds[(home + 1) % len(folds)].append(rows[0])
    broken = dataclasses.replace(report, test_folds=tuple(tuple(f) for f in folds))
    assert broken.problems() == ["1 groups of near duplicates span two folds"]
    monkeypatch.setattr(
        bench, "suggestion_reports", lambda: {it: broken, hotline: "a fold is empty"}
    )
    found = list(bench.suggestion_figures())
    assert not [f for f in found if isinstance(f, Figure)]
    assert [c.passed for c in found if isinstance(c, Check)] == [False, False]


def test_the_hot_issue_evaluation_checks_its_pairs_and_judges_both_methods() -> None:
    from bench.common import execute
    from bench.hot_issues import quality

    outcome = execute("hot_issues", quality())
    assert outcome.passed, outcome.problems
    figures = {f.name: f.value for f in outcome.shown}
    place = figures["hot issues (place + problem): precision of 'same issue'"]
    topics = figures["word topics: precision of 'same issue'"]
    # Grouping by place and problem joins far fewer different matters than word topics.
    assert place > 2 * topics
    assert 0 < figures["hot issues (place + problem): recall of 'same issue'"] <= 1
