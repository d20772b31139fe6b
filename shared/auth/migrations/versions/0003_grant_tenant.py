"""Staff grants name the client (tenant) their holder works for: none for the centre's
own staff, who serve every client; the default client for a department's clerks and
the outsourcing client's viewers, who always belong to one.

Revision ID: auth_0003
Revises: auth_0002
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "auth_0003"
down_revision: str | None = "auth_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("staff_grants") as batch:
        batch.add_column(sa.Column("tenant", sa.String(32), nullable=True))
    op.execute("UPDATE staff_grants SET tenant = 'default' WHERE role IN ('department', 'viewer')")


def downgrade() -> None:
    with op.batch_alter_table("staff_grants") as batch:
        batch.drop_column("tenant")
