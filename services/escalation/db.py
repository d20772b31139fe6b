"""The escalation service's tables: its own metadata, schema and migrations."""

from sqlalchemy.orm import registry
from sqlmodel import SQLModel

from shared.access_log import AccessLog, access_log_table
from shared.inbox import inbox_table
from shared.outbox import outbox_table

escalation_registry = registry()


class EscalationTable(SQLModel, registry=escalation_registry):
    """Base of every escalation table; keeps them out of other services' metadata."""


metadata = EscalationTable.metadata
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
access_log = AccessLog(access_log_table(metadata))
