"""The analytics service's tables: its own metadata, schema and migrations."""

from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from shared.inbox import inbox_table
from shared.outbox import outbox_table

analytics_registry = registry()


class AnalyticsTable(SQLModel, registry=analytics_registry):
    """Base of every analytics table; keeps them out of other services' metadata."""


metadata = AnalyticsTable.metadata
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
