"""Signing in and out, and keeping a session honest while it lives.

A session is the person's directory entry (looked up at sign-in and again every
`directory_check_seconds`), a CSRF token, and a short-lived bearer token issued to that
person in the shared auth store, renewed while the session lives and revoked when it
ends. A deactivated person cannot sign in, and their sessions end at the next look-up
(at once when an administrator deactivates them through the workbench).
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.workbench.access import service
from services.workbench.apis import Apis, Refused
from services.workbench.config import WorkbenchConfig
from shared.auth.store import SERVICE, grant_outside_directory, issue_token, revoke_tokens
from shared.db import Database
from shared.vocabulary import Role

log = logging.getLogger(__name__)

hasher = PasswordHasher()
# Checked when nobody has the id asked for, so that an unknown id takes as long as a
# wrong password and the answer's timing tells nothing.
_NOBODY = hasher.hash(secrets.token_urlsafe(16))

# The workbench's own principal, for reading the directory at sign-in.
WORKBENCH_STAFF_ID = "workbench"


def session_key(cookie: str) -> str:
    return hashlib.sha256(cookie.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Person:
    """A directory entry as the workbench needs it."""

    staff_id: str
    name: str
    role: Role
    department_id: str | None
    active: bool


@dataclass(frozen=True)
class User:
    """The person a request comes from, with what the pages need to act as them."""

    session_id: str
    staff_id: str
    name: str
    role: Role
    department_id: str | None
    token: str
    csrf_token: str
    must_change: bool = False

    def is_(self, *roles: Role) -> bool:
        return self.role in roles


class SignInRefused(Exception):
    """Why a sign-in failed, in both languages (the page picks one)."""

    def __init__(self, zh: str, en: str, *, status: int = 401) -> None:
        super().__init__(en)
        self.zh, self.en, self.status = zh, en, status


class PasswordRefused(ValueError):
    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh, self.en = zh, en


_BAD = ("账号或密码不正确", "Wrong staff id or password")


class Directory:
    """Looks people up in the escalation service's directory with a token of the
    workbench's own, issued to itself in the auth store and renewed before it runs out.
    The workbench is no person in the directory: its principal holds a `service` grant."""

    def __init__(self, apis: Apis, auth_db: Database) -> None:
        self.apis = apis
        self.auth_db = auth_db
        self._lock = threading.Lock()
        self._token: tuple[str, str, datetime] | None = None

    def _bearer(self, now: datetime) -> str:
        with self._lock:
            if self._token is None or self._token[2] - now < timedelta(minutes=10):
                with self.auth_db.transaction() as session:
                    if self._token is not None:
                        revoke_tokens(session, token_id=self._token[1])
                    grant_outside_directory(
                        session, WORKBENCH_STAFF_ID, Role.ADMIN.value, source=SERVICE
                    )
                    token, row = issue_token(
                        session,
                        staff_id=WORKBENCH_STAFF_ID,
                        role=Role.ADMIN.value,
                        label="workbench: directory look-ups",
                        expires_in=timedelta(hours=1),
                    )
                self._token = (token, row.id, now + timedelta(hours=1))
            return self._token[0]

    def person(self, staff_id: str, *, now: datetime) -> Person | None:
        """The directory entry, None when there is none; Refused when the directory
        cannot be asked."""
        try:
            found = self.apis.get("escalation", f"/staff/{staff_id}", self._bearer(now))
        except Refused as exc:
            if exc.status == 404:
                return None
            raise
        return Person(
            staff_id=found["id"],
            name=found["name"],
            role=Role(found["role"]),
            department_id=found.get("department_id"),
            active=bool(found.get("active")),
        )

    def close(self) -> None:
        with self._lock:
            if self._token is not None:
                with self.auth_db.transaction() as session:
                    revoke_tokens(session, token_id=self._token[1])
                self._token = None


# --- passwords ------------------------------------------------------------------------


def check_password(password: str, config: WorkbenchConfig, *, staff_id: str = "") -> None:
    if len(password) < config.password_min_length:
        n = config.password_min_length
        raise PasswordRefused(f"密码至少 {n} 个字符", f"a password needs at least {n} characters")
    if password.strip() != password or not password.strip():
        raise PasswordRefused("密码首尾不能有空格", "a password cannot start or end with a space")
    if staff_id and staff_id.lower() in password.lower():
        raise PasswordRefused("密码不能包含工号", "a password cannot contain the staff id")


def set_password(
    db: Database,
    staff_id: str,
    password: str,
    config: WorkbenchConfig,
    *,
    by: str,
    now: datetime,
    must_change: bool,
) -> bool:
    """Create the account or give it a new password (and unlock it); True if created."""
    check_password(password, config, staff_id=staff_id)
    values: dict[str, Any] = {
        "password_hash": hasher.hash(password),
        "must_change": must_change,
        "failed_attempts": 0,
        "locked_until": None,
        "updated_at": now,
    }
    with db.transaction() as session:
        if service.get_account(session, staff_id, for_update=True) is None:
            service.insert_account(
                session,
                values={"staff_id": staff_id, "created_by": by, "created_at": now, **values},
            )
            return True
        service.update_account(session, staff_id=staff_id, values=values)
        return False


def unlock(db: Database, staff_id: str, *, now: datetime) -> None:
    with db.transaction() as session:
        service.update_account(
            session,
            staff_id=staff_id,
            values={"failed_attempts": 0, "locked_until": None, "updated_at": now},
        )


def change_own_password(
    db: Database, user: User, current: str, new: str, config: WorkbenchConfig, *, now: datetime
) -> None:
    with db.read() as session:
        account = service.get_account(session, user.staff_id)
    if account is None or not _verify(account.password_hash, current):
        raise PasswordRefused("当前密码不正确", "the current password is wrong")
    if new == current:
        raise PasswordRefused("新密码不能与当前密码相同", "the new password must differ")
    set_password(db, user.staff_id, new, config, by=user.staff_id, now=now, must_change=False)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# --- sessions -------------------------------------------------------------------------


def sign_in(
    db: Database,
    auth_db: Database,
    directory: Directory,
    config: WorkbenchConfig,
    *,
    staff_id: str,
    password: str,
    now: datetime,
) -> tuple[str, User]:
    """Check the password and the directory; the new session's cookie value and user."""
    staff_id = staff_id.strip()
    locked_until: datetime | None = None
    refused: SignInRefused | None = None
    with db.transaction() as session:
        account = service.get_account(session, staff_id, for_update=True) if staff_id else None
        if account is None:
            _verify(_NOBODY, password)
            raise SignInRefused(*_BAD)
        if account.locked_until is not None and account.locked_until > now:
            locked_until = account.locked_until
        elif not _verify(account.password_hash, password):
            failures = account.failed_attempts + 1
            values: dict[str, Any] = {"failed_attempts": failures, "updated_at": now}
            if failures >= config.lockout_failures:
                locked_until = now + timedelta(minutes=config.lockout_minutes)
                values.update(failed_attempts=0, locked_until=locked_until)
                log.warning("account %s locked after %d failed sign-ins", staff_id, failures)
            service.update_account(session, staff_id=staff_id, values=values)
            if locked_until is None:
                # Raised once the count is stored: inside, it would roll the count back.
                left = config.lockout_failures - failures
                refused = SignInRefused(
                    f"{_BAD[0]}（再错 {left} 次将锁定）",
                    f"{_BAD[1]} ({left} more and the account is locked)",
                )
        else:
            values = {"failed_attempts": 0, "locked_until": None, "last_sign_in_at": now}
            if hasher.check_needs_rehash(account.password_hash):
                values["password_hash"] = hasher.hash(password)
            service.update_account(session, staff_id=staff_id, values=values)
    if refused is not None:
        raise refused
    if locked_until is not None:
        minutes = max(1, math.ceil((locked_until - now).total_seconds() / 60))
        raise SignInRefused(
            f"连续输错次数过多，账号已锁定，请 {minutes} 分钟后再试或联系管理员解锁",
            f"too many failed attempts: the account is locked; try again in {minutes} min "
            "or ask an administrator to unlock it",
            status=423,
        )
    try:
        person = directory.person(staff_id, now=now)
    except Refused as exc:
        raise SignInRefused(
            "暂时无法核对人员名录，请稍后再试",
            f"the directory cannot be read now: {exc.message}",
            status=503,
        ) from None
    if person is None or not person.active:
        raise SignInRefused(
            "该账号已停用，请联系管理员", "this person is not active in the directory", status=403
        )
    cookie = secrets.token_urlsafe(32)
    try:
        token, token_id, token_expires = _issue(auth_db, person, config, now)
    except ValueError as exc:
        # The directory said yes but the token store's grant says otherwise: the two
        # are out of step for a moment (escalation puts it right), and no token is given.
        log.warning("no token for %s: %s", person.staff_id, exc)
        raise SignInRefused(
            "暂时无法为该账号签发访问令牌，请稍后再试或联系管理员",
            f"no access token can be issued now: {exc}",
            status=403,
        ) from None
    values = {
        "id": session_key(cookie),
        "staff_id": person.staff_id,
        "name": person.name,
        "role": person.role.value,
        "department_id": person.department_id,
        "csrf_token": secrets.token_urlsafe(32),
        "api_token": token,
        "api_token_id": token_id,
        "api_token_expires_at": token_expires,
        "created_at": now,
        "last_seen_at": now,
        "expires_at": now + config.longest,
        "directory_checked_at": now,
    }
    with db.transaction() as session:
        service.insert_session(session, values=values)
    log.info("%s signed in as %s", person.staff_id, person.role.value)
    return cookie, _user(values, must_change=bool(account.must_change))


def _issue(
    auth_db: Database, person: Person, config: WorkbenchConfig, now: datetime
) -> tuple[str, str, datetime]:
    with auth_db.transaction() as session:
        token, row = issue_token(
            session,
            staff_id=person.staff_id,
            role=person.role.value,
            department_id=person.department_id if person.role == Role.DEPARTMENT else None,
            label="workbench session",
            expires_in=config.token_life,
        )
    return token, row.id, now + config.token_life


def _user(row: Any, *, must_change: bool = False) -> User:
    values = row if isinstance(row, dict) else dict(row._mapping)
    return User(
        session_id=values["id"],
        staff_id=values["staff_id"],
        name=values["name"],
        role=Role(values["role"]),
        department_id=values["department_id"],
        token=values["api_token"],
        csrf_token=values["csrf_token"],
        must_change=must_change,
    )


def current_user(
    db: Database,
    auth_db: Database,
    directory: Directory,
    config: WorkbenchConfig,
    *,
    cookie: str,
    now: datetime,
) -> User | None:
    """The session's user, its token renewed when due; None once it has ended."""
    with db.read() as session:
        row = service.get_session(session, session_key(cookie))
        account = service.get_account(session, row.staff_id) if row is not None else None
    if row is None or row.ended_at is not None:
        return None
    if now >= row.expires_at or now - row.last_seen_at >= config.idle:
        end(db, auth_db, row, now=now, why="expired")
        return None
    if account is None:  # the account was removed: nothing may go on in its name
        end(db, auth_db, row, now=now, why="no_account")
        return None
    changes: dict[str, Any] = {}
    if (now - row.directory_checked_at).total_seconds() >= config.directory_check_seconds:
        try:
            person = directory.person(row.staff_id, now=now)
        except Refused as exc:
            # The directory is down: the session goes on, and is checked at the next request.
            log.warning("directory look-up for %s failed: %s", row.staff_id, exc.message)
        else:
            moved = person is not None and (
                person.role != row.role or person.department_id != row.department_id
            )
            if person is None or not person.active or moved:
                end(db, auth_db, row, now=now, why="deactivated" if not moved else "role_changed")
                return None
            changes["directory_checked_at"] = now
            changes["name"] = person.name
    if row.api_token_expires_at - now < config.token_life / 3:
        person = Person(row.staff_id, row.name, Role(row.role), row.department_id, True)
        try:
            token, token_id, expires = _issue(auth_db, person, config, now)
        except ValueError as exc:  # no longer granted: deactivated, or the role changed
            log.info("no new token for %s: %s", row.staff_id, exc)
            end(db, auth_db, row, now=now, why="deactivated")
            return None
        with auth_db.transaction() as session:
            revoke_tokens(session, token_id=row.api_token_id)
        changes.update(api_token=token, api_token_id=token_id, api_token_expires_at=expires)
    if (now - row.last_seen_at).total_seconds() >= 30 or changes:
        # Written at most every half minute: a queue polling every second is no load.
        changes["last_seen_at"] = now
    if changes:
        with db.transaction() as session:
            service.update_session(session, session_id=row.id, values=changes)
    values = {**row._mapping, **changes}
    return _user(values, must_change=bool(account.must_change))


def end(db: Database, auth_db: Database, row: Any, *, now: datetime, why: str) -> None:
    """End one session and revoke its bearer token."""
    with db.transaction() as session:
        ended = service.end_session(session, session_id=row.id, at=now, why=why)
    if ended:
        with auth_db.transaction() as session:
            revoke_tokens(session, token_id=row.api_token_id)
        log.info("session of %s ended: %s", row.staff_id, why)


def sign_out(db: Database, auth_db: Database, user: User, *, now: datetime) -> None:
    with db.read() as session:
        row = service.get_session(session, user.session_id)
    if row is not None:
        end(db, auth_db, row, now=now, why="signed_out")


def end_sessions_of(
    db: Database, auth_db: Database, staff_id: str, *, now: datetime, why: str
) -> int:
    """End every open session of a person (they were deactivated); how many."""
    with db.read() as session:
        rows = service.open_sessions_of(session, staff_id)
    for row in rows:
        end(db, auth_db, row, now=now, why=why)
    return len(rows)
