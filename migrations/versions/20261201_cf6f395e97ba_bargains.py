"""bargains: campaigns, members' instances, helps and helpers' days

Revision ID: cf6f395e97ba
Revises: afe23453b263
Create Date: 2026-12-01 18:21:46
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import growthloop.core.models

revision: str = "cf6f395e97ba"
down_revision: str | None = "afe23453b263"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bargain_help_days",
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("helps", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "merchant_id", "member_id", "day", name=op.f("pk_bargain_help_days")
        ),
    )
    op.create_table(
        "bargain_helps",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("instance_id", sa.String(length=26), nullable=False),
        sa.Column("helper_member_id", sa.String(length=26), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("cut", sa.Integer(), nullable=False),
        sa.Column("price_after", sa.Integer(), nullable=False),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("cut >= 1", name=op.f("ck_bargain_helps_cut")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bargain_helps")),
        sa.UniqueConstraint(
            "instance_id",
            "helper_member_id",
            name=op.f("uq_bargain_helps_instance_id_helper_member_id"),
        ),
        sa.UniqueConstraint("instance_id", "seq", name=op.f("uq_bargain_helps_instance_id_seq")),
    )
    with op.batch_alter_table("bargain_helps", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bargain_helps_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "bargain_instances",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("bargain_id", sa.String(length=26), nullable=False),
        sa.Column("owner_member_id", sa.String(length=26), nullable=False),
        sa.Column("original_price", sa.Integer(), nullable=False),
        sa.Column("floor_price", sa.Integer(), nullable=False),
        sa.Column("helpers_needed", sa.Integer(), nullable=False),
        sa.Column("current_price", sa.Integer(), nullable=False),
        sa.Column("helps", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("order_id", sa.String(length=26), nullable=True),
        sa.Column("expires_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("purchased_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'floor_reached', 'purchased')",
            name=op.f("ck_bargain_instances_status"),
        ),
        sa.CheckConstraint(
            "current_price >= floor_price", name=op.f("ck_bargain_instances_not_below_floor")
        ),
        sa.CheckConstraint(
            "helps >= 0 AND helps <= helpers_needed", name=op.f("ck_bargain_instances_helps")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bargain_instances")),
    )
    with op.batch_alter_table("bargain_instances", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bargain_instances_merchant_id"), ["merchant_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_bargain_instances_order_id"), ["order_id"], unique=False
        )
        batch_op.create_index(
            "ix_bargain_instances_owner", ["bargain_id", "owner_member_id"], unique=False
        )

    op.create_table(
        "bargains",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("product_id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("original_price", sa.Integer(), nullable=False),
        sa.Column("floor_price", sa.Integer(), nullable=False),
        sa.Column("helpers_needed", sa.Integer(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("helps_per_day", sa.Integer(), nullable=False),
        sa.Column("starts_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "ended_early_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "floor_price >= 1 AND original_price - floor_price >= helpers_needed",
            name=op.f("ck_bargains_prices"),
        ),
        sa.CheckConstraint(
            "helpers_needed >= 1 AND helps_per_day >= 1", name=op.f("ck_bargains_counts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bargains")),
    )
    with op.batch_alter_table("bargains", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bargains_merchant_id"), ["merchant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bargains", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bargains_merchant_id"))

    op.drop_table("bargains")
    with op.batch_alter_table("bargain_instances", schema=None) as batch_op:
        batch_op.drop_index("ix_bargain_instances_owner")
        batch_op.drop_index(batch_op.f("ix_bargain_instances_order_id"))
        batch_op.drop_index(batch_op.f("ix_bargain_instances_merchant_id"))

    op.drop_table("bargain_instances")
    with op.batch_alter_table("bargain_helps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bargain_helps_merchant_id"))

    op.drop_table("bargain_helps")
    op.drop_table("bargain_help_days")
