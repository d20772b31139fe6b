"""Hot issues: where a complaint happened (the location the agent wrote down), what each
complaint is about (its place, district and problem words, read once from its text), the
answers computed last, and the alerts the desk got.

Complaints stored before have no subject row: hot issues read their texts when first
asked about their period, and store what they read.

Revision ID: analytics_0005
Revises: analytics_0004
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "analytics_0005"
down_revision: str | None = "analytics_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("complaint_facts") as batch:
        batch.add_column(sa.Column("location", sa.String(200), nullable=True))
    op.create_table(
        "complaint_subjects",
        sa.Column("complaint_id", sa.String(64), primary_key=True),
        sa.Column("version", sa.String(32), nullable=False),
        sa.Column("lang", sa.String(4), nullable=False),
        sa.Column("place", sa.String(64), nullable=True),
        sa.Column("place_key", sa.String(64), nullable=True),
        sa.Column("area", sa.String(32), nullable=True),
        sa.Column("words", sa.String(400), nullable=False),
    )
    op.create_table(
        "hot_issue_answers",
        sa.Column("ask_key", sa.String(32), primary_key=True),
        sa.Column("stamp", sa.String(200), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
    )
    op.create_table(
        "hot_issue_alerts",
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("callers", sa.Integer(), nullable=False),
        sa.Column("alerted_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("hot_issue_alerts")
    op.drop_table("hot_issue_answers")
    op.drop_table("complaint_subjects")
    with op.batch_alter_table("complaint_facts") as batch:
        batch.drop_column("location")
