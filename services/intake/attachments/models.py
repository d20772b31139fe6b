"""Photos and documents on a complaint: the table that lists them (their bytes are in
the object store, attachments.store) and the API schemas that show them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import Column
from sqlmodel import Field as Col

from services.intake.db import IntakeTable
from shared.db import UTCDateTime
from shared.vocabulary import AttachmentSource


class Attachment(IntakeTable, table=True):
    """One stored file. A row is written only once its bytes are in the store."""

    __tablename__ = "attachments"

    id: str = Col(primary_key=True, max_length=36)
    complaint_id: str = Col(max_length=36, index=True, foreign_key="complaints.id")
    # As the sender named it (folders dropped, an extension added when it had none).
    name: str = Col(max_length=200)
    # What the bytes are (attachments.content), whatever the sender declared.
    content_type: str = Col(max_length=100)
    size: int
    sha256: str = Col(max_length=64)
    # Where the bytes are in the store: random, never derived from the name.
    object_key: str = Col(max_length=200)
    source: str = Col(max_length=16)
    uploaded_by: str = Col(max_length=64)
    uploader_role: str = Col(max_length=32)
    uploaded_at: datetime = Col(sa_column=Column(UTCDateTime(), nullable=False))
    # clean: the scanner passed it; unscanned: no scanner, or it was down and the centre
    # stores files all the same (INTAKE_ATTACHMENT_SCAN_FAIL_OPEN).
    scan: str = Col(max_length=16)


class AttachmentRead(BaseModel):
    id: str
    complaint_id: str
    name: str = Field(description="The file's name; masked for those who may not read it")
    content_type: str = Field(description="What the bytes are, as intake found them")
    size: int = Field(description="Bytes")
    sha256: str = Field(description="Of the bytes, hex: what a download must match")
    source: AttachmentSource
    uploaded_by: str
    uploaded_at: datetime
    scan: str = Field(description="clean (passed the virus scanner) or unscanned")
