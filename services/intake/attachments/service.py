"""Database reads and writes for attachments; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from services.intake.attachments.models import Attachment
from shared.db import table_of

attachments = table_of(Attachment)


def add_attachment(session: Session, record: Mapping[str, Any]) -> None:
    session.execute(insert(attachments), [dict(record)])


def count_of(session: Session, complaint_id: str) -> int:
    query = select(func.count()).where(attachments.c.complaint_id == complaint_id)
    return int(session.execute(query).scalar_one())


def attachments_of(session: Session, complaint_id: str) -> list[Any]:
    """A complaint's attachments, oldest first."""
    query = (
        select(attachments)
        .where(attachments.c.complaint_id == complaint_id)
        .order_by(attachments.c.uploaded_at, attachments.c.id)
    )
    return list(session.execute(query))


def get_attachment(session: Session, complaint_id: str, attachment_id: str) -> Any:
    query = select(attachments).where(
        attachments.c.id == attachment_id, attachments.c.complaint_id == complaint_id
    )
    return session.execute(query).first()


def lock_complaint(session: Session, complaint_id: str) -> None:
    """Hold the complaint's row to the end of the transaction (PostgreSQL; SQLite writes
    one transaction at a time anyway)."""
    from services.intake.complaints.service import complaints

    query = select(complaints.c.id).where(complaints.c.id == complaint_id).with_for_update()
    session.execute(query)
