"""A benchmark shows its figures only after its integrity checks have passed: a figure
measured over lost rows or duplicated events is never printed, nor saved."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import bench.__main__ as bench_main
from bench.common import Check, Context, Figure, execute

FAST = Figure("demo", "registrations", 1234.0, "complaints/s")


def fake_benchmark(*checks: tuple[int, int], fail: Exception | None = None) -> Any:
    def run(ctx: Context) -> Iterator[Figure | Check]:
        # The figure comes first on purpose: holding it back must not depend on the order.
        yield FAST
        for expected, actual in checks:
            yield Check("demo", "rows written = requests acknowledged", expected, actual)
        if fail is not None:
            raise fail

    return SimpleNamespace(NAME="demo", DESCRIPTION="a fake benchmark", run=run)


def run_main(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module: Any
) -> tuple[int, dict[str, Any]]:
    monkeypatch.setattr(bench_main, "MODULES", ("demo",))
    monkeypatch.setattr(bench_main, "load", lambda name: module)
    ctx = Context(database_url="postgresql+psycopg://x/y", pg_super_url="", kafka_bootstrap="")
    monkeypatch.setattr(Context, "from_env", classmethod(lambda cls, quick: ctx))
    env = {"cpus": 2, "machine": "Linux", "python": "3.11", "loadavg_at_start": 0.5}
    monkeypatch.setattr(bench_main, "environment", lambda ctx: dict(env))
    out = tmp_path / "results.json"
    code = bench_main.main(["demo", "--out", str(out)])
    return code, json.loads(out.read_text())


def test_a_benchmark_whose_rows_do_not_add_up_prints_no_figure_and_fails_naming_the_check(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, saved = run_main(monkeypatch, tmp_path, fake_benchmark((1000, 1000), (5000, 4998)))

    printed = capsys.readouterr().out
    assert code == 1
    assert "1,234" not in printed and "registrations" not in printed
    assert "FAILED demo" in printed
    assert "rows written = requests acknowledged: expected 5000, found 4998" in printed
    assert saved["figures"] == []
    assert [c["passed"] for c in saved["checks"]] == [True, False]


def test_a_benchmark_whose_checks_pass_prints_its_figures(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, saved = run_main(monkeypatch, tmp_path, fake_benchmark((5000, 5000)))

    printed = capsys.readouterr().out
    assert code == 0
    assert "registrations" in printed and "1,234" in printed
    assert "FAILED" not in printed
    assert [f["name"] for f in saved["figures"]] == ["registrations"]


def test_a_benchmark_that_checked_nothing_shows_nothing() -> None:
    outcome = execute("demo", fake_benchmark().run(None))

    assert outcome.shown == []
    assert outcome.problems == ["no integrity check ran, so no figure can be trusted"]


def test_a_benchmark_stopped_by_an_error_after_its_checks_shows_nothing() -> None:
    outcome = execute("demo", fake_benchmark((10, 10), fail=TimeoutError("no answer")).run(None))

    assert outcome.shown == []
    assert outcome.problems == ["stopped: TimeoutError: no answer"]


def test_a_count_that_may_vary_by_what_was_in_flight_passes_only_within_that() -> None:
    stored = Check("demo", "stored = acknowledged (+ in flight)", range(100, 133), 132)
    lost = Check("demo", "stored = acknowledged (+ in flight)", range(100, 133), 99)

    assert stored.passed and not lost.passed
    assert "expected 100–132, found 99 (FAILED)" in str(lost)
