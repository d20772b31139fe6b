"""The migrations build exactly the tables the code declares."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import services.intake.attachments.models  # registers the tables
import services.intake.knowledge.models
import services.intake.search.models  # noqa: F401 - registers the tables (and the complaints')
from services.intake.db import metadata
from shared.db import Database

pytestmark = pytest.mark.postgres


def test_intakes_migrations_match_its_models(migrated: Callable[[str], Database]) -> None:
    db = migrated("intake")
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    leftovers = [
        d for d in diff if not (d[0] == "remove_table" and d[1].name.startswith("alembic_version"))
    ]
    assert leftovers == []
