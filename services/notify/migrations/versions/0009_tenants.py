"""Clients (tenants): every message, opt-out, complaint contact, duty manager seen,
department contact and access-log entry names the client it belongs to; what was there
before is the default client's. A duty manager is seen on a roster (a client's own, or
the centre's shared one, ''), a department within its client, and an opt-out holds for
one client.

Revision ID: notify_0009
Revises: notify_0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "notify_0009"
down_revision: str | None = "notify_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tenant(**kw: object) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column("tenant", sa.String(32), nullable=False, server_default="default", **kw)


# The tables whose primary key takes the client (or roster) in, with their new columns:
# SQLite rebuilds a table to change its key, from this description.
def _duty_managers_seen() -> sa.Table:
    return sa.Table(
        "duty_managers_seen",
        sa.MetaData(),
        sa.Column("staff_id", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("name", sa.String(64), nullable=True),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.Column("seen_in", sa.String(100), nullable=False),
        sa.Column("roster", sa.String(32), nullable=False, server_default=""),
        _tenant(),
    )


def _department_contacts() -> sa.Table:
    return sa.Table(
        "department_contacts",
        sa.MetaData(),
        sa.Column("department_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(100), nullable=True),
        sa.Column("phones", sa.JSON(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.Column("seen_in", sa.String(100), nullable=False),
        _tenant(),
    )


def _opt_outs() -> sa.Table:
    return sa.Table(
        "opt_outs",
        sa.MetaData(),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("keyword", sa.String(20), nullable=False),
        sa.Column("opted_out_at", UTCDateTime(), nullable=False),
        _tenant(),
    )


def _primary_key(shape: sa.Table, columns: list[str]) -> None:
    """Make `columns` the table's primary key, keeping its rows."""
    name = f"{shape.name}_pkey"
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(shape.name, recreate="always", copy_from=shape) as batch:
            batch.create_primary_key(name, columns)
        return
    op.drop_constraint(name, shape.name, type_="primary")
    op.create_primary_key(name, shape.name, columns)


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(_tenant())
        batch.create_index("ix_messages_tenant_time", ["tenant", "created_at"])
    with op.batch_alter_table("complaint_contacts") as batch:
        batch.add_column(_tenant())
    with op.batch_alter_table("access_log") as batch:
        batch.add_column(_tenant())
        batch.create_index("ix_access_log_tenant_at", ["tenant", "at"])
    with op.batch_alter_table("duty_managers_seen") as batch:
        batch.add_column(sa.Column("roster", sa.String(32), nullable=False, server_default=""))
        batch.add_column(_tenant())
    _primary_key(_duty_managers_seen(), ["roster", "staff_id"])
    with op.batch_alter_table("department_contacts") as batch:
        batch.add_column(_tenant())
    _primary_key(_department_contacts(), ["tenant", "department_id"])
    with op.batch_alter_table("opt_outs") as batch:
        batch.add_column(_tenant())
    _primary_key(_opt_outs(), ["phone", "tenant"])


def downgrade() -> None:
    # Back to one row per phone, department and duty manager: the default client's.
    op.execute("DELETE FROM opt_outs WHERE tenant <> 'default'")
    _primary_key(_opt_outs(), ["phone"])
    with op.batch_alter_table("opt_outs") as batch:
        batch.drop_column("tenant")
    op.execute("DELETE FROM department_contacts WHERE tenant <> 'default'")
    _primary_key(_department_contacts(), ["department_id"])
    with op.batch_alter_table("department_contacts") as batch:
        batch.drop_column("tenant")
    op.execute("DELETE FROM duty_managers_seen WHERE roster <> ''")
    _primary_key(_duty_managers_seen(), ["staff_id"])
    with op.batch_alter_table("duty_managers_seen") as batch:
        batch.drop_column("tenant")
        batch.drop_column("roster")
    with op.batch_alter_table("access_log") as batch:
        batch.drop_index("ix_access_log_tenant_at")
        batch.drop_column("tenant")
    with op.batch_alter_table("complaint_contacts") as batch:
        batch.drop_column("tenant")
    with op.batch_alter_table("messages") as batch:
        batch.drop_index("ix_messages_tenant_time")
        batch.drop_column("tenant")
