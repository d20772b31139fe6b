"""The workbench's tables: sign-in accounts and sessions, in its own schema. It holds no
complaint data: that stays with the services it calls."""

from sqlalchemy.orm import registry
from sqlmodel import SQLModel

workbench_registry = registry()


class WorkbenchTable(SQLModel, registry=workbench_registry):
    """Base of every workbench table; keeps them out of other services' metadata."""


metadata = WorkbenchTable.metadata
