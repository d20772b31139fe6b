"""Where a complaint happened, as the caller said it (事发地点).

Revision ID: intake_0005
Revises: intake_0004
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "intake_0005"
down_revision: str | None = "intake_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable and without a default: complaints registered before say nowhere, which is
    # what they said.
    with op.batch_alter_table("complaints") as batch:
        batch.add_column(sa.Column("location", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("complaints") as batch:
        batch.drop_column("location")
