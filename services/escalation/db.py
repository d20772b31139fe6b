"""The escalation service's tables: its own metadata, schema and migrations."""

from typing import Any

from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from shared.access_log import AccessLog, access_log_table
from shared.inbox import inbox_table
from shared.outbox import outbox_table
from shared.tenants import DEFAULT_TENANT

escalation_registry = registry()


class EscalationTable(SQLModel, registry=escalation_registry):
    """Base of every escalation table; keeps them out of other services' metadata."""


metadata = EscalationTable.metadata
outbox = outbox_table(metadata)
inbox = inbox_table(metadata)
access_log = AccessLog(access_log_table(metadata))


def tenant_column(**kw: Any) -> Any:
    """The client (shared.tenants) a row belongs to: what was there before the centre had
    clients is the default one's."""
    return Field(
        default=DEFAULT_TENANT,
        max_length=32,
        sa_column_kwargs={"server_default": DEFAULT_TENANT},
        **kw,
    )
