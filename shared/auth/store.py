"""The token store: an `api_tokens` table in the platform's own `auth` schema (or
auth.db on SQLite), shared by every service for verification and owned by none.

Only a SHA-256 of each token is stored. Tokens carry 256 random bits, so a fast hash is
enough: there is nothing to brute-force that a slow hash would protect.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime, timedelta

from sqlalchemy import Column, Index, String, select, update
from sqlalchemy.orm import Session, registry
from sqlmodel import Field, SQLModel, col

from shared.auth.principal import ROLES, Principal, Role
from shared.db import Database, UTCDateTime, rowcount

TOKEN_PREFIX = "cpt_"  # noqa: S105 - a public prefix that makes leaked tokens easy to spot
_STAFF_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
_DEPARTMENT_ID = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")

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


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def validate_principal(staff_id: str, role: str, department_id: str | None) -> None:
    if not _STAFF_ID.match(staff_id or ""):
        raise ValueError("staff id: 1-64 letters, digits, '.', '_' or '-'")
    if role not in ROLES:
        raise ValueError(f"role: '{role}' is not one of {', '.join(ROLES)}")
    if role == Role.DEPARTMENT and not department_id:
        raise ValueError("department: a department user needs a department id")
    if department_id is not None and not _DEPARTMENT_ID.match(department_id):
        raise ValueError("department: lowercase letters, digits, '_' or '-', at most 64")


def issue_token(
    session: Session,
    *,
    staff_id: str,
    role: str,
    department_id: str | None = None,
    label: str | None = None,
    expires_in: timedelta | None = None,
) -> tuple[str, ApiToken]:
    """Create a token; the plain text is returned once and never stored."""
    validate_principal(staff_id, role, department_id)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    row = ApiToken(
        id=str(uuid.uuid4()),
        token_hash=hash_token(token),
        token_hint=token[:10],
        staff_id=staff_id,
        role=role,
        department_id=department_id,
        label=label,
        created_at=now,
        expires_at=now + expires_in if expires_in else None,
    )
    session.add(row)
    return token, row


def revoke_tokens(
    session: Session, *, staff_id: str | None = None, token_id: str | None = None
) -> int:
    if not staff_id and not token_id:
        raise ValueError("name a staff id or a token id")
    stmt = update(ApiToken).where(col(ApiToken.revoked_at).is_(None))
    if staff_id:
        stmt = stmt.where(col(ApiToken.staff_id) == staff_id)
    if token_id:
        stmt = stmt.where(col(ApiToken.id) == token_id)
    return rowcount(session.execute(stmt.values(revoked_at=datetime.now(UTC))))


class TokenVerifier:
    """Checks bearer tokens against the store, with a small time-limited cache.

    Both answers are cached (a miss for less time), so a flood of bad tokens does not
    become a flood of queries; a revoked token stops working within `ttl` seconds.
    """

    def __init__(
        self, db: Database, *, ttl: float = 30.0, negative_ttl: float = 5.0, size: int = 10_000
    ) -> None:
        self.db = db
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.size = size
        self._cache: OrderedDict[str, tuple[float, Principal | None]] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, token: str) -> Principal | None:
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = hash_token(token)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
            if hit is not None and hit[0] > now:
                self._cache.move_to_end(digest)
                return hit[1]
        principal = self._lookup(digest)
        with self._lock:
            expiry = now + (self.ttl if principal else self.negative_ttl)
            self._cache[digest] = (expiry, principal)
            self._cache.move_to_end(digest)
            while len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return principal

    def _lookup(self, digest: str) -> Principal | None:
        with self.db.read() as session:
            row = session.execute(
                select(ApiToken).where(col(ApiToken.token_hash) == digest)
            ).scalar_one_or_none()
        if row is None or row.revoked_at is not None:
            return None
        if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
            return None
        return Principal(
            staff_id=row.staff_id,
            role=Role(row.role),
            department_id=row.department_id,
            token_id=row.id,
        )

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
