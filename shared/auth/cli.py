"""Issue and revoke bearer tokens.

    python -m shared.auth.cli issue --role agent --staff A001 [--department billing]
                                    [--expires-days 30]
    python -m shared.auth.cli revoke --staff A001
    python -m shared.auth.cli list
    python -m shared.auth.cli grants

`make token ROLE=agent STAFF=A001 [DEPARTMENT=billing]` calls `issue`; the token is
the last line printed. A token is issued only to someone active in the directory with
that role (and department); the one exception is an administrator the directory does not
know yet: the first one, who adds everybody else. Their grant is marked `bootstrap`, and
the directory takes it over once it has them.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlmodel import col

from shared.auth.principal import ROLES, Role
from shared.auth.store import (
    BOOTSTRAP,
    ApiToken,
    StaffGrant,
    bootstrap_admin,
    issue_token,
    revoke_tokens,
)
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
    issue.add_argument(
        "--expires-days", type=int, default=None, help="1 to TOKEN_MAX_DAYS (the default)"
    )
    revoke = sub.add_parser("revoke", help="revoke tokens")
    revoke.add_argument("--staff", default=None)
    revoke.add_argument("--token-id", default=None)
    sub.add_parser("list", help="list tokens (never their text)")
    sub.add_parser("grants", help="list who may hold tokens, as the directory says")
    args = parser.parse_args(argv)

    settings = Settings()
    longest = settings.token_max_days
    days = args.expires_days if args.command == "issue" else None
    if days is not None and not 1 <= days <= longest:
        print(
            f"error: --expires-days {args.expires_days}: a token lives 1 to {longest} days "
            "(TOKEN_MAX_DAYS); leave it out for the longest",
            file=sys.stderr,
        )
        return 2
    upgrade(
        AUTH_STORE,
        url=settings.database_url_for(AUTH_STORE),
        schema=settings.schema_for(AUTH_STORE),
    )
    db = database_for(AUTH_STORE, settings)
    try:
        if args.command == "issue":
            bootstrapped = False
            try:
                with db.transaction() as session:
                    if args.role == Role.ADMIN and not args.department:
                        bootstrapped = bootstrap_admin(session, args.staff)
                    token, row = issue_token(
                        session,
                        staff_id=args.staff,
                        role=args.role,
                        department_id=args.department or None,
                        label=args.label,
                        expires_in=timedelta(days=args.expires_days or longest),
                        max_lifetime=timedelta(days=longest),
                    )
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            if bootstrapped:
                print(
                    f"{args.staff} is not in the directory: registered as a bootstrap "
                    "administrator; add them to the directory (POST /staff) to keep them",
                    file=sys.stderr,
                )
            dept = f" department={row.department_id}" if row.department_id else ""
            until = row.expires_at or datetime.now(UTC)
            print(
                f"token for staff={row.staff_id} role={row.role}{dept} (id {row.id}, "
                f"expires {until:%Y-%m-%d %H:%M} UTC):",
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
        elif args.command == "grants":
            with db.read() as session:
                for grant in session.execute(
                    select(StaffGrant).order_by(col(StaffGrant.staff_id))
                ).scalars():
                    state = "active" if grant.active else "inactive"
                    note = "  (bootstrap)" if grant.source == BOOTSTRAP else ""
                    print(
                        f"{grant.staff_id:<12} {grant.role:<13} {grant.department_id or '-':<12} "
                        f"{grant.tenant or '*':<10} {state:<8} {grant.source}{note}"
                    )
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
