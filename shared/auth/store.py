"""The token store: tables in the platform's own `auth` schema (or auth.db on SQLite),
shared by every service for verification and owned by none.

- `api_tokens`: only a SHA-256 of each token is stored. Tokens carry 256 random bits, so
  a fast hash is enough: there is nothing to brute-force that a slow hash would protect.
- `staff_grants`: who may hold a token, with which role and department. The escalation
  service keeps it in step with its directory (services never read each other's
  tables, so the directory's answer is copied here); a token is good only while its
  holder's grant is active and of the token's role. The first administrator, who cannot
  be in the directory before there is an administrator to add them, gets a `bootstrap`
  grant from a shell; the workbench's own principal a `service` grant.
- `auth_generation`: one number, raised by every change that takes tokens away (a
  revocation, a grant deactivated or changed), so that each process's verifier drops
  what it cached at once: told by PostgreSQL NOTIFY, or on SQLite by reading it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Column, Index, Integer, String, insert, select, text, update
from sqlalchemy.orm import Session, registry
from sqlmodel import Field, SQLModel, col

from shared.auth.principal import ROLES, Principal, Role
from shared.db import Database, UTCDateTime, rowcount
from shared.settings import TOKEN_MAX_DAYS

log = logging.getLogger(__name__)

TOKEN_PREFIX = "cpt_"  # noqa: S105 - a public prefix that makes leaked tokens easy to spot
_STAFF_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
_DEPARTMENT_ID = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
_TENANT_ID = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
# Roles whose holder always works for one client: a department belongs to one, and the
# outsourcing client's viewer sees only its own.
_ONE_CLIENT_ROLES = (Role.DEPARTMENT.value, Role.VIEWER.value)

auth_registry = registry()


class AuthBase(SQLModel, registry=auth_registry):
    pass


metadata = AuthBase.metadata


class ApiToken(AuthBase, table=True):
    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_staff", "staff_id"),)

    id: str = Field(primary_key=True, max_length=36)
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    # The first characters, so an operator can tell tokens apart without seeing them.
    token_hint: str = Field(max_length=16)
    staff_id: str = Field(max_length=64)
    role: str = Field(max_length=32)
    department_id: str | None = Field(default=None, max_length=64)
    label: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


# Who keeps a grant in step.
DIRECTORY = "directory"  # the escalation service, from its directory
BOOTSTRAP = "bootstrap"  # given from a shell, outside the directory (the first administrator)
SERVICE = "service"  # a service's own principal (the workbench's directory look-ups)
SOURCES = (DIRECTORY, BOOTSTRAP, SERVICE)


class StaffGrant(AuthBase, table=True):
    __tablename__ = "staff_grants"

    staff_id: str = Field(primary_key=True, max_length=64)
    role: str = Field(max_length=32)
    department_id: str | None = Field(default=None, max_length=64)
    # The client they work for; None: every client (the centre's own staff).
    tenant: str | None = Field(default=None, max_length=32)
    active: bool = Field(default=True)
    source: str = Field(max_length=16)
    changed_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class AuthGeneration(AuthBase, table=True):
    __tablename__ = "auth_generation"

    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    value: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


@dataclass(frozen=True)
class Grant:
    """What the directory says of one person, as far as tokens care."""

    staff_id: str
    role: str
    department_id: str | None
    active: bool
    # The client they work for; None: every client. A department's clerks and the
    # outsourcing client's viewers always belong to one (the default when unnamed).
    tenant: str | None = None

    def bound(self) -> Grant:
        """This grant with the client its role needs filled in."""
        if self.tenant is None and self.role in _ONE_CLIENT_ROLES:
            return Grant(self.staff_id, self.role, self.department_id, self.active, "default")
        return self


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def validate_principal(
    staff_id: str, role: str, department_id: str | None, tenant: str | None = None
) -> None:
    if not _STAFF_ID.match(staff_id or ""):
        raise ValueError("staff id: 1-64 letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise ValueError(f"role: '{role}' is not one of {', '.join(ROLES)}")
    if role == Role.DEPARTMENT and not department_id:
        raise ValueError("department: a department user needs a department id")
    if department_id is not None and not _DEPARTMENT_ID.match(department_id):
        raise ValueError("department: lowercase letters, digits, '_' or '-', at most 64")
    if tenant is not None and not _TENANT_ID.match(tenant):
        raise ValueError("tenant: lowercase letters, digits, '_' or '-', at most 32")


def _taken_away(session: Session) -> None:
    """Tokens were taken away: raise the generation and tell every verifier, at commit."""
    done = session.execute(
        update(AuthGeneration)
        .where(col(AuthGeneration.id) == 1)
        .values(value=col(AuthGeneration.value) + 1)
    )
    if rowcount(done) == 0:
        session.execute(insert(AuthGeneration).values(id=1, value=1))
    if session.get_bind().dialect.name == "postgresql":
        # Sent at commit, and only then: a rolled-back change tells nobody.
        session.execute(text("SELECT pg_notify(current_schema() || '_changed', '')"))


def get_grant(session: Session, staff_id: str) -> StaffGrant | None:
    """One person's grant, or None."""
    return session.get(StaffGrant, staff_id)


def put_grant(
    session: Session, grant: Grant, *, source: str = DIRECTORY, now: datetime | None = None
) -> bool:
    """Record what the directory (or `source`) says of one person; whether it changed.

    Deactivating them, or changing their role or department, revokes their tokens there
    and then: a token names a role, and the person no longer holds it.
    """
    if source not in SOURCES:
        raise ValueError(f"source: one of {', '.join(SOURCES)}")
    grant = grant.bound()
    validate_principal(grant.staff_id, grant.role, grant.department_id, grant.tenant)
    now = now or datetime.now(UTC)
    row = session.get(StaffGrant, grant.staff_id, with_for_update=True)
    if row is None:
        session.add(
            StaffGrant(
                staff_id=grant.staff_id,
                role=grant.role,
                department_id=grant.department_id,
                tenant=grant.tenant,
                active=grant.active,
                source=source,
                changed_at=now,
            )
        )
        session.flush()
        return True
    same = (row.role, row.department_id, row.tenant, row.active) == (
        grant.role,
        grant.department_id,
        grant.tenant,
        grant.active,
    )
    if same and row.source == source:
        return False
    if not same:
        was_active = row.active
        moved = (row.role, row.department_id, row.tenant) != (
            grant.role,
            grant.department_id,
            grant.tenant,
        )
        row.role, row.department_id, row.active = grant.role, grant.department_id, grant.active
        row.tenant = grant.tenant
        row.changed_at = now
        if was_active and (moved or not grant.active):
            revoke_tokens(session, staff_id=grant.staff_id, now=now)
    row.source = source
    session.flush()
    return True


def reconcile_grants(
    session: Session, directory: Iterable[Grant], *, now: datetime | None = None
) -> int:
    """Make the grants say what the whole directory says; how many changed.

    For a directory older than the grants, or a change whose grant was not written. A
    directory-kept grant of someone no longer in the directory is deactivated; bootstrap
    and service grants are not the directory's to keep, unless their staff id is in it.
    """
    now = now or datetime.now(UTC)
    changed = 0
    seen: set[str] = set()
    for grant in directory:
        try:
            changed += put_grant(session, grant, source=DIRECTORY, now=now)
        except ValueError as exc:
            # An entry no token could name: whatever it was granted before goes below.
            log.warning("directory entry %s not granted: %s", grant.staff_id, exc)
            continue
        seen.add(grant.staff_id)
    gone = session.execute(
        select(StaffGrant).where(
            col(StaffGrant.source) == DIRECTORY, col(StaffGrant.active).is_(True)
        )
    ).scalars()
    for row in list(gone):
        if row.staff_id not in seen:
            put_grant(
                session,
                Grant(row.staff_id, row.role, row.department_id, False, row.tenant),
                source=DIRECTORY,
                now=now,
            )
            changed += 1
    return changed


def grant_outside_directory(
    session: Session,
    staff_id: str,
    role: str,
    department_id: str | None = None,
    *,
    source: str = BOOTSTRAP,
    tenant: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Let `staff_id` hold tokens of `role` although the directory does not know them
    (the first administrator; a service's own principal); whether the grant changed.
    Someone the directory knows keeps what it says: the directory's word wins."""
    row = get_grant(session, staff_id)
    if row is not None and row.source == DIRECTORY:
        return False
    grant = Grant(staff_id, role, department_id, True, tenant)
    return put_grant(session, grant, source=source, now=now)


def bootstrap_admin(session: Session, staff_id: str, *, now: datetime | None = None) -> bool:
    """The first administrator, from a shell: see `grant_outside_directory`."""
    return grant_outside_directory(session, staff_id, Role.ADMIN.value, source=BOOTSTRAP, now=now)


def _refusal(grant: StaffGrant | None, role: str, department_id: str | None) -> str | None:
    """Why this grant does not let its holder have a token of this role, or None."""
    if grant is None:
        return "is not in the directory (add them there first)"
    if not grant.active:
        return "is not active in the directory"
    if grant.role != role:
        return f"is {grant.role!r} in the directory, not {role!r}"
    if department_id is not None and department_id != grant.department_id:
        held = grant.department_id or "no department"
        return f"belongs to {held} in the directory, not {department_id!r}"
    return None


def issue_token(
    session: Session,
    *,
    staff_id: str,
    role: str,
    department_id: str | None = None,
    label: str | None = None,
    expires_in: timedelta | None = None,
    max_lifetime: timedelta = timedelta(days=TOKEN_MAX_DAYS),
    now: datetime | None = None,
) -> tuple[str, ApiToken]:
    """Create a token; the plain text is returned once and never stored.

    Only for someone whose grant is active, of this role and (if one is named) this
    department; every token expires, at `max_lifetime` when no sooner."""
    validate_principal(staff_id, role, department_id)
    if expires_in is not None and expires_in <= timedelta(0):
        raise ValueError("expires: a token must live a while (more than 0)")
    if expires_in is not None and expires_in > max_lifetime:
        raise ValueError(
            f"expires: at most {max_lifetime.days} days (TOKEN_MAX_DAYS); "
            "issue a new token before this one runs out"
        )
    refused = _refusal(get_grant(session, staff_id), role, department_id)
    if refused is not None:
        raise ValueError(f"staff {staff_id!r} {refused}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = now or datetime.now(UTC)
    row = ApiToken(
        id=str(uuid.uuid4()),
        token_hash=hash_token(token),
        token_hint=token[:10],
        staff_id=staff_id,
        role=role,
        department_id=department_id,
        label=label,
        created_at=now,
        expires_at=now + (expires_in or max_lifetime),
    )
    session.add(row)
    return token, row


def revoke_tokens(
    session: Session,
    *,
    staff_id: str | None = None,
    token_id: str | None = None,
    now: datetime | None = None,
) -> int:
    if not staff_id and not token_id:
        raise ValueError("name a staff id or a token id")
    stmt = update(ApiToken).where(col(ApiToken.revoked_at).is_(None))
    if staff_id:
        stmt = stmt.where(col(ApiToken.staff_id) == staff_id)
    if token_id:
        stmt = stmt.where(col(ApiToken.id) == token_id)
    revoked = rowcount(session.execute(stmt.values(revoked_at=now or datetime.now(UTC))))
    if revoked:
        _taken_away(session)
    return revoked


class TokenVerifier:
    """Checks bearer tokens against the store, with a small time-limited cache.

    Both answers are cached (a miss for less time), so a flood of bad tokens does not
    become a flood of queries. What takes tokens away (a revocation, a grant deactivated
    or changed) raises the store's generation, and a cached answer counts only while the
    generation is the one it was looked up under: on PostgreSQL a listening thread hears
    of each change (NOTIFY), on SQLite, or while that thread cannot listen, each request
    reads the number. So a revoked token stops working at once in every process.
    """

    def __init__(
        self,
        db: Database,
        *,
        ttl: float = 30.0,
        negative_ttl: float = 5.0,
        size: int = 10_000,
        max_lifetime: timedelta = timedelta(days=TOKEN_MAX_DAYS),
    ) -> None:
        self.db = db
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.size = size
        self.max_lifetime = max_lifetime
        # (expiry, epoch, principal, known): `known` says the store had the token.
        self._cache: OrderedDict[str, tuple[float, int, Principal | None, bool]] = OrderedDict()
        self._lock = threading.Lock()
        # Raised whenever what was cached may be stale; entries of an older epoch are not used.
        self._epoch = 0
        self._stored_generation: int | None = None
        self._listener: _Listener | None = None

    def start(self) -> None:
        """On PostgreSQL, listen for changes in a thread of its own (`close` stops it)."""
        if self.db.is_postgres and self._listener is None:
            self._listener = _Listener(self.db, on_change=self._bump)
            self._listener.start()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.stop()
            self._listener = None

    def verify(self, token: str) -> Principal | None:
        return self.check(token)[0]

    def check(self, token: str) -> tuple[Principal | None, bool]:
        """The principal (None when refused), and whether the store knows the token at all
        (a revoked or expired one) rather than never having issued it."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None, False
        digest = hash_token(token)
        epoch = self._current_epoch()
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
            if hit is not None and hit[0] > now and hit[1] == epoch:
                self._cache.move_to_end(digest)
                return hit[2], hit[3]
        principal, known = self._lookup(digest)
        with self._lock:
            expiry = now + (self.ttl if principal else self.negative_ttl)
            self._cache[digest] = (expiry, epoch, principal, known)
            self._cache.move_to_end(digest)
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return principal, known

    def _bump(self) -> None:
        with self._lock:
            self._epoch += 1

    def _current_epoch(self) -> int:
        listener = self._listener
        if listener is None or not listener.listening:
            generation = self._read_generation()
            if generation != self._stored_generation:
                self._stored_generation = generation
                self._bump()
        return self._epoch

    def _read_generation(self) -> int | None:
        # A plain DB-API read, outside any ORM transaction: on SQLite that would take the
        # file's write lock (shared.db), on every request.
        conn = self.db.engine.raw_connection()
        try:
            cursor = conn.cursor()
            try:
                cursor.execute("SELECT value FROM auth_generation WHERE id = 1")
                row = cursor.fetchone()
            finally:
                cursor.close()
            if self.db.is_postgres:
                conn.rollback()
        except Exception as exc:
            # No answer: nothing cached may be trusted, and the look-up will say why.
            log.warning("token store generation unreadable: %s", exc)
            return -time.monotonic_ns()
        finally:
            conn.close()
        return int(row[0]) if row else 0

    def _lookup(self, digest: str) -> tuple[Principal | None, bool]:
        with self.db.read() as session:
            found = session.execute(
                select(ApiToken, StaffGrant)
                .outerjoin(StaffGrant, col(StaffGrant.staff_id) == col(ApiToken.staff_id))
                .where(col(ApiToken.token_hash) == digest)
            ).first()
        if found is None:
            return None, False
        row, grant = found
        if row.revoked_at is not None:
            return None, True
        # Every token runs out: one issued before there was a limit, at the longest.
        expires = row.created_at + self.max_lifetime
        if row.expires_at is not None:
            expires = min(expires, row.expires_at)
        if expires <= datetime.now(UTC):
            return None, True
        if _refusal(grant, row.role, row.department_id) is not None:
            return None, True
        return Principal(
            staff_id=row.staff_id,
            role=Role(row.role),
            department_id=row.department_id,
            token_id=row.id,
            tenant=grant.tenant if grant is not None else None,
        ), True

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()


class _Listener:
    """A thread that LISTENs on the auth schema's channel and calls `on_change` for each
    notification, and once more whenever it (re)connects, for what it may have missed.
    `listening` is False while it cannot: the verifier then reads the generation."""

    def __init__(self, db: Database, *, on_change: Any, check_every: float = 10.0) -> None:
        self.db = db
        self.on_change = on_change
        self.check_every = check_every
        self.listening = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="token-listener", daemon=True)
        # The channel _taken_away notifies: its schema's name (shared.db checked that it
        # is a plain identifier).
        self.channel = f"{db.schema}_changed"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self.listening:
            # Wake the thread from its wait rather than let it sleep the wait out.
            with contextlib.suppress(Exception), self.db.engine.connect() as conn:
                conn.execute(text("SELECT pg_notify(:channel, 'stop')"), {"channel": self.channel})
                conn.commit()
        self.listening = False
        self._thread.join(timeout=2)

    def _run(self) -> None:
        import psycopg

        pause = 0.2
        while not self._stop.is_set():
            try:
                url = self.db.engine.url.set(drivername="postgresql")
                with psycopg.connect(
                    url.render_as_string(hide_password=False), autocommit=True, connect_timeout=5
                ) as conn:
                    conn.execute(f'LISTEN "{self.channel}"')
                    self.listening = True
                    self.on_change()
                    pause = 0.2
                    checked = time.monotonic()
                    while not self._stop.is_set():
                        # Asleep until a notification: `stop` sends one to wake it.
                        for _ in conn.notifies(timeout=self.check_every, stop_after=1):
                            self.on_change()
                        if time.monotonic() - checked > self.check_every:
                            # Quiet for a while: make sure the connection is still there.
                            conn.execute("SELECT 1")
                            checked = time.monotonic()
            except Exception as exc:
                if self._stop.is_set():
                    break
                log.warning("token store: LISTEN failed (%s); reading the generation", exc)
            finally:
                self.listening = False
            self._stop.wait(pause)
            pause = min(pause * 2, 10.0)
