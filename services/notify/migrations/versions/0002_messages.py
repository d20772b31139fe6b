"""The message log, opt-outs and complaint contacts.

Revision ID: notify_0002
Revises: notify_0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "notify_0002"
down_revision: str | None = "notify_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("direction", sa.String(3), nullable=False),
        sa.Column("dedupe_key", sa.String(200), nullable=True, unique=True),
        sa.Column("event_id", sa.String(36), nullable=True),
        sa.Column("event_type", sa.String(100), nullable=True),
        sa.Column("complaint_id", sa.String(64), nullable=True),
        sa.Column("reference", sa.String(32), nullable=True),
        sa.Column("department_id", sa.String(64), nullable=True),
        sa.Column("phone", sa.String(20), nullable=False),
        sa.Column("audience", sa.String(20), nullable=True),
        sa.Column("staff_id", sa.String(64), nullable=True),
        sa.Column("template", sa.String(40), nullable=True),
        sa.Column("language", sa.String(10), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("encoding", sa.String(8), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("units", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("reply_kind", sa.String(10), nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("due_at", UTCDateTime(), nullable=True),
        sa.Column("held_reason", sa.String(20), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("provider", sa.String(16), nullable=True),
        sa.Column("provider_message_id", sa.String(64), nullable=True),
        sa.Column("intent", sa.String(12), nullable=True),
        sa.Column("in_reply_to", sa.String(36), nullable=True),
        sa.Column("digest_id", sa.String(36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("provider", "provider_message_id", name="uq_messages_provider_id"),
    )
    op.create_index("ix_messages_phone_time", "messages", ["phone", "created_at"])
    op.create_index("ix_messages_complaint_time", "messages", ["complaint_id", "created_at"])
    op.create_index(
        "ix_messages_due",
        "messages",
        ["due_at"],
        postgresql_where=sa.text("status IN ('pending', 'unknown')"),
        sqlite_where=sa.text("status IN ('pending', 'unknown')"),
    )
    op.create_index(
        "ix_messages_held",
        "messages",
        ["phone"],
        postgresql_where=sa.text("status = 'held'"),
        sqlite_where=sa.text("status = 'held'"),
    )
    op.create_table(
        "opt_outs",
        sa.Column("phone", sa.String(20), primary_key=True),
        sa.Column("keyword", sa.String(20), nullable=False),
        sa.Column("opted_out_at", UTCDateTime(), nullable=False),
    )
    op.create_table(
        "complaint_contacts",
        sa.Column("complaint_id", sa.String(64), primary_key=True),
        sa.Column("reference", sa.String(32), nullable=False),
        sa.Column("customer_phone", sa.String(20), nullable=True),
        sa.Column("customer_name", sa.String(64), nullable=True),
        sa.Column("category", sa.String(40), nullable=True),
        sa.Column("severity", sa.String(16), nullable=True),
        sa.Column("strong_emotion", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("imported", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("registered_at", UTCDateTime(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Wake the sender (LISTEN sms_<schema>) when messages are written, at commit.
        op.execute(
            """
            CREATE OR REPLACE FUNCTION messages_notify() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
              PERFORM pg_notify('sms_' || TG_TABLE_SCHEMA, '');
              RETURN NULL;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER messages_notify AFTER INSERT ON messages "
            "FOR EACH STATEMENT EXECUTE FUNCTION messages_notify()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS messages_notify ON messages")
        op.execute("DROP FUNCTION IF EXISTS messages_notify()")
    op.drop_table("complaint_contacts")
    op.drop_table("opt_outs")
    op.drop_index("ix_messages_held", table_name="messages")
    op.drop_index("ix_messages_due", table_name="messages")
    op.drop_index("ix_messages_complaint_time", table_name="messages")
    op.drop_index("ix_messages_phone_time", table_name="messages")
    op.drop_table("messages")
