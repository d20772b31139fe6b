"""The client (tenant) each complaint was made to and each customer's file is kept
with: everything registered before is the default client's.

Revision ID: intake_0009
Revises: intake_0008
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "intake_0009"
down_revision: str | None = "intake_0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    for table in ("complaints", "customers"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("tenant", sa.String(32), nullable=False, server_default="default")
            )
    op.create_index("ix_complaints_tenant_time", "complaints", ["tenant", "registered_at"])


def downgrade() -> None:
    op.drop_index("ix_complaints_tenant_time", table_name="complaints")
    for table in ("complaints", "customers"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("tenant")
