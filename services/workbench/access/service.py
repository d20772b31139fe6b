"""Database reads and writes for accounts and sessions; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from services.workbench.access.models import Account, WebSession
from shared.db import rowcount, table_of

accounts = table_of(Account)
sessions = table_of(WebSession)


def get_account(session: Session, staff_id: str, *, for_update: bool = False) -> Any:
    """One account, or None; `for_update` locks it until the transaction ends."""
    query = select(accounts).where(accounts.c.staff_id == staff_id)
    if for_update:
        query = query.with_for_update()
    return session.execute(query).first()


def list_accounts(session: Session) -> list[Any]:
    """Every account, by staff id."""
    return list(session.execute(select(accounts).order_by(accounts.c.staff_id)))


def insert_account(session: Session, *, values: Mapping[str, Any]) -> None:
    """Store a new account."""
    session.execute(insert(accounts), [dict(values)])


def update_account(session: Session, *, staff_id: str, values: Mapping[str, Any]) -> None:
    """Change an account's columns."""
    session.execute(update(accounts).where(accounts.c.staff_id == staff_id).values(**values))


def get_session(session: Session, session_id: str) -> Any:
    """One session by the hash of its cookie, or None."""
    return session.execute(select(sessions).where(sessions.c.id == session_id)).first()


def insert_session(session: Session, *, values: Mapping[str, Any]) -> None:
    """Store a new session."""
    session.execute(insert(sessions), [dict(values)])


def update_session(session: Session, *, session_id: str, values: Mapping[str, Any]) -> None:
    """Change a session's columns."""
    session.execute(update(sessions).where(sessions.c.id == session_id).values(**values))


def open_sessions_of(session: Session, staff_id: str) -> list[Any]:
    """A person's sessions that have not ended."""
    query = select(sessions).where(sessions.c.staff_id == staff_id, sessions.c.ended_at.is_(None))
    return list(session.execute(query))


def end_session(session: Session, *, session_id: str, at: datetime, why: str) -> bool:
    """Mark a session ended; False if it already was."""
    result = session.execute(
        update(sessions)
        .where(sessions.c.id == session_id, sessions.c.ended_at.is_(None))
        .values(ended_at=at, ended_why=why)
    )
    return rowcount(result) > 0
