"""Callers of every kind: landlines with extensions, callers who give no number, whether
SMS can reach the customer, callers who call again about an open complaint (urges), and
which complaints came from an older system.

Revision ID: intake_0003
Revises: intake_0002
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "intake_0003"
down_revision: str | None = "intake_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("complaints") as batch:
        # An anonymous caller has no customer file.
        batch.alter_column("customer_key", existing_type=sa.String(80), nullable=True)
        batch.add_column(sa.Column("customer_extension", sa.String(8), nullable=True))
        batch.add_column(
            sa.Column("customer_textable", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(
            sa.Column("anonymous", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("imported", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "urges",
        sa.Column("id", BIG, primary_key=True, autoincrement=True),
        sa.Column("complaint_id", sa.String(36), sa.ForeignKey("complaints.id"), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(64), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_urges_complaint_id", "urges", ["complaint_id"])
    # Until now every phone was a mobile; a complaint without one (imported, known by an
    # older system's id) cannot be answered by SMS.
    op.execute(
        sa.text(
            "UPDATE complaints SET customer_textable = :no WHERE customer_phone IS NULL"
        ).bindparams(no=False)
    )
    op.execute(
        sa.text(
            "UPDATE complaints SET imported = :yes "
            "WHERE id IN (SELECT complaint_id FROM imported_rows)"
        ).bindparams(yes=True)
    )


def downgrade() -> None:
    op.drop_table("urges")
    with op.batch_alter_table("complaints") as batch:
        batch.drop_column("imported")
        batch.drop_column("anonymous")
        batch.drop_column("customer_textable")
        batch.drop_column("customer_extension")
        batch.alter_column("customer_key", existing_type=sa.String(80), nullable=False)
