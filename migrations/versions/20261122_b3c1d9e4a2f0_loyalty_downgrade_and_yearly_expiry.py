"""loyalty: periodic downgrade, yearly expiry date, dated growth

Revision ID: b3c1d9e4a2f0
Revises: 7fa2a621f471
Create Date: 2026-11-22 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import growthloop.core.models

revision: str = "b3c1d9e4a2f0"
down_revision: str | None = "7fa2a621f471"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("loyalty_programs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("points_expire_on", sa.String(length=5), nullable=True))
        batch_op.add_column(
            sa.Column(
                "downgrade_policy", sa.String(length=16), nullable=False, server_default="never"
            )
        )
        batch_op.add_column(sa.Column("review_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("loyalty_programs", schema=None) as batch_op:
        batch_op.alter_column("downgrade_policy", server_default=None)
    with op.batch_alter_table("member_loyalty", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tier_reviewed_at", growthloop.core.models.UTCDateTime(), nullable=True)
        )
        batch_op.create_index(
            "ix_member_loyalty_review", ["merchant_id", "tier_reviewed_at"], unique=False
        )
    with op.batch_alter_table("points_batches", schema=None) as batch_op:
        batch_op.drop_index("ix_points_batches_expiry")
        batch_op.create_index(
            "ix_points_batches_due",
            ["expires_at", "merchant_id", "member_id"],
            unique=False,
            postgresql_where=sa.text("remaining > 0"),
            sqlite_where=sa.text("remaining > 0"),
        )
    op.create_table(
        "loyalty_growth",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("at", growthloop.core.models.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_growth")),
    )
    with op.batch_alter_table("loyalty_growth", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_loyalty_growth_merchant_id"), ["merchant_id"], unique=False
        )
        batch_op.create_index(
            "ix_loyalty_growth_member", ["merchant_id", "member_id", "at"], unique=False
        )


def downgrade() -> None:
    op.drop_table("loyalty_growth")
    with op.batch_alter_table("points_batches", schema=None) as batch_op:
        batch_op.drop_index("ix_points_batches_due")
        batch_op.create_index("ix_points_batches_expiry", ["expires_at", "remaining"], unique=False)
    with op.batch_alter_table("member_loyalty", schema=None) as batch_op:
        batch_op.drop_index("ix_member_loyalty_review")
        batch_op.drop_column("tier_reviewed_at")
    with op.batch_alter_table("loyalty_programs", schema=None) as batch_op:
        batch_op.drop_column("review_days")
        batch_op.drop_column("downgrade_policy")
        batch_op.drop_column("points_expire_on")
