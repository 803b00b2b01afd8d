"""points mall: rewards, redemptions, per-member counters

Revision ID: 5d0c8e1a7b93
Revises: 7fa2a621f471
Create Date: 2026-11-22 08:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import growthloop.core.models

revision: str = "5d0c8e1a7b93"
down_revision: str | None = "7fa2a621f471"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "mall_rewards",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("image_url", sa.String(length=500), nullable=True),
        sa.Column("template_id", sa.String(length=26), nullable=True),
        sa.Column("product_id", sa.String(length=26), nullable=True),
        sa.Column("points_cost", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column("redeemed", sa.Integer(), nullable=False),
        sa.Column("per_member_limit", sa.Integer(), nullable=True),
        sa.Column("shown_from", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("shown_until", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("redeem_from", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("redeem_until", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("sort", sa.Integer(), nullable=False),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('coupon', 'product', 'physical')", name=op.f("ck_mall_rewards_kind")
        ),
        sa.CheckConstraint(
            "redeemed >= 0 AND points_cost >= 1", name=op.f("ck_mall_rewards_amounts")
        ),
        sa.CheckConstraint(
            "stock IS NULL OR redeemed <= stock", name=op.f("ck_mall_rewards_not_oversold")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mall_rewards")),
    )
    with op.batch_alter_table("mall_rewards", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mall_rewards_merchant_id"), ["merchant_id"], unique=False
        )
        batch_op.create_index("ix_mall_rewards_shelf", ["merchant_id", "sort", "id"], unique=False)

    op.create_table(
        "mall_member_counts",
        sa.Column("reward_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.CheckConstraint("count >= 0", name=op.f("ck_mall_member_counts_not_negative")),
        sa.ForeignKeyConstraint(
            ["reward_id"],
            ["mall_rewards.id"],
            name=op.f("fk_mall_member_counts_reward_id_mall_rewards"),
        ),
        sa.PrimaryKeyConstraint("reward_id", "member_id", name=op.f("pk_mall_member_counts")),
    )
    with op.batch_alter_table("mall_member_counts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mall_member_counts_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "mall_redemptions",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("reward_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reward_name", sa.String(length=50), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=True),
        sa.Column("coupon_ids", sa.JSON(), nullable=False),
        sa.Column("ship_name", sa.String(length=50), nullable=True),
        sa.Column("ship_phone", sa.String(length=20), nullable=True),
        sa.Column("ship_address", sa.String(length=200), nullable=True),
        sa.Column("tracking_no", sa.String(length=64), nullable=True),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fulfilled_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('issued', 'pending', 'fulfilled', 'cancelled')",
            name=op.f("ck_mall_redemptions_status"),
        ),
        sa.CheckConstraint(
            "quantity >= 1 AND points >= 1", name=op.f("ck_mall_redemptions_amounts")
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"],
            ["mall_rewards.id"],
            name=op.f("fk_mall_redemptions_reward_id_mall_rewards"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mall_redemptions")),
        sa.UniqueConstraint(
            "merchant_id", "code", name=op.f("uq_mall_redemptions_merchant_id_code")
        ),
    )
    with op.batch_alter_table("mall_redemptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_mall_redemptions_member", ["merchant_id", "member_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_mall_redemptions_merchant_id"), ["merchant_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_mall_redemptions_reward_id"), ["reward_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("mall_redemptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mall_redemptions_reward_id"))
        batch_op.drop_index(batch_op.f("ix_mall_redemptions_merchant_id"))
        batch_op.drop_index("ix_mall_redemptions_member")

    op.drop_table("mall_redemptions")
    with op.batch_alter_table("mall_member_counts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mall_member_counts_merchant_id"))

    op.drop_table("mall_member_counts")
    with op.batch_alter_table("mall_rewards", schema=None) as batch_op:
        batch_op.drop_index("ix_mall_rewards_shelf")
        batch_op.drop_index(batch_op.f("ix_mall_rewards_merchant_id"))

    op.drop_table("mall_rewards")
