"""Each service keeps its tables to itself: its own schema on PostgreSQL or its own file
on SQLite, its own Alembic history and its own version table."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine, inspect, text

from shared.auth.store import grant_outside_directory, issue_token
from shared.db import Database, database_for
from shared.migrations import (
    STORES,
    pending_migrations,
    script_location,
    upgrade,
    upgrade_all,
    version_table,
)
from shared.settings import AUTH_STORE, SERVICES, WORKBENCH, Settings

# Every service has its own outbox and inbox, under the same names.
PLATFORM_TABLES = {"outbox", "inbox"}
# And those that show a customer's phone to a person, their own access log.
ACCESS_LOGGED = {"intake", "escalation", "notify"}
SAME_NAMES = PLATFORM_TABLES | {"access_log"}


def heads(store: str) -> list[str]:
    return sorted(ScriptDirectory(str(script_location(store))).get_heads())


def tables(conn: Connection, schema: str | None = None) -> set[str]:
    return set(inspect(conn).get_table_names(schema=schema))


def applied(conn: Connection, store: str, schema: str | None = None) -> list[str]:
    where = f'"{schema}".' if schema else ""
    query = f"SELECT version_num FROM {where}{version_table(store)}"  # noqa: S608 - our names
    rows = conn.execute(text(query))
    return sorted(r[0] for r in rows)


@pytest.fixture
def installation(pg_url: str) -> Iterator[Settings]:
    """A whole installation's stores on the test PostgreSQL, under a prefix of its own."""
    settings = Settings(database_url=pg_url, schema_prefix=f"m{uuid.uuid4().hex[:8]}_")
    yield settings
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        for store in STORES:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{settings.schema_for(store)}" CASCADE'))
    engine.dispose()


@pytest.fixture
def sqlite_installation(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=None)


def schema_snapshot(db: Database) -> dict[str, list[tuple[str, str]]]:
    with db.engine.connect() as conn:
        found = inspect(conn)
        return {
            table: [(c["name"], str(c["type"])) for c in found.get_columns(table)]
            for table in sorted(found.get_table_names())
        }


# -- PostgreSQL ----------------------------------------------------------------------


@pytest.mark.postgres
def test_each_store_migrates_into_its_own_schema_with_its_own_version_table(
    installation: Settings, pg_url: str
) -> None:
    engine = create_engine(pg_url)
    # Where a migration that forgot its schema would land: the default schema, or a
    # schema named after the store without this installation's prefix.
    elsewhere = ["public", *STORES]
    with engine.connect() as conn:
        before = {s: tables(conn, s) for s in elsewhere}

    upgrade_all(installation)

    with engine.connect() as conn:
        assert {s: tables(conn, s) for s in elsewhere} == before
        held = {store: tables(conn, installation.schema_for(store)) for store in STORES}
        for store in STORES:
            schema = installation.schema_for(store)
            assert {t for t in held[store] if t.startswith("alembic_version")} == {
                version_table(store)
            }, f"{schema} holds another store's version table"
            assert applied(conn, store, schema) == heads(store)
    engine.dispose()

    for store in SERVICES:
        assert held[store] >= PLATFORM_TABLES, f"{store} has no outbox or inbox"
        assert ("access_log" in held[store]) == (store in ACCESS_LOGGED), store
    assert "api_tokens" in held[AUTH_STORE]
    assert not held[AUTH_STORE] & PLATFORM_TABLES
    # The workbench publishes and consumes nothing: accounts and sessions only.
    assert held[WORKBENCH] - {version_table(WORKBENCH)} == {"accounts", "web_sessions"}
    for one, other in combinations(STORES, 2):
        shared = held[one] & held[other]
        assert shared <= SAME_NAMES, f"{one} and {other} both hold {shared - SAME_NAMES}"


@pytest.mark.postgres
def test_upgrading_an_up_to_date_installation_changes_nothing(installation: Settings) -> None:
    upgrade_all(installation)
    dbs = {store: database_for(store, installation) for store in STORES}
    try:
        with dbs[AUTH_STORE].transaction() as session:
            grant_outside_directory(session, "A001", "agent")
            issue_token(session, staff_id="A001", role="agent")
        before = {store: schema_snapshot(db) for store, db in dbs.items()}

        upgrade_all(installation)

        assert {store: schema_snapshot(db) for store, db in dbs.items()} == before
        for store, db in dbs.items():
            assert pending_migrations(db, store) == []
        with dbs[AUTH_STORE].engine.connect() as conn:
            assert conn.execute(text("SELECT staff_id FROM api_tokens")).scalars().all() == ["A001"]
    finally:
        for db in dbs.values():
            db.dispose()


@pytest.mark.postgres
def test_pending_migrations_name_what_is_missing_until_the_upgrade(
    installation: Settings,
) -> None:
    dbs = {store: database_for(store, installation) for store in STORES}
    try:
        for store, db in dbs.items():
            assert pending_migrations(db, store) == heads(store), store
        upgrade_all(installation)
        for store, db in dbs.items():
            assert pending_migrations(db, store) == [], store
    finally:
        for db in dbs.values():
            db.dispose()


@pytest.mark.postgres
def test_a_store_one_revision_behind_is_still_pending(installation: Settings) -> None:
    intake = database_for("intake", installation)
    url = installation.database_url_for("intake")
    schema = installation.schema_for("intake")
    try:
        upgrade("intake", url=url, schema=schema, revision="intake_0001")
        assert pending_migrations(intake, "intake") == heads("intake") != []
        upgrade("intake", url=url, schema=schema)
        assert pending_migrations(intake, "intake") == []
    finally:
        intake.dispose()


# -- SQLite --------------------------------------------------------------------------


def test_on_sqlite_each_store_gets_its_own_file(sqlite_installation: Settings) -> None:
    data_dir = sqlite_installation.data_dir
    upgrade_all(sqlite_installation)

    assert {p.name for p in data_dir.glob("*.db")} == {f"{store}.db" for store in STORES}
    held: dict[str, set[str]] = {}
    for store in STORES:
        engine = create_engine(f"sqlite:///{data_dir / f'{store}.db'}")
        with engine.connect() as conn:
            held[store] = tables(conn)
            assert applied(conn, store) == heads(store)
        engine.dispose()
        assert {t for t in held[store] if t.startswith("alembic_version")} == {version_table(store)}
    for one, other in combinations(STORES, 2):
        assert held[one] & held[other] <= SAME_NAMES


def test_on_sqlite_pending_migrations_and_a_second_upgrade(
    sqlite_installation: Settings,
) -> None:
    dbs = {store: database_for(store, sqlite_installation) for store in STORES}
    try:
        for store, db in dbs.items():
            assert pending_migrations(db, store) == heads(store), store
        upgrade_all(sqlite_installation)
        before = {store: schema_snapshot(db) for store, db in dbs.items()}
        upgrade_all(sqlite_installation)
        assert {store: schema_snapshot(db) for store, db in dbs.items()} == before
        for store, db in dbs.items():
            assert pending_migrations(db, store) == [], store
    finally:
        for db in dbs.values():
            db.dispose()


@pytest.mark.parametrize("store", STORES)
def test_each_store_has_one_line_of_migrations(store: str) -> None:
    """Two changes that each add the next migration make two heads: `upgrade head` then
    refuses to run, so the second must follow the first."""
    from shared.migrations import script_location

    script = ScriptDirectory(str(script_location(store)))
    heads = script.get_heads()
    assert len(heads) == 1, f"{store} has several heads: {heads}"
    revisions = [r.revision for r in script.walk_revisions()]
    assert len(revisions) == len(set(revisions)), f"{store} repeats a revision id"


@pytest.mark.postgres
def test_the_token_stores_migrations_match_its_tables(installation: Settings) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from shared.auth.store import metadata

    upgrade_all(installation)
    db = database_for(AUTH_STORE, installation)
    try:
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        db.dispose()
    leftovers = [
        d for d in diff if not (d[0] == "remove_table" and d[1].name.startswith("alembic_version"))
    ]
    assert leftovers == []


def _in(schema: str, sql: str) -> Any:
    """`sql` with its tables in `schema` ({} marks where)."""
    return text(sql.replace("{}", f'"{schema}"'))


@pytest.mark.postgres
def test_an_installation_of_one_organisation_becomes_the_default_clients(
    installation: Settings,
) -> None:
    """Upgrading an installation from before clients: its complaints, customers,
    departments and people are the default client's; its clerks and viewers are bound to
    it, everyone else stays the centre's own staff."""
    url = installation.database_url_for("intake")
    intake, escalation = installation.schema_for("intake"), installation.schema_for("escalation")
    upgrade("intake", url=url, schema=intake, revision="intake_0008")
    upgrade("escalation", url=url, schema=escalation, revision="escalation_0009")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                _in(
                    intake,
                    "INSERT INTO {}.customers (key, phone, first_seen_at, last_complaint_at, "
                    "complaint_count) VALUES ('+8613800138000', '+8613800138000', now(), now(), 1)",
                )
            )
            conn.execute(
                _in(
                    escalation,
                    "INSERT INTO {}.departments (id, name, contact_phones, active, created_at, "
                    "updated_at) VALUES ('billing', '账务部', '[]', true, now(), now())",
                )
            )
            for staff_id, role, dept in (("B07", "department", "billing"), ("V1", "viewer", None),
                                         ("DM01", "duty_manager", None)):  # fmt: skip
                conn.execute(
                    _in(
                        escalation,
                        "INSERT INTO {}.staff (id, name, phone, role, department_id, active, "
                        "created_at, updated_at) VALUES (:id, 'x', '13900139001', :role, :dept, "
                        "true, now(), now())",
                    ),
                    {"id": staff_id, "role": role, "dept": dept},
                )
        upgrade("intake", url=url, schema=intake)
        upgrade("escalation", url=url, schema=escalation)
        with engine.connect() as conn:
            customers = conn.execute(_in(intake, "SELECT tenant FROM {}.customers"))
            assert [r[0] for r in customers] == ["default"]
            departments = conn.execute(_in(escalation, "SELECT tenant FROM {}.departments"))
            assert [r[0] for r in departments] == ["default"]
            staff = conn.execute(_in(escalation, "SELECT id, tenant FROM {}.staff ORDER BY id"))
            assert [tuple(r) for r in staff] == [
                ("B07", "default"),
                ("DM01", None),
                ("V1", "default"),
            ]
    finally:
        engine.dispose()
