"""Alembic, one environment per service (and one for the auth store).

Each keeps its version table (`alembic_version_<store>`) in its own schema on
PostgreSQL or its own SQLite file. `python -m shared.migrations upgrade all` brings
every store to head; services refuse to report ready until theirs is.
"""

from __future__ import annotations

import argparse
import sys
import zlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text

from shared.db import Database, UTCDateTime, create_database
from shared.settings import AUTH_STORE, SERVICES, WORKBENCH, Settings

ROOT = Path(__file__).resolve().parent.parent
STORES = (AUTH_STORE, *SERVICES, WORKBENCH)


def script_location(store: str) -> Path:
    if store == AUTH_STORE:
        return ROOT / "shared" / "auth" / "migrations"
    if store in (*SERVICES, WORKBENCH):
        return ROOT / "services" / store / "migrations"
    raise ValueError(f"unknown store {store!r}; one of {', '.join(STORES)}")


def version_table(store: str) -> str:
    return f"alembic_version_{store}"


def alembic_config(store: str, *, url: str | None = None, schema: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location(store)))
    cfg.attributes["store"] = store
    cfg.attributes["url"] = url
    cfg.attributes["schema"] = schema or store
    return cfg


def upgrade(
    store: str, *, url: str | None = None, schema: str | None = None, revision: str = "head"
) -> None:
    url = url or Settings().database_url_for(store)
    command.upgrade(alembic_config(store, url=url, schema=schema), revision)


def upgrade_all(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    for store in STORES:
        upgrade(store, url=settings.database_url_for(store), schema=settings.schema_for(store))


def pending_migrations(db: Database, store: str) -> list[str]:
    """Heads not applied yet (empty when the database is up to date)."""
    heads = set(ScriptDirectory(str(script_location(store))).get_heads())
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "version_table": version_table(store),
                "version_table_schema": db.schema if db.is_postgres else None,
            },
        )
        current = set(ctx.get_current_heads())
    return sorted(heads - current)


def run_env(metadata: MetaData) -> None:
    """The body of every env.py: migrate one store inside its own schema or file."""
    from alembic import context

    config = context.config
    store = (
        config.attributes.get("store")
        or Path(config.get_main_option("script_location") or "").parent.name
    )
    if store == "auth":
        store = AUTH_STORE
    url = config.attributes.get("url") or Settings().database_url_for(store)
    schema = config.attributes.get("schema") or store
    opts: dict[str, Any] = {
        "target_metadata": metadata,
        "version_table": version_table(store),
        "compare_type": True,
    }
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **opts)
        with context.begin_transaction():
            context.run_migrations()
        return
    db = create_database(url, schema=schema, pool_size=1, max_overflow=0)
    try:
        with db.engine.connect() as conn:
            if db.is_postgres:
                conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
                # Two processes migrating the same schema at once take turns.
                lock = zlib.crc32(f"migrate:{schema}".encode()) & 0x7FFFFFFF
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock})
                conn.commit()
                opts["version_table_schema"] = schema
            else:
                opts["render_as_batch"] = True
            try:
                context.configure(connection=conn, **opts)
                with context.begin_transaction():
                    context.run_migrations()
                conn.commit()
            finally:
                if db.is_postgres:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock})
                    conn.commit()
    finally:
        db.dispose()


# -- the platform tables every service has, as first created ---------------------------


def create_outbox_and_inbox(op: Any) -> None:
    """Version 1 of the outbox and inbox tables, for each service's first migration."""
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "outbox",
        sa.Column("id", big_id, primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("lane", sa.SmallInteger(), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index(
        "ix_outbox_unsent",
        "outbox",
        ["lane", "id"],
        postgresql_where=sa.text("sent_at IS NULL"),
        sqlite_where=sa.text("sent_at IS NULL"),
    )
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at"])
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("topic", sa.String(200), nullable=True),
        sa.Column("partition", sa.Integer(), nullable=True),
        sa.Column("offset", sa.BigInteger(), nullable=True),
        sa.Column("processed_at", UTCDateTime(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Wake the relay at commit (LISTEN outbox_<schema>), with no extra round trip.
        op.execute(
            """
            CREATE OR REPLACE FUNCTION outbox_notify() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
              PERFORM pg_notify('outbox_' || TG_TABLE_SCHEMA, '');
              RETURN NULL;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER outbox_notify AFTER INSERT ON outbox "
            "FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify()"
        )


def drop_outbox_and_inbox(op: Any) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS outbox_notify ON outbox")
        op.execute("DROP FUNCTION IF EXISTS outbox_notify()")
    op.drop_table("inbox")
    op.drop_index("ix_outbox_sent_at", table_name="outbox")
    op.drop_index("ix_outbox_unsent", table_name="outbox")
    op.drop_table("outbox")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.migrations")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("upgrade", help="bring stores to the newest schema")
    up.add_argument("store", nargs="?", default="all", choices=["all", *STORES])
    args = parser.parse_args(argv)
    settings = Settings()
    stores = STORES if args.store == "all" else (args.store,)
    for store in stores:
        upgrade(store, url=settings.database_url_for(store), schema=settings.schema_for(store))
        print(f"{store}: up to date", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
