"""The migrations build exactly the tables the code declares."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

# Registers the tables.
import services.analytics.facts.models
import services.analytics.knowledge.models  # noqa: F401
from services.analytics.db import metadata
from shared.db import Database

pytestmark = pytest.mark.postgres


def test_analytics_migrations_match_its_models(migrated: Callable[[str], Database]) -> None:
    db = migrated("analytics")
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    leftovers = [
        d for d in diff if not (d[0] == "remove_table" and d[1].name.startswith("alembic_version"))
    ]
    assert leftovers == []
