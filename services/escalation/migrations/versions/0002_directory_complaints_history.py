"""Departments, staff, complaint states and the append-only complaint history.

Revision ID: escalation_0002
Revises: escalation_0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "escalation_0002"
down_revision: str | None = "escalation_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATES = ("received", "with_duty_manager", "dispatched", "in_progress", "replied", "closed")
REFUSAL = "complaint_history is append-only"


def upgrade() -> None:
    op.create_table(
        "departments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("contact_phones", sa.JSON(), nullable=False),
        sa.Column("head_staff_id", sa.String(64), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "staff",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("department_id", sa.String(64), sa.ForeignKey("departments.id"), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_staff_role", "staff", ["role"])
    op.create_index("ix_staff_department_id", "staff", ["department_id"])

    states = ", ".join(f"'{s}'" for s in STATES)
    op.create_table(
        "complaint_states",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("reference", sa.String(32), nullable=False, unique=True),
        sa.Column("customer_phone", sa.String(20), nullable=True),
        sa.Column("customer_name", sa.String(64), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("nature", sa.String(16), nullable=False),
        sa.Column("strong_emotion", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("imported", sa.Boolean(), nullable=False),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("holder_staff_id", sa.String(64), nullable=True),
        sa.Column("holder_role", sa.String(32), nullable=True),
        sa.Column("department_id", sa.String(64), nullable=True),
        sa.Column("duty_manager_id", sa.String(64), nullable=True),
        sa.Column("bounce_count", sa.Integer(), nullable=False),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("urge_count", sa.Integer(), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("acknowledged_at", UTCDateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(64), nullable=True),
        sa.Column("extension_until", UTCDateTime(), nullable=True),
        sa.Column("extension_reason", sa.Text(), nullable=True),
        sa.Column("extension_requested_by", sa.String(64), nullable=True),
        sa.Column("extended_until", UTCDateTime(), nullable=True),
        sa.Column("loss_verified", sa.Boolean(), nullable=False),
        sa.Column("compensation_amount", sa.Numeric(12, 2), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("root_cause", sa.String(16), nullable=True),
        sa.Column("feedback", sa.String(16), nullable=True),
        sa.Column("follow_up_attempts", sa.Integer(), nullable=False),
        sa.Column("closure_reason", sa.String(16), nullable=True),
        sa.Column("with_compensation", sa.Boolean(), nullable=False),
        sa.Column("stage", sa.String(24), nullable=True),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("history_seq", sa.Integer(), nullable=False),
        sa.Column("history_head", sa.String(64), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(f"state IN ({states})", name="ck_complaint_states_state"),
    )
    op.create_index("ix_complaint_states_holder", "complaint_states", ["holder_staff_id", "due_at"])
    op.create_index(
        "ix_complaint_states_desk", "complaint_states", ["holder_role", "state", "due_at"]
    )
    op.create_index(
        "ix_complaint_states_department", "complaint_states", ["department_id", "state", "due_at"]
    )

    op.create_table(
        "complaint_history",
        sa.Column(
            "complaint_id",
            sa.String(36),
            sa.ForeignKey("complaint_states.id"),
            primary_key=True,
        ),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor_id", sa.String(64), nullable=False),
        sa.Column("actor_role", sa.String(32), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(24), nullable=False),
        sa.Column("to_state", sa.String(24), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    _refuse_history_changes()


def _refuse_history_changes() -> None:
    """The database itself refuses to change or remove a history entry."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE OR REPLACE FUNCTION complaint_history_refuse_change() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
              RAISE EXCEPTION '{REFUSAL}: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER complaint_history_no_update_or_delete "
            "BEFORE UPDATE OR DELETE ON complaint_history "
            "FOR EACH ROW EXECUTE FUNCTION complaint_history_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER complaint_history_no_truncate "
            "BEFORE TRUNCATE ON complaint_history "
            "FOR EACH STATEMENT EXECUTE FUNCTION complaint_history_refuse_change()"
        )
    else:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER complaint_history_no_{operation.lower()} "
                f"BEFORE {operation} ON complaint_history "
                f"BEGIN SELECT RAISE(ABORT, '{REFUSAL}: {operation} refused'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS complaint_history_no_truncate ON complaint_history")
        op.execute(
            "DROP TRIGGER IF EXISTS complaint_history_no_update_or_delete ON complaint_history"
        )
        op.execute("DROP FUNCTION IF EXISTS complaint_history_refuse_change()")
    op.drop_table("complaint_history")
    op.drop_index("ix_complaint_states_department", table_name="complaint_states")
    op.drop_index("ix_complaint_states_desk", table_name="complaint_states")
    op.drop_index("ix_complaint_states_holder", table_name="complaint_states")
    op.drop_table("complaint_states")
    op.drop_index("ix_staff_department_id", table_name="staff")
    op.drop_index("ix_staff_role", table_name="staff")
    op.drop_table("staff")
    op.drop_table("departments")
