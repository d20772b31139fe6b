"""Clients (tenants): each complaint, its parts, history entries and clerk assignments,
each department, member of staff and shift names the client it belongs to, and each
client with a roster of its own gets a duty desk of its own.

What was there before is the default client's: the complaints and departments by the
server default, the department clerks and the viewers (who always work for one client)
by an update; everyone else stays the centre's own staff (no client), and every shift
stays on the centre's shared roster.

Revision ID: escalation_0010
Revises: escalation_0009
Create Date: 2026-12-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "escalation_0010"
down_revision: str | None = "escalation_0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables whose every row belongs to one client.
_CLIENTS_DATA = ("complaint_states", "complaint_assists", "complaint_history", "clerk_assignments")


def _tenant() -> sa.Column[str]:
    return sa.Column("tenant", sa.String(32), nullable=False, server_default="default")


def upgrade() -> None:
    for table in (*_CLIENTS_DATA, "departments"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(_tenant())
    op.create_index("ix_complaint_states_tenant", "complaint_states", ["tenant", "state", "due_at"])
    op.create_index("ix_departments_tenant", "departments", ["tenant"])
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("tenant", sa.String(32), nullable=True))
    op.create_index("ix_staff_tenant", "staff", ["tenant"])
    op.execute("UPDATE staff SET tenant = 'default' WHERE role IN ('department', 'viewer')")
    with op.batch_alter_table("shifts") as batch:
        batch.add_column(sa.Column("tenant", sa.String(32), nullable=True))
    op.create_index("ix_shifts_tenant", "shifts", ["tenant", "starts_at"])
    with op.batch_alter_table("duty_desk") as batch:
        batch.add_column(sa.Column("tenant", sa.String(32), nullable=True))
        batch.create_unique_constraint("duty_desk_tenant_key", ["tenant"])


def downgrade() -> None:
    op.execute("DELETE FROM duty_desk WHERE tenant IS NOT NULL")
    with op.batch_alter_table("duty_desk") as batch:
        batch.drop_constraint("duty_desk_tenant_key", type_="unique")
        batch.drop_column("tenant")
    op.drop_index("ix_shifts_tenant", table_name="shifts")
    with op.batch_alter_table("shifts") as batch:
        batch.drop_column("tenant")
    op.drop_index("ix_staff_tenant", table_name="staff")
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("tenant")
    op.drop_index("ix_departments_tenant", table_name="departments")
    op.drop_index("ix_complaint_states_tenant", table_name="complaint_states")
    for table in (*_CLIENTS_DATA, "departments"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("tenant")
