"""The image's entry point: the command names the role this container plays.

    api <service> [uvicorn options]   the service's REST API on its port (shared.settings);
                                      `api workbench`: the staff's web pages (port 8000)
    worker <service>                  the service's outbox relay, consumer and timers
    migrate [store]                   every store (or one: auth, intake, ...) to the
                                      newest schema, then exit
    topics                            create the Kafka topics that are missing, then exit
    token --role R --staff S [--department D]
                                      print a new bearer token (its last line)
    usage                             this text

Anything else is run as given (e.g. `python -m shared.auth.cli list`, `bash`).

An API given several uvicorn workers (`api intake --workers 4`, or WEB_CONCURRENCY)
counts its requests in one directory the workers share, emptied at start
(PROMETHEUS_MULTIPROC_DIR, default /tmp/metrics; shared/metrics.py), so that /metrics
answers with the whole container's figures whichever worker takes the scrape.
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from shared.settings import SERVICE_PORTS, SERVICES, WORKBENCH, WORKBENCH_PORT

ROLES = ("api", "worker", "migrate", "topics", "token", "usage")
METRICS_DIR = "/tmp/metrics"  # noqa: S108 - the container's own writable /tmp


def _usage(stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    print((__doc__ or "").strip(), file=stream)
    services = ", ".join(f"{s} (port {SERVICE_PORTS[s]})" for s in SERVICES)
    print(f"\nservices: {services}; {WORKBENCH} (port {WORKBENCH_PORT}, api only)", file=stream)


class UsageError(Exception):
    pass


def command(args: list[str], python: str = sys.executable) -> list[str]:
    """The argv a role runs; the same commands scripts/stack.py uses for a local run."""
    if not args or args[0] in ("usage", "help", "--help", "-h"):
        return []
    role, rest = args[0], args[1:]
    if role in ("api", "worker"):
        known = (*SERVICES, WORKBENCH) if role == "api" else SERVICES
        if not rest or rest[0] not in known:
            raise UsageError(f"{role} needs a service: one of {', '.join(known)}")
        service, extra = rest[0], rest[1:]
        if role == "worker":
            if extra:
                raise UsageError("worker takes no options (configure it by environment)")
            return [python, "-m", f"services.{service}.worker"]
        return [
            python,
            "-m",
            "shared.serve",
            "--factory",
            f"services.{service}.main:create_app",
            # Reached through the container network, never only from inside the container.
            "--host",
            "0.0.0.0",  # noqa: S104
            "--port",
            str(SERVICE_PORTS.get(service, WORKBENCH_PORT)),
            # The app logs every request itself (shared.api), with the correlation id.
            "--no-access-log",
            "--timeout-graceful-shutdown",
            "10",
            *extra,
        ]
    if role == "migrate":
        if len(rest) > 1:
            raise UsageError("migrate takes at most one store (default: all)")
        return [python, "-m", "shared.migrations", "upgrade", *(rest or ["all"])]
    if role == "topics":
        return [python, "-m", "shared.topics", "ensure", *rest]
    if role == "token":
        return [python, "-m", "shared.auth.cli", "issue", *rest]
    return args


def environment(args: list[str], env: dict[str, str] | None = None) -> dict[str, str]:
    """Variables a role needs besides the container's: the shared metrics directory of an
    API with several workers."""
    env = dict(os.environ) if env is None else env
    if args[:1] != ["api"]:
        return {}
    extra = args[2:]
    workers = env.get("WEB_CONCURRENCY", "1")
    for i, arg in enumerate(extra):
        if arg == "--workers" and i + 1 < len(extra):
            workers = extra[i + 1]
        elif arg.startswith("--workers="):
            workers = arg.split("=", 1)[1]
    if not workers.isdigit() or int(workers) <= 1:
        return {}
    return {"PROMETHEUS_MULTIPROC_DIR": env.get("PROMETHEUS_MULTIPROC_DIR") or METRICS_DIR}


def _prepare(env: dict[str, str]) -> None:
    directory = env.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        # Counts of an earlier run of this container must not be added to this one's.
        for name in os.listdir(directory):
            if name.endswith(".db"):
                os.remove(os.path.join(directory, name))
        os.environ.update(env)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        argv_to_run = command(args)
    except UsageError as exc:
        print(f"error: {exc}\n", file=sys.stderr)
        _usage(sys.stderr)
        return 2
    if not argv_to_run:
        _usage()
        return 0
    _prepare(environment(args))
    # exec, not a child: the role becomes PID 1 and receives the engine's SIGTERM itself.
    try:
        os.execvp(argv_to_run[0], argv_to_run)  # noqa: S606
    except FileNotFoundError:
        print(f"error: unknown command {argv_to_run[0]!r}\n", file=sys.stderr)
        _usage(sys.stderr)
        return 2
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main())
