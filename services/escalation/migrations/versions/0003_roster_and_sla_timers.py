"""The duty roster, the duty desk, and the SLA breach timers on each complaint.

Revision ID: escalation_0003
Revises: escalation_0002
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "escalation_0003"
down_revision: str | None = "escalation_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shifts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("staff_id", sa.String(64), sa.ForeignKey("staff.id"), nullable=False),
        sa.Column("backup_staff_id", sa.String(64), sa.ForeignKey("staff.id"), nullable=True),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_shifts_starts_at_ends_at", "shifts", ["starts_at", "ends_at"])
    desk = op.create_table(
        "duty_desk",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("staff_id", sa.String(64), nullable=True),
        sa.Column("shift_id", sa.String(36), nullable=True),
        sa.Column("since", UTCDateTime(), nullable=True),
    )
    op.bulk_insert(desk, [{"id": 1}])
    with op.batch_alter_table("complaint_states") as batch:
        batch.add_column(sa.Column("breach_step", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("next_breach_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("breach_interval_seconds", sa.Integer(), nullable=True))
    op.create_index("ix_complaint_states_next_breach_at", "complaint_states", ["next_breach_at"])
    op.create_index("ix_complaint_states_duty_manager", "complaint_states", ["duty_manager_id"])
    # Complaints already past their deadline are picked up by the first sweep.
    op.execute(
        "UPDATE complaint_states SET next_breach_at = due_at "
        "WHERE due_at IS NOT NULL AND state <> 'closed'"
    )


def downgrade() -> None:
    op.drop_index("ix_complaint_states_duty_manager", table_name="complaint_states")
    op.drop_index("ix_complaint_states_next_breach_at", table_name="complaint_states")
    with op.batch_alter_table("complaint_states") as batch:
        batch.drop_column("breach_interval_seconds")
        batch.drop_column("next_breach_at")
        batch.drop_column("breach_step")
    op.drop_table("duty_desk")
    op.drop_index("ix_shifts_starts_at_ends_at", table_name="shifts")
    op.drop_table("shifts")
