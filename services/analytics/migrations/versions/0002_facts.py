"""Complaint facts, the lifecycle event log and QA's root-cause revisions.

Revision ID: analytics_0002
Revises: analytics_0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "analytics_0002"
down_revision: str | None = "analytics_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STAGES = ("acknowledgement", "handling", "acceptance", "resolution", "follow_up")


def upgrade() -> None:
    stage_columns = []
    for stage in STAGES:
        stage_columns += [
            sa.Column(f"{stage}_seconds", sa.Integer(), nullable=True),
            sa.Column(f"{stage}_met", sa.Boolean(), nullable=True),
        ]
    op.create_table(
        "complaint_facts",
        sa.Column("complaint_id", sa.String(64), primary_key=True),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("customer_key", sa.String(80), nullable=True),
        sa.Column("customer_phone", sa.String(20), nullable=True),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("nature", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("strong_emotion", sa.Boolean(), nullable=False),
        sa.Column("imported", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
        sa.Column("registered_day", sa.Date(), nullable=False),
        sa.Column("registered_month", sa.String(7), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("department_id", sa.String(64), nullable=True),
        sa.Column("assigned_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("dispatched_at", UTCDateTime(), nullable=True),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
        sa.Column("replied_at", UTCDateTime(), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("reopened_at", UTCDateTime(), nullable=True),
        sa.Column("stage", sa.String(16), nullable=True),
        sa.Column("stage_entered_at", UTCDateTime(), nullable=True),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        *stage_columns,
        sa.Column("deadlines_missed", sa.Integer(), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.Column("urges", sa.Integer(), nullable=False),
        sa.Column("returns", sa.Integer(), nullable=False),
        sa.Column("reopens", sa.Integer(), nullable=False),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("root_cause_reported", sa.String(16), nullable=True),
        sa.Column("root_cause", sa.String(16), nullable=True),
        sa.Column("root_cause_revisions", sa.Integer(), nullable=False),
        sa.Column("feedback", sa.String(16), nullable=True),
        sa.Column("unsatisfied", sa.Integer(), nullable=False),
        sa.Column("closure_reason", sa.String(16), nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_facts_month_department", "complaint_facts", ["registered_month", "department_id"]
    )
    op.create_index("ix_facts_registered_at", "complaint_facts", ["registered_at"])
    op.create_index("ix_facts_day_category", "complaint_facts", ["registered_day", "category"])
    op.create_index("ix_facts_customer_time", "complaint_facts", ["customer_key", "registered_at"])

    op.create_table(
        "fact_events",
        sa.Column("event_id", sa.String(36), primary_key=True),
        sa.Column("complaint_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("department_id", sa.String(64), nullable=True),
        sa.Column("from_state", sa.String(24), nullable=False),
        sa.Column("to_state", sa.String(24), nullable=False),
        sa.Column("reason_code", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_fact_events_department_month", "fact_events", ["department_id", "month", "event_type"]
    )
    op.create_index("ix_fact_events_day_type", "fact_events", ["day", "event_type"])
    op.create_index("ix_fact_events_complaint", "fact_events", ["complaint_id", "occurred_at"])

    op.create_table(
        "root_cause_revisions",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("complaint_id", sa.String(64), nullable=False),
        sa.Column("root_cause", sa.String(16), nullable=False),
        sa.Column("previous", sa.String(16), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("revised_by", sa.String(64), nullable=False),
        sa.Column("revised_at", UTCDateTime(), nullable=False),
    )
    op.create_index(
        "ix_revisions_complaint", "root_cause_revisions", ["complaint_id", "revised_at"]
    )


def downgrade() -> None:
    op.drop_table("root_cause_revisions")
    op.drop_table("fact_events")
    op.drop_table("complaint_facts")
