"""The notify service's tables: its own metadata, schema and migrations."""

from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from shared.access_log import AccessLog, access_log_table
from shared.inbox import inbox_table
from shared.outbox import outbox_table

notify_registry = registry()


class NotifyTable(SQLModel, registry=notify_registry):
    """Base of every notify table; keeps them out of other services' metadata."""


metadata = NotifyTable.metadata
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
access_log = AccessLog(access_log_table(metadata))
