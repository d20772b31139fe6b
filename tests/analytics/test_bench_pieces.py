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
def test_generated_facts_load_with_copy_and_the_timed_queries_answer(
    migrated: Callable[[str], Database],
) -> None:
    db = migrated("analytics")
    assert bench.copy_facts(db, bench.generate_facts(400), batch=150) == 400
    with db.read() as session:
        rows = session.execute(facts.select()).all()
    assert len(rows) == 400
    assert {r.root_cause for r in rows if r.root_cause} <= set(bench.CAUSE_WEIGHTS)
    assert len({r.registered_month for r in rows}) > 12
    for name, query in bench.queries("2025-11", "network").items():
        assert len(bench.timed(db, query, runs=1, warmup=0)) == 1, name
    with db.read() as session:
        pareto = bench.queries("2025-11", "network")["Pareto, one month"](session)
    assert pareto["total"] > 0


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
