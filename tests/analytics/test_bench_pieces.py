"""The analytics benchmark's pieces on small sizes, so `make bench` does not find out
first that one is broken."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bench import analytics as bench
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


def test_suggestion_figures_name_model_and_baseline() -> None:
    figures = list(bench.suggestion_figures())
    assert len(figures) == 8
    assert {f.bench for f in figures} == {"analytics"}
    by_name = {f.name: f.value for f in figures}
    assert (
        by_name["suggestion macro-F1, IT incidents → 形成原因"]
        > by_name["majority baseline macro-F1, IT incidents → 形成原因"]
    )
