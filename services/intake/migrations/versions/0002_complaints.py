"""Complaints, customers, feedback, notes, idempotency keys, imported rows, numbers.

Revision ID: intake_0002
Revises: intake_0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "intake_0002"
down_revision: str | None = "intake_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("key", sa.String(80), primary_key=True),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("external_ref", sa.String(64), nullable=True),
        sa.Column("name", sa.String(64), nullable=True),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("last_complaint_at", UTCDateTime(), nullable=False),
        sa.Column("complaint_count", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_customers_phone", "customers", ["phone"])
    op.create_table(
        "complaints",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("number", BIG, nullable=False, unique=True),
        sa.Column("reference", sa.String(32), nullable=False, unique=True),
        sa.Column("customer_key", sa.String(80), nullable=False),
        sa.Column("customer_phone", sa.String(20), nullable=True),
        sa.Column("customer_name", sa.String(64), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("nature", sa.String(16), nullable=False),
        sa.Column("strong_emotion", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=True),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
        sa.Column("registered_by", sa.String(64), nullable=False),
        sa.Column("external_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(24), nullable=False, server_default="received"),
        sa.Column("status_seq", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("status_updated_at", UTCDateTime(), nullable=True),
        sa.Column("holder_staff_id", sa.String(64), nullable=True),
        sa.Column("department_id", sa.String(64), nullable=True),
        sa.Column("closure_reason", sa.String(32), nullable=True),
    )
    op.create_index("ix_complaints_customer_time", "complaints", ["customer_key", "registered_at"])
    op.create_index("ix_complaints_time_id", "complaints", ["registered_at", "id"])
    op.create_index("ix_complaints_status_time", "complaints", ["status", "registered_at"])
    op.create_table(
        "feedback",
        sa.Column("id", BIG, primary_key=True, autoincrement=True),
        sa.Column("complaint_id", sa.String(36), sa.ForeignKey("complaints.id"), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("recorded_by", sa.String(64), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_feedback_complaint_id", "feedback", ["complaint_id"])
    op.create_table(
        "notes",
        sa.Column("id", BIG, primary_key=True, autoincrement=True),
        sa.Column("complaint_id", sa.String(36), sa.ForeignKey("complaints.id"), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("added_by", sa.String(64), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_notes_complaint_id", "notes", ["complaint_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("staff_id", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(128), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("complaint_id", sa.String(36), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    op.create_table(
        "imported_rows",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("row_hash", sa.String(64), primary_key=True),
        sa.Column("complaint_id", sa.String(36), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "reference_counter",
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("last", BIG, nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Numbers come from a sequence: no row lock shared by every registration.
        op.execute("CREATE SEQUENCE complaint_number_seq START 1 CACHE 1")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE IF EXISTS complaint_number_seq")
    for table in (
        "reference_counter",
        "imported_rows",
        "idempotency_keys",
        "notes",
        "feedback",
        "complaints",
    ):
        op.drop_table(table)
    op.drop_table("customers")
