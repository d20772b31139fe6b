"""Sign-in accounts and sessions: the tables, and what the pages read of them.

An account belongs to a person in the escalation service's directory (its staff id);
their name, role, department and whether they are active stay there and are looked up
at sign-in and while the session lives. A session keeps, server-side only, the bearer
token the pages call the APIs with as that person.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, String
from sqlmodel import Field as Col

from services.workbench.db import WorkbenchTable
from shared.db import UTCDateTime


def _utc(**kw: Any) -> Any:
    return Col(sa_column=Column(UTCDateTime(), **kw))


class Account(WorkbenchTable, table=True):
    __tablename__ = "accounts"

    staff_id: str = Col(primary_key=True, max_length=64)
    # argon2id, with its parameters in the string (argon2-cffi's PasswordHasher).
    password_hash: str = Col(sa_column=Column(String(200), nullable=False))
    # A password an administrator set: the person is asked to choose their own.
    must_change: bool = Col(default=True)
    failed_attempts: int = Col(default=0)
    locked_until: datetime | None = _utc(nullable=True)
    last_sign_in_at: datetime | None = _utc(nullable=True)
    created_by: str = Col(max_length=64)
    created_at: datetime = _utc(nullable=False)
    updated_at: datetime = _utc(nullable=False)


class WebSession(WorkbenchTable, table=True):
    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_staff", "staff_id"),)

    # SHA-256 of the cookie's value: the database never holds what the browser sends.
    id: str = Col(primary_key=True, max_length=64)
    staff_id: str = Col(max_length=64)
    name: str = Col(max_length=100)
    role: str = Col(max_length=32)
    department_id: str | None = Col(default=None, max_length=64)
    csrf_token: str = Col(max_length=64)
    # The bearer token the pages call the APIs with, and its id in the auth store.
    api_token: str = Col(max_length=200)
    api_token_id: str = Col(max_length=36)
    api_token_expires_at: datetime = _utc(nullable=False)
    created_at: datetime = _utc(nullable=False)
    last_seen_at: datetime = _utc(nullable=False)
    expires_at: datetime = _utc(nullable=False)
    directory_checked_at: datetime = _utc(nullable=False)
    ended_at: datetime | None = _utc(nullable=True)
    ended_why: str | None = Col(default=None, max_length=32)
