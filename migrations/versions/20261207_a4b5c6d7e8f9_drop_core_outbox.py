"""drop the kernel's after-commit outbox

Every domain event is handled in the transaction that emits it; work that leaves the
process after the commit goes through the analytics outbox. The kernel's outbox had no
subscriber outside the tests.

Revision ID: a4b5c6d7e8f9
Revises: f3a4b5c6d7e8
Create Date: 2026-12-07 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import growthloop.core.models

revision: str = "a4b5c6d7e8f9"
down_revision: str | None = "f3a4b5c6d7e8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_events_merchant_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_events_member_id"))
        batch_op.drop_index(batch_op.f("ix_outbox_events_dispatched_at"))
    op.drop_table("outbox_events")


def downgrade() -> None:
    utc = growthloop.core.models.UTCDateTime(timezone=True)
    op.create_table(
        "outbox_events",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("dispatched_at", utc, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", utc, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_events")),
    )
    with op.batch_alter_table("outbox_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_outbox_events_dispatched_at"), ["dispatched_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_outbox_events_member_id"), ["member_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_outbox_events_merchant_id"), ["merchant_id"], unique=False
        )
