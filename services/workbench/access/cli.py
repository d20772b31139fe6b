"""Sign-in accounts from a shell: the first administrator's, or any a script needs.

    python -m services.workbench.access.cli set-password --staff AD01 [--password …]
    python -m services.workbench.access.cli unlock --staff AD01
    python -m services.workbench.access.cli end-sessions --staff AD01

`make account STAFF=AD01` calls `set-password` with a new random password, printed on the
last line; the person is asked to choose their own at the first sign-in. The person must
be in the directory (escalation's /staff) and active to sign in.
"""

from __future__ import annotations

import argparse
import secrets
import sys

from services.workbench.access import flows
from services.workbench.config import get_config
from shared.clock import utcnow
from shared.db import database_for
from shared.migrations import upgrade
from shared.settings import AUTH_STORE, WORKBENCH, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.workbench.access.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    password = sub.add_parser("set-password", help="create an account or give it a password")
    password.add_argument("--staff", required=True)
    password.add_argument("--password", default=None, help="default: a new random one, printed")
    password.add_argument(
        "--keep", action="store_true", help="do not ask the person to change it at sign-in"
    )
    sub.add_parser("unlock", help="unlock after failed sign-ins").add_argument(
        "--staff", required=True
    )
    sub.add_parser("end-sessions", help="end a person's sessions now").add_argument(
        "--staff", required=True
    )
    args = parser.parse_args(argv)

    settings = Settings()
    for store in (WORKBENCH, AUTH_STORE):
        upgrade(store, url=settings.database_url_for(store), schema=settings.schema_for(store))
    db = database_for(WORKBENCH, settings)
    try:
        if args.command == "set-password":
            chosen = args.password or secrets.token_urlsafe(12)
            try:
                created = flows.set_password(
                    db,
                    args.staff,
                    chosen,
                    get_config(),
                    by="cli",
                    now=utcnow(),
                    must_change=not args.keep,
                )
            except flows.PasswordRefused as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            what = "created" if created else "password changed"
            print(f"account {args.staff}: {what}; its password:", file=sys.stderr)
            print(chosen)
        elif args.command == "unlock":
            flows.unlock(db, args.staff, now=utcnow())
            print(f"account {args.staff}: unlocked", file=sys.stderr)
        else:
            auth_db = database_for(AUTH_STORE, settings)
            try:
                n = flows.end_sessions_of(db, auth_db, args.staff, now=utcnow(), why="ended")
            finally:
                auth_db.dispose()
            print(f"ended {n} session(s) of {args.staff}", file=sys.stderr)
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
