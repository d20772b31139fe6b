"""Intake throughput: complaints registered per second over HTTP, against the floor.

Both runs use the same machine, PostgreSQL, uvicorn settings and load (wrk, a fixed
number of connections, each request a different caller):
1. intake: `POST /complaints` on the real service (validation, the caller's file, the
   complaint, the customer, the outbox row), with its worker relaying the events to
   Kafka all the while;
2. floor: a bare FastAPI endpoint that validates the same body and inserts one row,
   reaching PostgreSQL the same way as intake (an async psycopg pool, one statement):
   bench/floor_app.py — what any REST intake pays at least.
It prints both rates, their ratio, latencies, and checks that every complaint
registered was stored and its event published.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from bench.common import Check

NAME = "intake"
DESCRIPTION = "POST /complaints per second over HTTP, against a bare FastAPI insert (the floor)"

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
LUA = Path(__file__).with_name("register.lua")


@dataclass
class LoadResult:
    requests_per_s: float
    requests: int
    errors: int
    non_2xx: int
    latency_ms: dict[str, float]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except Exception as exc:
            last = str(exc)
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s: {last}")


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", value.strip())
    if not m:
        raise ValueError(f"not a wrk duration: {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(output: str) -> LoadResult:
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if not rate or not total:
        raise RuntimeError(f"could not read wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    latency = {
        f"p{p}": _ms(v)
        for p, v in re.findall(r"^\s+(50|75|90|99)(?:\.\d+)?%\s+(\S+)", output, re.M)
    }
    return LoadResult(
        requests_per_s=float(rate.group(1)),
        requests=int(total.group(1)),
        errors=sum(int(x) for x in errors.groups()) if errors else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        latency_ms=latency,
    )


def run_wrk(
    url: str,
    *,
    seconds: int,
    connections: int,
    threads: int,
    token: str,
    path: str = "/complaints",
) -> LoadResult:
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            url,
        ],
        env={**os.environ, "BENCH_TOKEN": token, "BENCH_PATH": path},
        capture_output=True,
        text=True,
        check=True,
    )
    return parse_wrk(out.stdout)


class Server:
    """A process started for the benchmark and stopped with it."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._fh = log.open("wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=self._fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._fh.close()


def uvicorn_argv(app: str, port: int, workers: int, factory: bool) -> list[str]:
    argv = [PYTHON, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", str(workers), "--no-access-log", "--log-level", "warning"]
    return argv + (["--factory"] if factory else [])


def scalar(url: str, sql: str) -> Any:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


def create_floor_table(url: str, schema: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        conn.execute(
            text(
                f'CREATE TABLE IF NOT EXISTS "{schema}".floor_rows ('
                "id varchar(36) PRIMARY KEY, customer_phone text NOT NULL, "
                "category text NOT NULL, description text NOT NULL, at timestamptz NOT NULL)"
            )
        )
    engine.dispose()


def measure(
    *,
    pg_url: str,
    kafka: str,
    seconds: int,
    connections: int,
    threads: int,
    api_workers: int,
    log_dir: Path,
) -> dict[str, Any]:
    from bench.common import UNLIMITED, bench_token
    from shared.db import database_for
    from shared.migrations import upgrade
    from shared.settings import AUTH_STORE, Settings, normalise_database_url

    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed (Debian package 'wrk'; scripts/bench.sh adds it)")
    pg_url = normalise_database_url(pg_url)
    prefix = f"b{uuid.uuid4().hex[:6]}_"
    settings = Settings(database_url=pg_url, schema_prefix=prefix, kafka_bootstrap_servers=kafka)
    for store in ("intake", AUTH_STORE):
        upgrade(store, url=pg_url, schema=settings.schema_for(store))
    auth = database_for(AUTH_STORE, settings)
    token = bench_token(auth, "BENCH1", "agent")
    auth.dispose()
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "SCHEMA_PREFIX": prefix,
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "ACCESS_LOG": "false",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        **UNLIMITED,
    }
    log_dir.mkdir(parents=True, exist_ok=True)
    intake_schema = settings.schema_for("intake")
    floor_schema = f"{prefix}floor"
    results: dict[str, Any] = {}
    # Long enough for the pools to fill and the statements to be prepared on both sides.
    warmup = 2 if seconds < 10 else 5

    def wrk_at(port: int, token: str, secs: int, path: str = "/complaints") -> LoadResult:
        return run_wrk(
            f"http://127.0.0.1:{port}",
            seconds=secs,
            connections=connections,
            threads=threads,
            token=token,
            path=path,
        )

    def warm_then_measure(port: int, token: str, path: str = "/complaints") -> LoadResult:
        wrk_at(port, token, warmup, path)
        return wrk_at(port, token, seconds, path)

    # 1. intake, with its worker relaying events to Kafka the whole time
    port = free_port()
    api = Server(
        uvicorn_argv("services.intake.main:create_app", port, api_workers, True),
        env,
        log_dir / "intake-api.log",
    )
    worker = Server([PYTHON, "-m", "services.intake.worker"], env, log_dir / "intake-worker.log")
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz")
        warm = wrk_at(port, token, warmup)
        before = scalar(pg_url, f'SELECT count(*) FROM "{intake_schema}".complaints')
        load = wrk_at(port, token, seconds)
        after = scalar(pg_url, f'SELECT count(*) FROM "{intake_schema}".complaints')
        backlog_at_end = scalar(
            pg_url, f'SELECT count(*) FROM "{intake_schema}".outbox WHERE sent_at IS NULL'
        )
        drained_in = None
        started = time.monotonic()
        while time.monotonic() - started < 120:
            left = scalar(
                pg_url, f'SELECT count(*) FROM "{intake_schema}".outbox WHERE sent_at IS NULL'
            )
            if left == 0:
                drained_in = time.monotonic() - started
                break
            time.sleep(0.2)
        # Requests still in flight when wrk stopped may commit after the drain: count only
        # once the complaints hold still and nothing is left unsent.
        count_sql = f'SELECT count(*) FROM "{intake_schema}".complaints'
        unsent_sql = f'SELECT count(*) FROM "{intake_schema}".outbox WHERE sent_at IS NULL'
        total = -1
        while time.monotonic() - started < 120:
            before_total, total = total, scalar(pg_url, count_sql)
            if total == before_total and scalar(pg_url, unsent_sql) == 0:
                break
            time.sleep(1)
        published = scalar(
            pg_url, f'SELECT count(*) FROM "{intake_schema}".outbox WHERE sent_at IS NOT NULL'
        )
        total = scalar(pg_url, count_sql)
    finally:
        api.stop()
        worker.stop()
    results["intake"] = load
    results["intake_warmup"] = warm
    results["stored_during_run"] = after - before
    results["outbox_backlog_at_end"] = backlog_at_end
    results["outbox_drained_after_s"] = drained_in
    results["events_published"] = published
    results["complaints_total"] = total

    # 2. the floor: same body, one INSERT
    create_floor_table(pg_url, floor_schema)
    port = free_port()
    floor = Server(
        uvicorn_argv("bench.floor_app:app", port, api_workers, False),
        {**env, "BENCH_FLOOR_URL": pg_url, "BENCH_FLOOR_SCHEMA": floor_schema},
        log_dir / "floor-api.log",
    )
    try:
        wait_ready(f"http://127.0.0.1:{port}/docs")
        results["floor"] = warm_then_measure(port, "x")
        results["floor_sync"] = warm_then_measure(port, "x", "/sync/complaints")
    finally:
        floor.stop()

    # Leave nothing behind in the bench database.
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        for schema in (intake_schema, settings.schema_for(AUTH_STORE), floor_schema):
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()
    return results


def report(results: dict[str, Any], *, seconds: int, connections: int, api_workers: int) -> str:
    intake: LoadResult = results["intake"]
    floor: LoadResult = results["floor"]
    floor_sync: LoadResult = results["floor_sync"]
    ratio = intake.requests_per_s / floor.requests_per_s if floor.requests_per_s else 0.0
    ratio_sync = (
        intake.requests_per_s / floor_sync.requests_per_s if floor_sync.requests_per_s else 0.0
    )
    drained = results["outbox_drained_after_s"]
    drained_text = f"in {drained:.1f}s" if drained is not None else "NOT within 120s"
    i50, i99 = intake.latency_ms.get("p50", 0.0), intake.latency_ms.get("p99", 0.0)
    f50, f99 = floor.latency_ms.get("p50", 0.0), floor.latency_ms.get("p99", 0.0)
    lines = [
        f"intake throughput ({seconds}s, {connections} connections, "
        f"{api_workers} API workers, outbox relay running)",
        f"  intake  POST /complaints     {intake.requests_per_s:8.0f} complaints/s  "
        f"p50 {i50:6.1f} ms  p99 {i99:6.1f} ms  non-2xx {intake.non_2xx}  "
        f"socket errors {intake.errors}",
        f"  floor   async psycopg INSERT {floor.requests_per_s:8.0f} requests/s    "
        f"p50 {f50:6.1f} ms  p99 {f99:6.1f} ms  non-2xx {floor.non_2xx}  "
        f"socket errors {floor.errors}",
        f"  floor   sync def + SQLAlchemy {floor_sync.requests_per_s:7.0f} requests/s    "
        f"p50 {floor_sync.latency_ms.get('p50', 0.0):6.1f} ms  "
        f"p99 {floor_sync.latency_ms.get('p99', 0.0):6.1f} ms",
        f"  ratio   intake / floor       {ratio:8.1%}   (goal: >= 60 % and >= 1000/s)",
        f"  ratio   intake / sync floor  {ratio_sync:8.1%}",
        f"  stored {results['stored_during_run']} complaints in the measured window; "
        f"outbox backlog at the end {results['outbox_backlog_at_end']}, drained {drained_text}; "
        f"events published {results['events_published']} of {results['complaints_total']}",
    ]
    return "\n".join(lines)


def figures(results: dict[str, Any]) -> dict[str, float]:
    intake: LoadResult = results["intake"]
    floor: LoadResult = results["floor"]
    floor_sync: LoadResult = results["floor_sync"]
    return {
        "intake_complaints_per_s": intake.requests_per_s,
        "floor_requests_per_s": floor.requests_per_s,
        "intake_vs_floor": intake.requests_per_s / floor.requests_per_s
        if floor.requests_per_s
        else 0.0,
        "floor_sync_requests_per_s": floor_sync.requests_per_s,
        "intake_vs_floor_sync": intake.requests_per_s / floor_sync.requests_per_s
        if floor_sync.requests_per_s
        else 0.0,
        "intake_p50_ms": intake.latency_ms.get("p50", 0.0),
        "intake_p99_ms": intake.latency_ms.get("p99", 0.0),
        "floor_p50_ms": floor.latency_ms.get("p50", 0.0),
        "floor_p99_ms": floor.latency_ms.get("p99", 0.0),
        "intake_non_2xx": float(intake.non_2xx),
        "outbox_drained_after_s": results["outbox_drained_after_s"] or -1.0,
    }


_UNITS_OF = {
    "intake_complaints_per_s": ("intake, POST /complaints", "complaints/s"),
    "floor_requests_per_s": ("floor, bare FastAPI + async INSERT", "requests/s"),
    "intake_vs_floor": ("intake / floor", "ratio"),
    "floor_sync_requests_per_s": ("floor, sync def + SQLAlchemy INSERT", "requests/s"),
    "intake_vs_floor_sync": ("intake / sync floor", "ratio"),
    "intake_p50_ms": ("intake latency p50", "ms"),
    "intake_p99_ms": ("intake latency p99", "ms"),
    "floor_p50_ms": ("floor latency p50", "ms"),
    "floor_p99_ms": ("floor latency p99", "ms"),
    "intake_non_2xx": ("intake answers not 2xx", "count"),
    "outbox_drained_after_s": ("outbox drained after the load", "s"),
}


def run(ctx: Any) -> Any:
    """For `python -m bench`: 30 s per side (5 s with --quick), 32 connections. The
    figures are those of `report` (printed by `python -m bench.intake`), after the checks."""
    from bench.common import Figure

    seconds = 5 if ctx.quick else 30
    connections, workers = 32, 2
    results = measure(
        pg_url=ctx.database_url,
        kafka=ctx.kafka_bootstrap,
        seconds=seconds,
        connections=connections,
        threads=1,
        api_workers=workers,
        log_dir=ctx.run_dir / "logs",
    )
    yield from checks(results, connections=connections)
    note = f"{seconds}s, {connections} connections, {workers} API workers, relay running"
    for key, value in figures(results).items():
        label, unit = _UNITS_OF[key]
        yield Figure(NAME, label, round(value, 3), unit, note)


def checks(results: dict[str, Any], *, connections: int) -> Iterator[Check]:
    """Rows stored = complaints acknowledged (2xx, warm-up and measured run), give or take
    the requests still in flight when wrk stopped (at most one per connection and run:
    stored, never answered); every stored complaint's event published; no errors."""

    intake: LoadResult = results["intake"]
    warm: LoadResult = results["intake_warmup"]
    acknowledged = sum(r.requests - r.non_2xx for r in (warm, intake))
    stored = results["complaints_total"]
    yield Check(
        NAME,
        "complaints stored = registrations acknowledged (+ in flight at wrk's stop)",
        range(acknowledged, acknowledged + 2 * connections + 1),
        stored,
    )
    yield Check(NAME, "events published = complaints stored", stored, results["events_published"])
    yield Check(NAME, "intake answers not 2xx", 0, intake.non_2xx + warm.non_2xx)
    yield Check(NAME, "intake socket errors", 0, intake.errors + warm.errors)
    for side in ("floor", "floor_sync"):
        floor: LoadResult = results[side]
        yield Check(
            NAME, f"{side}: answers not 2xx + socket errors", 0, floor.non_2xx + floor.errors
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.intake")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--api-workers", type=int, default=2)
    args = parser.parse_args(argv)
    pg_url = os.environ.get("BENCH_DATABASE_URL")
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not pg_url or not kafka:
        parser.error("BENCH_DATABASE_URL and KAFKA_BOOTSTRAP_SERVERS must be set (make bench)")
    results = measure(
        pg_url=pg_url,
        kafka=kafka,
        seconds=args.seconds,
        connections=args.connections,
        threads=args.threads,
        api_workers=args.api_workers,
        log_dir=ROOT / ".run" / "bench" / "logs",
    )
    failed = [c for c in checks(results, connections=args.connections) if not c.passed]
    for check in failed:
        print(f"check failed: {check}", file=sys.stderr)
    if failed:
        return 1
    print(
        report(
            results,
            seconds=args.seconds,
            connections=args.connections,
            api_workers=args.api_workers,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
