"""Start and stop the whole local system: Kafka, (optionally) PostgreSQL, migrations,
and every service's API and worker, in the background.

    python scripts/stack.py up [--db sqlite|postgres]   (make run)
    python scripts/stack.py down                         (make down)
    python scripts/stack.py status
    python scripts/stack.py revive                       start again what died (no migrations)
    python scripts/stack.py logs                         (make logs)
    python scripts/stack.py token --role agent --staff A001 [--department billing]
    python scripts/stack.py account --staff AD01 [--password …]   a workbench sign-in

What `up` started, and with which settings, is written to .run/<stack>/stack.json so
`down`, `status` and `token` act on the same system. `down` stops only what `up`
started: a broker or database that was already running is left alone.

The defaults are those of `make run`; each can be changed, e.g. to run the system
against infrastructure that is already up:

    STACK=dev|test|bench|chaos  which local environment's Kafka and PostgreSQL to start
                                (ports and data, see scripts/env.sh)
    RUN_DIR                     where pids, logs, state and SQLite files go
                                (default .run/<stack>)
    --kafka HOST:PORT           use the broker already running there: it is neither
      or STACK_KAFKA            started nor stopped (topics are created if missing)
    --database-url URL          use the PostgreSQL already running there (each service
      or DATABASE_URL           in its own schema; SCHEMA_PREFIX is honoured)
    --objectstore KIND          where attachments go: `s3` (default) starts the stack's own
      or STACK_OBJECTSTORE      SeaweedFS (scripts/objectstore.sh) unless INTAKE_S3_ENDPOINT_URL
                                names an S3 API already running (with its INTAKE_S3_* keys);
                                `filesystem` keeps them as files under DATA_DIR, nothing started
    --port-base N               the APIs listen on N+1..N+4 instead of 8001..8004, the
      or STACK_PORT_BASE        workbench on N
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.settings import SERVICE_PORTS, SMS_GATEWAY_PORT, WORKBENCH_PORT  # noqa: E402

STACK = os.environ.get("STACK", "dev")
RUN = Path(os.environ.get("RUN_DIR") or ROOT / ".run" / STACK).resolve()
PIDS = RUN / "pids"
LOGS = RUN / "logs"
STATE = RUN / "stack.json"
PYTHON = ROOT / ".venv" / "bin" / "python"
DEFAULT_PORT_BASE = 8000

# The development SMS gateway (a page showing the SMS sent, API.md) belongs to the notify
# service. It is started when notify provides it as an app factory here; until then the
# system runs without it and `up` says so.
SMS_GATEWAY_APP = "services.notify.gateway:create_app"
# The staff's web pages: an API process of their own, calling the four APIs.
WORKBENCH_APP = "services.workbench.main:create_app"

# Settings the services read that `up` records, so later commands see the same system.
PASSED_SETTINGS = ("SCHEMA_PREFIX",)
# An object store already running that the caller names: used, neither started nor stopped.
GIVEN_OBJECTSTORE = (
    "INTAKE_S3_ENDPOINT_URL",
    "INTAKE_S3_BUCKET",
    "INTAKE_S3_REGION",
    "INTAKE_S3_ACCESS_KEY_ID",
    "INTAKE_S3_SECRET_ACCESS_KEY",
)


@dataclass(frozen=True)
class Proc:
    name: str
    argv: list[str]
    # The argument that tells this process apart from any other on the machine: a pid
    # file outliving its process must never make us signal a stranger that got its pid.
    marker: str
    port: int | None = None
    # Where readiness is asked; None: the port accepting connections is enough.
    ready_path: str | None = "/readyz"


def uvicorn_argv(app: str, port: int, api_workers: int) -> list[str]:
    argv = [
        str(PYTHON),
        "-m",
        "shared.serve",
        "--factory",
        app,
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
    return argv


def service_ports(port_base: int) -> dict[str, int]:
    return {s: port_base + p - DEFAULT_PORT_BASE for s, p in SERVICE_PORTS.items()}


def workbench_port(port_base: int) -> int:
    return port_base + WORKBENCH_PORT - DEFAULT_PORT_BASE


def sms_gateway_available() -> bool:
    module = SMS_GATEWAY_APP.split(":")[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def processes(api_workers: int, port_base: int = DEFAULT_PORT_BASE) -> list[Proc]:
    procs: list[Proc] = []
    for service, port in service_ports(port_base).items():
        app = f"services.{service}.main:create_app"
        procs.append(Proc(f"{service}-api", uvicorn_argv(app, port, api_workers), app, port))
        module = f"services.{service}.worker"
        procs.append(Proc(f"{service}-worker", [str(PYTHON), "-m", module], module))
    port = workbench_port(port_base)
    procs.append(
        Proc("workbench", uvicorn_argv(WORKBENCH_APP, port, api_workers), WORKBENCH_APP, port)
    )
    if sms_gateway_available():
        port = port_base + SMS_GATEWAY_PORT - DEFAULT_PORT_BASE
        argv = uvicorn_argv(SMS_GATEWAY_APP, port, 1)
        procs.append(Proc("sms-gateway", argv, SMS_GATEWAY_APP, port, ready_path=None))
    return procs


def script_env(name: str) -> str:
    """One of the stack's settings as scripts/env.sh computes it (one source of truth)."""
    out = subprocess.run(
        ["bash", "-c", f'source "{ROOT}/scripts/env.sh" && echo "${name}"'],
        env={**os.environ, "STACK": STACK},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def run_script(*args: str, check: bool = True) -> int:
    return subprocess.run(
        [str(ROOT / "scripts" / args[0]), *args[1:]],
        env={**os.environ, "STACK": STACK},
        check=check,
    ).returncode


def script_settings(script: str, *args: str) -> dict[str, str]:
    """NAME=value lines a script prints (objectstore.sh env), as a dict."""
    out = subprocess.run(
        [str(ROOT / "scripts" / script), *args],
        env={**os.environ, "STACK": STACK},
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)


def script_running(script: str) -> bool:
    """Whether the stack's own Kafka (kafka.sh), PostgreSQL (postgres.sh) or object store
    (objectstore.sh) runs."""
    return (
        subprocess.run(
            [str(ROOT / "scripts" / script), "status"],
            env={**os.environ, "STACK": STACK},
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")


def pid_of(proc_name: str, marker: str | None = None) -> int | None:
    """The pid recorded for a process, if that process still runs."""
    path = PIDS / f"{proc_name}.pid"
    if not path.exists():
        return None
    try:
        pid = int(path.read_text())
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, PermissionError):
        return None
    if Path("/proc/self").exists():
        argv = _cmdline(pid)
        # An exited process whose parent has not reaped it yet has no command line.
        if not argv or (marker or "services.") not in " ".join(argv):
            return None
    return pid


def ready(port: int, path: str | None = "/readyz") -> tuple[bool, str]:
    if path is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True, "accepting connections"
        except OSError as exc:
            return False, str(exc)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as resp:
            return resp.status == 200, resp.read().decode()
    except Exception as exc:
        body = getattr(exc, "read", lambda: b"")()
        return False, body.decode() if body else str(exc)


def load_state() -> dict[str, object]:
    return json.loads(STATE.read_text()) if STATE.exists() else {}


def state_env(state: dict[str, object]) -> dict[str, str]:
    recorded = state.get("env")
    return {k: str(v) for k, v in recorded.items()} if isinstance(recorded, dict) else {}


def state_int(state: dict[str, object], key: str, default: int) -> int:
    value = state.get(key, default)
    return value if isinstance(value, int) else default


def service_env(state: dict[str, object]) -> dict[str, str]:
    recorded = state_env(state)
    env = {**os.environ, **recorded}
    if state and "DATABASE_URL" not in recorded:
        # The system runs on SQLite: a DATABASE_URL in the caller's shell must not
        # point one of its processes somewhere else.
        env.pop("DATABASE_URL", None)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def procs_of(state: dict[str, object]) -> list[Proc]:
    return processes(
        state_int(state, "api_workers", 1), state_int(state, "port_base", DEFAULT_PORT_BASE)
    )


def running(state: dict[str, object]) -> list[str]:
    return [p.name for p in procs_of(state) if pid_of(p.name, p.marker)]


def describe(state: dict[str, object]) -> str:
    env = state_env(state)
    db = env.get("DATABASE_URL") or "SQLite"
    apis = ", ".join(
        str(p) for p in service_ports(state_int(state, "port_base", DEFAULT_PORT_BASE)).values()
    )
    return f"database {db}, Kafka {env.get('KAFKA_BOOTSTRAP_SERVERS')}, APIs on {apis}"


def up(
    db: str,
    api_workers: int,
    timeout: float,
    *,
    kafka: str | None,
    database_url: str | None,
    port_base: int,
    objectstore: str = "s3",
) -> int:
    if not PYTHON.exists():
        print("no virtualenv: run 'make install' first", file=sys.stderr)
        return 1
    for d in (PIDS, LOGS):
        d.mkdir(parents=True, exist_ok=True)

    env = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka or script_env("KAFKA_BOOTSTRAP_SERVERS"),
        "DATA_DIR": str(RUN / "data"),
        "ENVIRONMENT": "development",
        # Staff SMS link to the complaint's page on the workbench.
        "NOTIFY_WORKBENCH_URL": os.environ.get("NOTIFY_WORKBENCH_URL")
        or f"http://127.0.0.1:{workbench_port(port_base)}",
    }
    if port_base != DEFAULT_PORT_BASE:
        # Notify and the development gateway find each other on the moved ports.
        notify = f"http://127.0.0.1:{service_ports(port_base)['notify']}"
        gateway = f"http://127.0.0.1:{port_base + SMS_GATEWAY_PORT - DEFAULT_PORT_BASE}"
        env["NOTIFY_PUBLIC_URL"] = os.environ.get("NOTIFY_PUBLIC_URL") or notify
        env["NOTIFY_GATEWAY_NOTIFY_URL"] = os.environ.get("NOTIFY_GATEWAY_NOTIFY_URL") or notify
        env["NOTIFY_TWILIO_BASE_URL"] = os.environ.get("NOTIFY_TWILIO_BASE_URL") or gateway
        # The workbench calls the APIs on the moved ports, and SMS link to it there.
        for service, port in service_ports(port_base).items():
            env[f"WORKBENCH_{service.upper()}_URL"] = f"http://127.0.0.1:{port}"
        workbench = f"http://127.0.0.1:{workbench_port(port_base)}"
        env["WORKBENCH_PUBLIC_URL"] = os.environ.get("WORKBENCH_PUBLIC_URL") or workbench
    if database_url:
        env["DATABASE_URL"] = database_url
    elif db == "postgres":
        env["DATABASE_URL"] = script_env("PG_URL")
    env.update({k: os.environ[k] for k in PASSED_SETTINGS if os.environ.get(k)})
    # Attachments: the stack's own object store, one the caller names, or files.
    own_store = objectstore == "s3" and not os.environ.get("INTAKE_S3_ENDPOINT_URL")
    if objectstore == "filesystem":
        env["INTAKE_OBJECT_STORE"] = "filesystem"
    elif own_store:
        env.update(script_settings("objectstore.sh", "env"))
    else:
        env["INTAKE_OBJECT_STORE"] = "s3"
        env.update({k: os.environ[k] for k in GIVEN_OBJECTSTORE if os.environ.get(k)})

    previous = load_state()
    already = running(previous) if previous else []
    same = state_env(previous) == env and state_int(previous, "port_base", 0) == port_base
    if already and not same:
        print(
            f"the system is already running ({', '.join(already)}) with {describe(previous)}; "
            "stop it first with 'make down'",
            file=sys.stderr,
        )
        return 1

    # What an earlier `up` started stays ours to stop, whatever this one uses.
    own_pg = db == "postgres" and not database_url
    started_pg = bool(previous.get("started_postgres")) or (
        own_pg and not script_running("postgres.sh")
    )
    started_kafka = bool(previous.get("started_kafka")) or (
        kafka is None and not script_running("kafka.sh")
    )
    started_store = bool(previous.get("started_objectstore")) or (
        own_store and not script_running("objectstore.sh")
    )
    if own_pg:
        run_script("postgres.sh", "start")
    state: dict[str, object] = {
        "stack": STACK,
        "env": env,
        "port_base": port_base,
        "api_workers": api_workers,
        "started_kafka": started_kafka,
        "started_postgres": started_pg,
        "started_objectstore": started_store,
    }
    STATE.write_text(json.dumps(state, indent=2))

    penv = service_env(state)
    if kafka is None:
        run_script("kafka.sh", "start")
    else:
        subprocess.run(
            [str(PYTHON), "-m", "shared.topics", "ensure", "--bootstrap", kafka],
            env=penv,
            check=True,
            cwd=ROOT,
        )
    if own_store:
        # Before intake: it makes its bucket, and takes files, from its first request.
        run_script("objectstore.sh", "start")
    subprocess.run(
        [str(PYTHON), "-m", "shared.migrations", "upgrade", "all"], env=penv, check=True, cwd=ROOT
    )

    procs = processes(api_workers, port_base)
    if start_missing(procs, penv) is None:
        return 1
    if not wait_ready(procs, timeout):
        return 1
    print_addresses(env, port_base, procs)
    return 0


def start_missing(procs: list[Proc], penv: dict[str, str]) -> list[str] | None:
    """Start each process that does not run; the names started, None when a port is taken."""
    started = []
    for proc in procs:
        if pid_of(proc.name, proc.marker):
            continue
        if proc.port and not port_free(proc.port):
            print(
                f"port {proc.port} for {proc.name} is taken by another program: stop it "
                "or choose other ports with --port-base ('make down' stops what did start)",
                file=sys.stderr,
            )
            return None
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
        log.close()
        (PIDS / f"{proc.name}.pid").write_text(str(child.pid))
        started.append(proc.name)
    return started


def exited(proc_name: str) -> bool:
    """Whether a process we started has ended. Its command line is not checked: right
    after the fork, before its program is loaded, a child still shows ours."""
    try:
        pid = int((PIDS / f"{proc_name}.pid").read_text())
        stat = Path(f"/proc/{pid}/stat")
        if stat.exists():
            return stat.read_text().rsplit(") ", 1)[1][:1] in ("Z", "X")
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, IndexError, ProcessLookupError):
        return True
    except PermissionError:
        return False
    return False


def wait_ready(procs: list[Proc], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    pending = {p.name: p for p in procs if p.port}
    while pending and time.monotonic() < deadline:
        for name, proc in list(pending.items()):
            if exited(name):
                print(f"{name} exited; last lines of {LOGS / (name + '.log')}:", file=sys.stderr)
                print(tail(LOGS / f"{name}.log"), file=sys.stderr)
                print("('make down' stops what did start)", file=sys.stderr)
                return False
            assert proc.port is not None  # only procs with a port are pending
            ok, _ = ready(proc.port, proc.ready_path)
            if ok:
                del pending[name]
        time.sleep(0.3)
    if pending:
        for name, proc in pending.items():
            assert proc.port is not None
            detail = ready(proc.port, proc.ready_path)[1]
            print(f"{name} not ready after {timeout:.0f}s: {detail}", file=sys.stderr)
        print("('make down' stops what did start)", file=sys.stderr)
        return False
    dead = [p.name for p in procs if exited(p.name)]
    if dead:
        print(f"exited during start: {', '.join(dead)} (see {LOGS})", file=sys.stderr)
        return False
    return True


def revive(timeout: float) -> int:
    """Start again the processes of the running system that died, as `up` started them
    (no broker, database or migrations: those are `up`'s)."""
    state = load_state()
    if not state:
        print("no system to revive: start it with 'make run'", file=sys.stderr)
        return 1
    procs = procs_of(state)
    started = start_missing(procs, service_env(state))
    if started is None or not wait_ready(procs, timeout):
        return 1
    print(f"started again: {', '.join(started)}" if started else "all running")
    return 0


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def print_addresses(env: dict[str, str], port_base: int, procs: list[Proc]) -> None:
    print("\nComplaint platform is running:")
    print(
        f"  {'workbench':<11} http://127.0.0.1:{workbench_port(port_base)}   "
        "(the staff's pages: sign in with a workbench account)"
    )
    for service, port in service_ports(port_base).items():
        print(f"  {service:<11} http://127.0.0.1:{port}   (docs: http://127.0.0.1:{port}/docs)")
    gateway = next((p for p in procs if p.name == "sms-gateway"), None)
    if gateway:
        print(f"  {'sms':<11} http://127.0.0.1:{gateway.port}   (development SMS gateway)")
    else:
        print(f"  {'sms':<11} development SMS gateway not started: notify does not provide it yet")
    print(f"  {'kafka':<11} {env['KAFKA_BOOTSTRAP_SERVERS']}")
    store = env.get("INTAKE_S3_ENDPOINT_URL")
    print(
        f"  {'objectstore':<11} "
        + (f"{store}   (S3 API: attachments)" if store else "attachments as files in DATA_DIR")
    )
    print(f"  {'database':<11} {env.get('DATABASE_URL') or 'SQLite files in ' + env['DATA_DIR']}")
    print(f"  {'logs':<11} {LOGS}   (make logs)")
    print("\nA sign-in account:          make account STAFF=AD01 (an administrator, first)")
    print(
        "A token to call the APIs:   make token ROLE=admin STAFF=AD01 (the first "
        "administrator; anyone else once the directory has them)"
    )
    print("Stop everything:            make down\n")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def down() -> int:
    state = load_state()
    markers = {p.name: p.marker for p in procs_of(state)}
    names = sorted(p.stem for p in PIDS.glob("*.pid")) if PIDS.exists() else []
    pids = {n: pid_of(n, markers.get(n)) for n in names}
    for pid in pids.values():
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    for name, pid in pids.items():
        while pid and time.monotonic() < deadline and pid_of(name, markers.get(name)):
            time.sleep(0.1)
        if pid and pid_of(name, markers.get(name)):
            print(f"{name} did not stop; killing it", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        (PIDS / f"{name}.pid").unlink(missing_ok=True)
    stopped = [n for n, pid in pids.items() if pid]
    if stopped:
        print(f"stopped: {', '.join(stopped)}")
    # Without a record of what `up` did, stop the stack's own broker: that is what
    # `make run` starts.
    if state.get("started_kafka", True):
        run_script("kafka.sh", "stop")
    else:
        kafka = state_env(state).get("KAFKA_BOOTSTRAP_SERVERS")
        print(f"Kafka at {kafka} left running: it was running before 'up'")
    if state.get("started_postgres"):
        run_script("postgres.sh", "stop")
    elif state_env(state).get("DATABASE_URL"):
        print("PostgreSQL left running: it was running before 'up'")
    if state.get("started_objectstore"):
        run_script("objectstore.sh", "stop")
    STATE.unlink(missing_ok=True)
    return 0


def status() -> int:
    state = load_state()
    code = 0
    for proc in procs_of(state):
        pid = pid_of(proc.name, proc.marker)
        line = f"{proc.name:<20} {'running pid ' + str(pid) if pid else 'stopped'}"
        if pid and proc.port:
            ok, _ = ready(proc.port, proc.ready_path)
            line += f"  http://127.0.0.1:{proc.port}  {'ready' if ok else 'NOT READY'}"
        if not pid:
            code = 3
        print(line)
    if state.get("started_kafka", True):
        run_script("kafka.sh", "status", check=False)
    else:
        print(f"Kafka at {state_env(state).get('KAFKA_BOOTSTRAP_SERVERS')} (not ours to manage)")
    if state.get("started_postgres"):
        run_script("postgres.sh", "status", check=False)
    if state.get("started_objectstore"):
        run_script("objectstore.sh", "status", check=False)
    return code


def logs() -> int:
    files = sorted(str(p) for p in LOGS.glob("*.log")) if LOGS.exists() else []
    for own in (RUN / "kafka" / "broker.log", RUN / "objectstore" / "weed.log"):
        if own.exists():
            files.append(str(own))
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


def account(argv: list[str]) -> int:
    """A workbench sign-in account, in the running system's database."""
    env = service_env(load_state())
    env.setdefault("DATA_DIR", str(RUN / "data"))
    return subprocess.run(
        [str(PYTHON), "-m", "services.workbench.access.cli", "set-password", *argv],
        env=env,
        cwd=ROOT,
        check=False,
    ).returncode


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/stack.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up")
    p_up.add_argument(
        "--db", choices=["sqlite", "postgres"], default=os.environ.get("DB", "sqlite") or "sqlite"
    )
    p_up.add_argument(
        "--kafka",
        default=os.environ.get("STACK_KAFKA") or None,
        metavar="HOST:PORT",
        help="use this already running broker instead of starting the stack's own",
    )
    p_up.add_argument(
        "--database-url",
        metavar="URL",
        help="use this already running PostgreSQL (default: $DATABASE_URL, unless --db "
        "postgres asks for the stack's own)",
    )
    p_up.add_argument(
        "--port-base",
        type=int,
        metavar="N",
        default=int(os.environ.get("STACK_PORT_BASE") or DEFAULT_PORT_BASE),
        help="the APIs listen on N+1..N+4 (default 8000)",
    )
    p_up.add_argument(
        "--objectstore",
        choices=["s3", "filesystem"],
        default=os.environ.get("STACK_OBJECTSTORE") or "s3",
        help="where attachments go: an S3 API (the stack's own SeaweedFS unless "
        "INTAKE_S3_ENDPOINT_URL names one) or files under DATA_DIR",
    )
    p_up.add_argument("--api-workers", type=int, default=int(os.environ.get("API_WORKERS", "1")))
    p_up.add_argument("--timeout", type=float, default=120)
    p_revive = sub.add_parser("revive")
    p_revive.add_argument("--timeout", type=float, default=60)
    sub.add_parser("down")
    sub.add_parser("status")
    sub.add_parser("logs")
    sub.add_parser("token", add_help=False)
    sub.add_parser("account", add_help=False)
    args, rest = parser.parse_known_args()
    if args.command == "up":
        try:
            return up(
                args.db,
                args.api_workers,
                args.timeout,
                kafka=args.kafka,
                database_url=args.database_url
                or (None if args.db == "postgres" else os.environ.get("DATABASE_URL") or None),
                port_base=args.port_base,
                objectstore=args.objectstore,
            )
        except subprocess.CalledProcessError as exc:
            what = " ".join(str(a) for a in exc.cmd)
            print(f"failed (exit {exc.returncode}): {what}", file=sys.stderr)
            print("('make down' stops what did start)", file=sys.stderr)
            return 1
    if args.command == "down":
        return down()
    if args.command == "revive":
        return revive(args.timeout)
    if args.command == "status":
        return status()
    if args.command == "logs":
        return logs()
    if args.command == "account":
        return account(rest)
    return token(rest)


if __name__ == "__main__":
    sys.exit(main())
