"""Issue and revoke bearer tokens.

    python -m shared.auth.cli issue --role agent --staff A001 [--department billing]
    python -m shared.auth.cli revoke --staff A001
    python -m shared.auth.cli list

`make token ROLE=agent STAFF=A001 [DEPARTMENT=billing]` calls `issue`; the token is
the last line printed.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from sqlalchemy import select
from sqlmodel import col

from shared.auth.principal import ROLES
from shared.auth.store import ApiToken, issue_token, revoke_tokens
from shared.db import database_for
from shared.migrations import upgrade
from shared.settings import AUTH_STORE, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.auth.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    issue = sub.add_parser("issue", help="print a new token")
    issue.add_argument("--role", required=True, choices=ROLES)
    issue.add_argument("--staff", required=True, help="staff id, e.g. A001")
    issue.add_argument("--department", default=None, help="department id (department users)")
    issue.add_argument("--label", default=None)
    issue.add_argument("--expires-days", type=int, default=None)
    revoke = sub.add_parser("revoke", help="revoke tokens")
    revoke.add_argument("--staff", default=None)
    revoke.add_argument("--token-id", default=None)
    sub.add_parser("list", help="list tokens (never their text)")
    args = parser.parse_args(argv)

    settings = Settings()
    upgrade(
        AUTH_STORE,
        url=settings.database_url_for(AUTH_STORE),
        schema=settings.schema_for(AUTH_STORE),
    )
    db = database_for(AUTH_STORE, settings)
    try:
        if args.command == "issue":
            try:
                with db.transaction() as session:
                    token, row = issue_token(
                        session,
                        staff_id=args.staff,
                        role=args.role,
                        department_id=args.department or None,
                        label=args.label,
                        expires_in=timedelta(days=args.expires_days) if args.expires_days else None,
                    )
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            dept = f" department={row.department_id}" if row.department_id else ""
            print(
                f"token for staff={row.staff_id} role={row.role}{dept} (id {row.id}):",
                file=sys.stderr,
            )
            print(token)
        elif args.command == "revoke":
            try:
                with db.transaction() as session:
                    n = revoke_tokens(session, staff_id=args.staff, token_id=args.token_id)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(f"revoked {n} token(s)")
        else:
            with db.read() as session:
                for row in session.execute(
                    select(ApiToken).order_by(col(ApiToken.created_at))
                ).scalars():
                    state = "revoked" if row.revoked_at else "active"
                    print(
                        f"{row.id}  {row.token_hint}…  {row.staff_id:<12} {row.role:<13} "
                        f"{row.department_id or '-':<12} {state}"
                    )
    finally:
        db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
