"""deletion requests

Revision ID: c18fbd3dec63
Revises: eb9cad95c55c
Create Date: 2026-12-01 21:31:05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import growthloop.core.models

revision: str = "c18fbd3dec63"
down_revision: str | None = "eb9cad95c55c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deletion_requests",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "requested_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column(
            "scheduled_for", growthloop.core.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("deadline", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("receipt", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deletion_requests")),
    )
    with op.batch_alter_table("deletion_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_deletion_requests_member_id"), ["member_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_deletion_requests_merchant_id"), ["merchant_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_deletion_requests_scheduled_for"), ["scheduled_for"], unique=False
        )
        batch_op.create_index(
            "ix_deletion_requests_status_due", ["status", "scheduled_for"], unique=False
        )

    # ### end Alembic commands ###


def downgrade() -> None:
    with op.batch_alter_table("deletion_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_deletion_requests_status_due")
        batch_op.drop_index(batch_op.f("ix_deletion_requests_scheduled_for"))
        batch_op.drop_index(batch_op.f("ix_deletion_requests_merchant_id"))
        batch_op.drop_index(batch_op.f("ix_deletion_requests_member_id"))

    op.drop_table("deletion_requests")
    # ### end Alembic commands ###
