"""The customer's name as intake registered it, kept beside the complaint's text so that
the name is masked wherever the text or a member of staff's words show it.

Facts built before have none: `make analytics-rebuild` reads the names from the topics.

Revision ID: analytics_0004
Revises: analytics_0003
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "analytics_0004"
down_revision: str | None = "analytics_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("complaint_facts") as batch:
        batch.add_column(sa.Column("customer_name", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("complaint_facts") as batch:
        batch.drop_column("customer_name")
