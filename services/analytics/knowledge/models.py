"""Intake's knowledge base as analytics keeps it: each article agents read, from its
events, to find the hot issues that no article answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Integer, String, Text
from sqlmodel import Field as Col

from services.analytics.db import AnalyticsTable
from shared.db import UTCDateTime
from shared.tenants import DEFAULT_TENANT


def _utc(nullable: bool = True) -> Any:
    return Col(default=None, sa_column=Column(UTCDateTime(), nullable=nullable))


class ArticleCopy(AnalyticsTable, table=True):
    """An article of intake's knowledge base that agents read (`approved`), or read no
    more; `words`: its question's and keywords' words as analytics reads complaints. A
    copy (intake's table is the article itself): no two services name a table alike."""

    __tablename__ = "article_copies"

    article_id: int = Col(
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=False
        )
    )
    tenant: str = Col(
        default=DEFAULT_TENANT,
        sa_column=Column(String(32), nullable=False, server_default=DEFAULT_TENANT, index=True),
    )
    category: str = Col(max_length=40)
    question: str = Col(sa_column=Column(Text, nullable=False))
    words: str = Col(sa_column=Column(Text, nullable=False))
    approved: bool = Col(default=True)
    valid_from: datetime | None = _utc()
    valid_until: datetime | None = _utc()
    # The latest change of it applied: an older event of the same article changes nothing.
    changed_at: datetime = _utc(nullable=False)
