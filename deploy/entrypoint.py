"""The image's entry point: the command names the role this container plays.

    api <service> [uvicorn options]   the service's REST API on its port (shared.settings)
    worker <service>                  the service's outbox relay, consumer and timers
    migrate [store]                   every store (or one: auth, intake, ...) to the
                                      newest schema, then exit
    topics                            create the Kafka topics that are missing, then exit
    token --role R --staff S [--department D]
                                      print a new bearer token (its last line)
    usage                             this text

Anything else is run as given (e.g. `python -m shared.auth.cli list`, `bash`).
"""

from __future__ import annotations

import os
import sys
from typing import TextIO

from shared.settings import SERVICE_PORTS, SERVICES

ROLES = ("api", "worker", "migrate", "topics", "token", "usage")


def _usage(stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    print((__doc__ or "").strip(), file=stream)
    services = ", ".join(f"{s} (port {SERVICE_PORTS[s]})" for s in SERVICES)
    print(f"\nservices: {services}", file=stream)


class UsageError(Exception):
    pass


def command(args: list[str], python: str = sys.executable) -> list[str]:
    """The argv a role runs; the same commands scripts/stack.py uses for a local run."""
    if not args or args[0] in ("usage", "help", "--help", "-h"):
        return []
    role, rest = args[0], args[1:]
    if role in ("api", "worker"):
        if not rest or rest[0] not in SERVICES:
            raise UsageError(f"{role} needs a service: one of {', '.join(SERVICES)}")
        service, extra = rest[0], rest[1:]
        if role == "worker":
            if extra:
                raise UsageError("worker takes no options (configure it by environment)")
            return [python, "-m", f"services.{service}.worker"]
        return [
            python,
            "-m",
            "uvicorn",
            "--factory",
            f"services.{service}.main:create_app",
            # Reached through the container network, never only from inside the container.
            "--host",
            "0.0.0.0",  # noqa: S104
            "--port",
            str(SERVICE_PORTS[service]),
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
