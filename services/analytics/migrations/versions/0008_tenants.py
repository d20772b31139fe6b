"""Clients (tenants) of an outsourcing centre: every row kept per complaint or per issue
names its client, and reports filter by it; the facts also keep who registered the
complaint, for the centre's staffing across its clients. Rows written before belong to
the default client (the server default fills them).

Revision ID: analytics_0008
Revises: analytics_0007
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "analytics_0008"
down_revision: str | None = "analytics_0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here as they were when written (shared.tenants.DEFAULT_TENANT).
DEFAULT = "default"
TABLES = (
    "complaint_facts",
    "fact_events",
    "assist_parts",
    "department_names",
    "complaint_subjects",
    "hot_issue_alerts",
    "root_cause_revisions",
)
INDEXES = (
    ("ix_facts_tenant_month", "complaint_facts", ["tenant", "registered_month", "department_id"]),
    ("ix_facts_tenant_day", "complaint_facts", ["tenant", "registered_day"]),
    ("ix_fact_events_tenant_month", "fact_events", ["tenant", "month"]),
    ("ix_assist_parts_tenant_month", "assist_parts", ["tenant", "month"]),
)


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("tenant", sa.String(32), nullable=False, server_default=DEFAULT)
            )
    with op.batch_alter_table("complaint_facts") as batch:
        batch.add_column(sa.Column("registered_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("registered_by_role", sa.String(32), nullable=True))
    # An answer of every client has none: the answers stored before were asked so.
    with op.batch_alter_table("hot_issue_answers") as batch:
        batch.add_column(sa.Column("tenant", sa.String(32), nullable=True))
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    with op.batch_alter_table("hot_issue_answers") as batch:
        batch.drop_column("tenant")
    with op.batch_alter_table("complaint_facts") as batch:
        batch.drop_column("registered_by_role")
        batch.drop_column("registered_by")
    for table in reversed(TABLES):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("tenant")
