"""The embedded default: analytics on SQLite gives the fixture month's numbers too."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from services.analytics.reports import department, service
from shared.db import create_database
from shared.migrations import upgrade
from tests.analytics.conftest import load
from tests.analytics.story import NOW, fixture_month


def test_the_fixture_month_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'analytics.db'}"
    upgrade("analytics", url=url, schema="analytics")
    db = create_database(url, schema="analytics")
    try:
        story = fixture_month()
        assert load(db, story.events) == len(story.events)
        with db.read() as session:
            o = service.overview(
                session, start=date(2026, 3, 1), end=date(2026, 3, 31), department=None, now=NOW
            )
            pareto = service.root_causes(session, month="2026-03", department=None)
            report = department.department_report(
                session, department="billing", month="2026-03", now=NOW
            )
    finally:
        db.dispose()
    assert (o["volume"], o["open"], o["overdue"], o["closed"]) == (5, 2, 2, 3)
    sla = {s["stage"]: s for s in o["sla"]}
    assert (sla["acknowledgement"]["median_hours"], sla["acknowledgement"]["p90_hours"]) == (
        0.25,
        0.68,
    )
    assert (sla["acceptance"]["compliance"], sla["acceptance"]["p90_hours"]) == (0.6667, 13.0)
    assert [(c["root_cause"], c["count"]) for c in pareto["causes"]] == [
        ("system", 2),
        ("service", 1),
    ]
    assert (report["summary"]["received"], report["summary"]["returned"]) == (2, 1)
