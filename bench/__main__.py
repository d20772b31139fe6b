"""python -m bench [NAME ...] [--quick]: run benchmarks, print their figures, save them.

Run through `make bench` / scripts/bench.sh, which start the bench stack first.
To add a benchmark, write bench/<name>.py with `NAME`, `DESCRIPTION` and
`run(ctx: Context) -> Iterable[Figure | Check]`, and add its name to MODULES.

A benchmark's figures are held until it has finished and its integrity checks (`Check`:
the count it expects, the count it found) have been judged; only a benchmark whose checks
all passed, and which ran at least one, has its figures printed and saved. Any failed
check, error or missing check makes the run exit 1 and says which.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.common import RESULTS, ROOT, Context, Outcome, execute, say, table, write_results

MODULES = (
    "outbox",
    "intake",
    "escalation",
    "notify",
    "analytics",
    "hot_issues",
    "workbench",
    "search",
    "pipeline",
    "pipeline_latency",
)


def load(name: str) -> ModuleType:
    module = importlib.import_module(f"bench.{name}")
    for attr in ("NAME", "run"):
        if not hasattr(module, attr):
            raise SystemExit(f"bench/{name}.py has no {attr}: see bench/__main__.py")
    return module


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def environment(ctx: Context) -> dict[str, Any]:
    """What the figures depend on, so two results files can be compared fairly."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}",
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "kafka": os.environ.get("KAFKA_VERSION"),
        # Anything else running on the machine moves the figures: note how busy it was.
        "loadavg_at_start": round(os.getloadavg()[0], 2),
    }
    try:
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        info["commit"] = None
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(ctx.database_url)
        with engine.connect() as conn:
            info["postgres"] = conn.scalar(text("SHOW server_version"))
        engine.dispose()
    except Exception as exc:  # the benchmarks themselves will say what is wrong
        info["postgres"] = f"unknown ({type(exc).__name__})"
    settings = ctx.settings()
    info["outbox_lanes"] = settings.outbox_lanes
    info["outbox_batch_size"] = settings.outbox_batch_size
    info["outbox_linger_seconds"] = settings.outbox_linger_seconds
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks on the bench stack (run them with `make bench`).",
    )
    parser.add_argument(
        "benchmarks", nargs="*", metavar="NAME", help=f"which to run (default all: {MODULES})"
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run, not figures")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    if args.list:
        for name in MODULES:
            print(f"{name:12} {getattr(load(name), 'DESCRIPTION', '')}")
        return 0
    unknown = [b for b in args.benchmarks if b not in MODULES]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; one of {', '.join(MODULES)}")
    names = args.benchmarks or list(MODULES)
    modules = [load(name) for name in names]

    ctx = Context.from_env(quick=args.quick)
    meta: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "benchmarks": names,
        "environment": environment(ctx),
    }
    outcomes: list[Outcome] = []
    started = time.monotonic()
    for module in modules:
        say(f"{module.NAME}: starting{' (quick)' if args.quick else ''}")
        outcome = execute(module.NAME, module.run(ctx))
        outcomes.append(outcome)
        if outcome.passed:
            checks = len(outcome.checks)
            say(f"{module.NAME}: done in {outcome.seconds:.0f}s, {checks} checks passed")
        else:
            say(f"{module.NAME}: FAILED after {outcome.seconds:.0f}s, its figures withheld")

    meta["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    meta["seconds"] = round(time.monotonic() - started, 1)
    meta["failed"] = {o.bench: "; ".join(o.problems) for o in outcomes if not o.passed}
    meta["durations"] = {o.bench: round(o.seconds, 1) for o in outcomes}
    meta["environment"]["loadavg_at_end"] = round(os.getloadavg()[0], 2)
    write_results(args.out, outcomes, meta)
    return report(outcomes, meta, quick=args.quick, out=args.out)


def report(outcomes: list[Outcome], meta: dict[str, Any], *, quick: bool, out: Path) -> int:
    """Print the figures of the benchmarks whose checks passed, then every failure; 1 if
    any benchmark failed."""
    figures = [f for outcome in outcomes for f in outcome.shown]
    print()
    title = "Benchmark figures" + (" (--quick: a smoke run, not for comparison)" if quick else "")
    print(title)
    print(table(figures) if figures else "(none)")
    checks = sum(len(o.checks) for o in outcomes if o.passed)
    print(f"\n{checks} integrity checks passed before these figures were printed.")
    env = meta["environment"]
    print(
        f"{env['cpus']} CPUs ({env.get('cpu_model')}), {env.get('memory_gib')} GiB memory, "
        f"{env['machine']}, Python {env['python']}, PostgreSQL {env.get('postgres')}, "
        f"Kafka {env.get('kafka')}, commit {env.get('commit')}; load average "
        f"{env['loadavg_at_start']} → {env['loadavg_at_end']}; {meta['seconds']:.0f}s; "
        f"saved to {_shown(out)}"
    )
    failed = [o for o in outcomes if not o.passed]
    for outcome in failed:
        print(f"FAILED {outcome.bench} (no figures shown):")
        for problem in outcome.problems:
            print(f"  {problem}")
    return 1 if failed else 0


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    sys.exit(main())
