"""processes record the PII key ids they hold

Revision ID: d1e2f3a4b5c6
Revises: c0a1b2d3e4f5
Create Date: 2026-12-07 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import growthloop.core.models

revision: str = "d1e2f3a4b5c6"
down_revision: str | None = "c0a1b2d3e4f5"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "process_heartbeats",
        sa.Column("id", sa.String(length=300), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("key_ids", sa.JSON(), nullable=False),
        sa.Column("key_checks", sa.JSON(), nullable=False),
        sa.Column("last_seen", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_process_heartbeats")),
    )
    with op.batch_alter_table("process_heartbeats", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_process_heartbeats_last_seen"), ["last_seen"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("process_heartbeats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_process_heartbeats_last_seen"))

    op.drop_table("process_heartbeats")
