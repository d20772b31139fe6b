"""Start and stop the whole local system: Kafka, (optionally) PostgreSQL, migrations,
and every service's API and worker, in the background.

    python scripts/stack.py up [--db sqlite|postgres]   (make run)
    python scripts/stack.py down                         (make down)
    python scripts/stack.py status
    python scripts/stack.py logs                         (make logs)
    python scripts/stack.py token --role agent --staff A001 [--department billing]

What `up` started, and with which settings, is written to .run/<stack>/stack.json so
`down`, `status` and `token` act on the same system.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.settings import SERVICE_PORTS  # noqa: E402

STACK = os.environ.get("STACK", "dev")
RUN = ROOT / ".run" / STACK
PIDS = RUN / "pids"
LOGS = RUN / "logs"
STATE = RUN / "stack.json"
PYTHON = ROOT / ".venv" / "bin" / "python"


@dataclass(frozen=True)
class Proc:
    name: str
    argv: list[str]
    port: int | None = None


def processes(api_workers: int) -> list[Proc]:
    procs: list[Proc] = []
    for service, port in SERVICE_PORTS.items():
        argv = [
            str(PYTHON),
            "-m",
            "uvicorn",
            "--factory",
            f"services.{service}.main:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "10",
        ]
        if api_workers > 1:
            argv += ["--workers", str(api_workers)]
        procs.append(Proc(f"{service}-api", argv, port))
        procs.append(Proc(f"{service}-worker", [str(PYTHON), "-m", f"services.{service}.worker"]))
    return procs


def script_env(name: str) -> dict[str, str]:
    """The stack's settings as scripts/env.sh computes them (one source of truth)."""
    out = subprocess.run(
        ["bash", "-c", f'source "{ROOT}/scripts/env.sh" && echo "${name}"'],
        env={**os.environ, "STACK": STACK},
        capture_output=True,
        text=True,
        check=True,
    )
    return {name: out.stdout.strip()}


def run_script(*args: str) -> None:
    subprocess.run(
        [str(ROOT / "scripts" / args[0]), *args[1:]], env={**os.environ, "STACK": STACK}, check=True
    )


def pid_of(proc_name: str) -> int | None:
    path = PIDS / f"{proc_name}.pid"
    if not path.exists():
        return None
    try:
        pid = int(path.read_text())
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def ready(port: int) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=3) as resp:
            return resp.status == 200, resp.read().decode()
    except Exception as exc:
        body = getattr(exc, "read", lambda: b"")()
        return False, body.decode() if body else str(exc)


def load_state() -> dict[str, object]:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def service_env(state: dict[str, object]) -> dict[str, str]:
    env = {**os.environ, **{k: str(v) for k, v in dict(state.get("env", {})).items()}}  # type: ignore[arg-type]
    env["PYTHONUNBUFFERED"] = "1"
    return env


def up(db: str, api_workers: int, timeout: float) -> int:
    if not PYTHON.exists():
        print("no virtualenv: run 'make install' first", file=sys.stderr)
        return 1
    for d in (PIDS, LOGS):
        d.mkdir(parents=True, exist_ok=True)
    kafka = script_env("KAFKA_BOOTSTRAP_SERVERS")["KAFKA_BOOTSTRAP_SERVERS"]
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "DATA_DIR": str(RUN / "data"),
        "ENVIRONMENT": "development",
    }
    started_pg = False
    if db == "postgres":
        run_script("postgres.sh", "start")
        env["DATABASE_URL"] = script_env("PG_URL")["PG_URL"]
        started_pg = True
    elif os.environ.get("DATABASE_URL"):
        env["DATABASE_URL"] = os.environ["DATABASE_URL"]
    state = {"env": env, "started_postgres": started_pg, "stack": STACK}
    STATE.write_text(json.dumps(state, indent=2))
    run_script("kafka.sh", "start")

    penv = service_env(state)
    subprocess.run(
        [str(PYTHON), "-m", "shared.migrations", "upgrade", "all"], env=penv, check=True, cwd=ROOT
    )

    procs = processes(api_workers)
    for proc in procs:
        if pid_of(proc.name):
            continue
        log = open(LOGS / f"{proc.name}.log", "ab")  # noqa: SIM115 - handed to the child
        child = subprocess.Popen(
            proc.argv,
            cwd=ROOT,
            env=penv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        (PIDS / f"{proc.name}.pid").write_text(str(child.pid))

    deadline = time.monotonic() + timeout
    pending = {p.name: p for p in procs if p.port}
    while pending and time.monotonic() < deadline:
        for name, proc in list(pending.items()):
            if pid_of(name) is None:
                print(f"{name} exited; last lines of {LOGS / (name + '.log')}:", file=sys.stderr)
                print(tail(LOGS / f"{name}.log"), file=sys.stderr)
                return 1
            ok, _ = ready(proc.port)  # type: ignore[arg-type]
            if ok:
                del pending[name]
        time.sleep(0.3)
    if pending:
        for name, proc in pending.items():
            print(f"{name} not ready after {timeout:.0f}s: {ready(proc.port)[1]}", file=sys.stderr)  # type: ignore[arg-type]
        return 1
    dead = [p.name for p in procs if pid_of(p.name) is None]
    if dead:
        print(f"exited during start: {', '.join(dead)} (see {LOGS})", file=sys.stderr)
        return 1
    print_addresses(kafka, env)
    return 0


def print_addresses(kafka: str, env: dict[str, str]) -> None:
    print("\nComplaint platform is running:")
    for service, port in SERVICE_PORTS.items():
        print(f"  {service:<11} http://127.0.0.1:{port}   (docs: http://127.0.0.1:{port}/docs)")
    print(f"  {'kafka':<11} {kafka}")
    print(f"  {'database':<11} {env.get('DATABASE_URL') or 'SQLite files in ' + env['DATA_DIR']}")
    print(f"  {'logs':<11} {LOGS}   (make logs)")
    print("\nA token to call the APIs:   make token ROLE=agent STAFF=A001")
    print("Stop everything:            make down\n")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def down() -> int:
    state = load_state()
    names = sorted(p.stem for p in PIDS.glob("*.pid")) if PIDS.exists() else []
    pids = {n: pid_of(n) for n in names}
    for pid in pids.values():
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for name, pid in pids.items():
        while pid and time.monotonic() < deadline and pid_of(name):
            time.sleep(0.1)
        if pid and pid_of(name):
            print(f"{name} did not stop; killing it", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        (PIDS / f"{name}.pid").unlink(missing_ok=True)
    if names:
        print(f"stopped: {', '.join(names)}")
    run_script("kafka.sh", "stop")
    if state.get("started_postgres"):
        run_script("postgres.sh", "stop")
    return 0


def status() -> int:
    state = load_state()
    code = 0
    for proc in processes(1):
        pid = pid_of(proc.name)
        line = f"{proc.name:<20} {'running pid ' + str(pid) if pid else 'stopped'}"
        if pid and proc.port:
            ok, _ = ready(proc.port)
            line += f"  http://127.0.0.1:{proc.port}  {'ready' if ok else 'NOT READY'}"
        if not pid:
            code = 3
        print(line)
    subprocess.run(
        [str(ROOT / "scripts" / "kafka.sh"), "status"],
        env={**os.environ, "STACK": STACK},
        check=False,
    )
    if state.get("started_postgres"):
        subprocess.run(
            [str(ROOT / "scripts" / "postgres.sh"), "status"],
            env={**os.environ, "STACK": STACK},
            check=False,
        )
    return code


def logs() -> int:
    files = sorted(str(p) for p in LOGS.glob("*.log")) if LOGS.exists() else []
    kafka_log = RUN / "kafka" / "broker.log"
    if kafka_log.exists():
        files.append(str(kafka_log))
    if not files:
        print("no logs yet: start the system with 'make run'", file=sys.stderr)
        return 1
    os.execvp("tail", ["tail", "-n", "20", "-F", *files])  # noqa: S606
    return 0


def token(argv: list[str]) -> int:
    env = service_env(load_state())
    env.setdefault("DATA_DIR", str(RUN / "data"))
    return subprocess.run(
        [str(PYTHON), "-m", "shared.auth.cli", "issue", *argv], env=env, cwd=ROOT, check=False
    ).returncode


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/stack.py")
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up")
    p_up.add_argument(
        "--db", choices=["sqlite", "postgres"], default=os.environ.get("DB", "sqlite") or "sqlite"
    )
    p_up.add_argument("--api-workers", type=int, default=int(os.environ.get("API_WORKERS", "1")))
    p_up.add_argument("--timeout", type=float, default=120)
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("logs")
    sub.add_parser("token", add_help=False)
    args, rest = parser.parse_known_args()
    if args.command == "up":
        return up(args.db, args.api_workers, args.timeout)
    if args.command == "down":
        return down()
    if args.command == "status":
        return status()
    if args.command == "logs":
        return logs()
    return token(rest)


if __name__ == "__main__":
    sys.exit(main())
