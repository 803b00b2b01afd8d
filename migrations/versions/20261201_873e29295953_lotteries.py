"""lotteries: prize pools with stock, members' draws, their days and wins

Revision ID: 873e29295953
Revises: cf6f395e97ba
Create Date: 2026-12-01 18:48:15
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import growthloop.core.models

revision: str = "873e29295953"
down_revision: str | None = "cf6f395e97ba"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lotteries",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("rules", sa.String(length=1000), nullable=True),
        sa.Column("starts_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cost_points", sa.Integer(), nullable=False),
        sa.Column("free_draws_per_day", sa.Integer(), nullable=False),
        sa.Column("max_draws_per_day", sa.Integer(), nullable=True),
        sa.Column("max_wins_per_member", sa.Integer(), nullable=True),
        sa.Column("voucher_valid_days", sa.Integer(), nullable=False),
        sa.Column(
            "ended_early_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "cost_points >= 0 AND free_draws_per_day >= 0 AND (cost_points > 0 OR free_draws_per_day > 0)",
            name=op.f("ck_lotteries_draw_terms"),
        ),
        sa.CheckConstraint(
            "max_draws_per_day IS NULL OR max_draws_per_day >= 1",
            name=op.f("ck_lotteries_max_draws_per_day"),
        ),
        sa.CheckConstraint(
            "max_wins_per_member IS NULL OR max_wins_per_member >= 1",
            name=op.f("ck_lotteries_max_wins_per_member"),
        ),
        sa.CheckConstraint("voucher_valid_days >= 1", name=op.f("ck_lotteries_voucher_valid_days")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lotteries")),
    )
    with op.batch_alter_table("lotteries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lotteries_merchant_id"), ["merchant_id"], unique=False)

    op.create_table(
        "lottery_draw_days",
        sa.Column("lottery_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("draw_day", sa.Date(), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("draws", sa.Integer(), nullable=False),
        sa.Column("free_draws", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "draws >= 1 AND free_draws >= 0 AND free_draws <= draws",
            name=op.f("ck_lottery_draw_days_counts"),
        ),
        sa.ForeignKeyConstraint(
            ["lottery_id"], ["lotteries.id"], name=op.f("fk_lottery_draw_days_lottery_id_lotteries")
        ),
        sa.PrimaryKeyConstraint(
            "lottery_id", "member_id", "draw_day", name=op.f("pk_lottery_draw_days")
        ),
    )
    with op.batch_alter_table("lottery_draw_days", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lottery_draw_days_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "lottery_members",
        sa.Column("lottery_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("draws", sa.Integer(), nullable=False),
        sa.Column("wins", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "draws >= 1 AND wins >= 0 AND wins <= draws", name=op.f("ck_lottery_members_counts")
        ),
        sa.ForeignKeyConstraint(
            ["lottery_id"], ["lotteries.id"], name=op.f("fk_lottery_members_lottery_id_lotteries")
        ),
        sa.PrimaryKeyConstraint("lottery_id", "member_id", name=op.f("pk_lottery_members")),
    )
    with op.batch_alter_table("lottery_members", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lottery_members_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "lottery_prizes",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("lottery_id", sa.String(length=26), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("weight", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column("given", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.String(length=26), nullable=True),
        sa.Column("points", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.String(length=26), nullable=True),
        sa.CheckConstraint(
            "(kind = 'coupon') = (template_id IS NOT NULL)",
            name=op.f("ck_lottery_prizes_coupon_template"),
        ),
        sa.CheckConstraint(
            "(kind = 'none') = (stock IS NULL)", name=op.f("ck_lottery_prizes_stock_unless_none")
        ),
        sa.CheckConstraint(
            "(kind = 'points') = (points IS NOT NULL AND points >= 1)",
            name=op.f("ck_lottery_prizes_points"),
        ),
        sa.CheckConstraint(
            "(kind = 'product') = (product_id IS NOT NULL)", name=op.f("ck_lottery_prizes_product")
        ),
        sa.CheckConstraint(
            "kind IN ('coupon', 'points', 'product', 'none')", name=op.f("ck_lottery_prizes_kind")
        ),
        sa.CheckConstraint(
            "given >= 0 AND (stock IS NULL OR given <= stock)",
            name=op.f("ck_lottery_prizes_not_overdrawn"),
        ),
        sa.CheckConstraint("weight >= 1", name=op.f("ck_lottery_prizes_weight")),
        sa.ForeignKeyConstraint(
            ["lottery_id"], ["lotteries.id"], name=op.f("fk_lottery_prizes_lottery_id_lotteries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_prizes")),
        sa.UniqueConstraint("lottery_id", "seq", name=op.f("uq_lottery_prizes_lottery_id_seq")),
    )
    with op.batch_alter_table("lottery_prizes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lottery_prizes_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "lottery_draws",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("lottery_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("prize_id", sa.String(length=26), nullable=False),
        sa.Column("prize_kind", sa.String(length=16), nullable=False),
        sa.Column("prize_name", sa.String(length=50), nullable=False),
        sa.Column("free_draw", sa.Boolean(), nullable=False),
        sa.Column("paid_points", sa.Integer(), nullable=False),
        sa.Column("draw_day", sa.Date(), nullable=False),
        sa.Column("coupon_id", sa.String(length=26), nullable=True),
        sa.Column("points", sa.Integer(), nullable=True),
        sa.Column("product_id", sa.String(length=26), nullable=True),
        sa.Column("voucher_code", sa.String(length=16), nullable=True),
        sa.Column(
            "voucher_expires_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "voucher_redeemed_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "paid_points >= 0 AND (free_draw = (paid_points = 0))",
            name=op.f("ck_lottery_draws_paid_unless_free"),
        ),
        sa.ForeignKeyConstraint(
            ["lottery_id"], ["lotteries.id"], name=op.f("fk_lottery_draws_lottery_id_lotteries")
        ),
        sa.ForeignKeyConstraint(
            ["prize_id"],
            ["lottery_prizes.id"],
            name=op.f("fk_lottery_draws_prize_id_lottery_prizes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lottery_draws")),
        sa.UniqueConstraint(
            "merchant_id", "voucher_code", name=op.f("uq_lottery_draws_merchant_id_voucher_code")
        ),
    )
    with op.batch_alter_table("lottery_draws", schema=None) as batch_op:
        batch_op.create_index("ix_lottery_draws_lottery", ["lottery_id", "id"], unique=False)
        batch_op.create_index(
            "ix_lottery_draws_member", ["merchant_id", "member_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_lottery_draws_merchant_id"), ["merchant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("lottery_draws", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lottery_draws_merchant_id"))
        batch_op.drop_index("ix_lottery_draws_member")
        batch_op.drop_index("ix_lottery_draws_lottery")

    op.drop_table("lottery_draws")
    with op.batch_alter_table("lottery_prizes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lottery_prizes_merchant_id"))

    op.drop_table("lottery_prizes")
    with op.batch_alter_table("lottery_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lottery_members_merchant_id"))

    op.drop_table("lottery_members")
    with op.batch_alter_table("lottery_draw_days", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lottery_draw_days_merchant_id"))

    op.drop_table("lottery_draw_days")
    with op.batch_alter_table("lotteries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lotteries_merchant_id"))

    op.drop_table("lotteries")
