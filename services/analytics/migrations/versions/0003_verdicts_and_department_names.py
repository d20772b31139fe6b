"""The customer's first and final verdicts on each complaint, and department names.

The verdicts of facts already built are read back from the event log (each feedback
event keeps its result), so they are what a rebuild from the topics would give.

Revision ID: analytics_0003
Revises: analytics_0002
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision: str = "analytics_0003"
down_revision: str | None = "analytics_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_facts = sa.table(
    "complaint_facts",
    sa.column("complaint_id"),
    sa.column("feedback"),
    sa.column("first_verdict"),
    sa.column("final_verdict"),
)
_events = sa.table(
    "fact_events",
    sa.column("event_id"),
    sa.column("complaint_id"),
    sa.column("action"),
    sa.column("reason_code"),
    sa.column("occurred_at"),
)


def _verdict(*, last: bool) -> sa.ScalarSelect[str]:
    """The result of the complaint's first (or last) feedback event that was a verdict."""
    e = _events.c
    order = (e.occurred_at.desc(), e.event_id.desc()) if last else (e.occurred_at, e.event_id)
    return (
        sa.select(e.reason_code)
        .where(
            e.complaint_id == _facts.c.complaint_id,
            e.action == "feedback",
            e.reason_code.in_(("satisfied", "unsatisfied")),
        )
        .order_by(*order)
        .limit(1)
        .scalar_subquery()
    )


def upgrade() -> None:
    with op.batch_alter_table("complaint_facts") as batch:
        batch.add_column(sa.Column("first_verdict", sa.String(16), nullable=True))
        batch.add_column(sa.Column("final_verdict", sa.String(16), nullable=True))
    op.execute(
        _facts.update()
        .where(_facts.c.feedback.is_not(None))
        .values(first_verdict=_verdict(last=False), final_verdict=_verdict(last=True))
    )
    op.create_table(
        "department_names",
        sa.Column("department_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("named_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("department_names")
    with op.batch_alter_table("complaint_facts") as batch:
        batch.drop_column("final_verdict")
        batch.drop_column("first_verdict")
