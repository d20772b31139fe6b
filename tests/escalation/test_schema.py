"""The migrations build exactly the tables the code declares."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import services.escalation.complaints.models
import services.escalation.directory.models
import services.escalation.workload.models  # noqa: F401 - registers the tables
from services.escalation.db import metadata
from shared.db import Database

pytestmark = pytest.mark.postgres


def test_escalations_migrations_match_its_models(migrated: Callable[[str], Database]) -> None:
    db = migrated("escalation")
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    leftovers = [
        d for d in diff if not (d[0] == "remove_table" and d[1].name.startswith("alembic_version"))
    ]
    assert leftovers == []
