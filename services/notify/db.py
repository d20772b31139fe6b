"""The notify service's tables: its own metadata, schema and migrations."""

from sqlalchemy import Column, Index, String
from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from shared.access_log import AccessLog, access_log_table
from shared.inbox import inbox_table
from shared.outbox import outbox_table
from shared.tenants import DEFAULT_TENANT

notify_registry = registry()


class NotifyTable(SQLModel, registry=notify_registry):
    """Base of every notify table; keeps them out of other services' metadata."""


metadata = NotifyTable.metadata
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
_reads = access_log_table(metadata)
# Whose customers a read showed: a client's administrator reads only its own client's.
_reads.append_column(Column("tenant", String(32), nullable=False, server_default=DEFAULT_TENANT))
Index("ix_access_log_tenant_at", _reads.c.tenant, _reads.c.at)
access_log = AccessLog(_reads)
