"""group buys: campaigns, their groups (buy_groups) and the members in them

Revision ID: afe23453b263
Revises: 6252484dd81d
Create Date: 2026-12-01 18:16:39
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import growthloop.core.models

revision: str = "afe23453b263"
down_revision: str | None = "6252484dd81d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "group_buys",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("product_id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("group_price", sa.Integer(), nullable=False),
        sa.Column("group_size", sa.Integer(), nullable=False),
        sa.Column("duration_minutes", sa.Integer(), nullable=False),
        sa.Column("starts_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("overflow", sa.String(length=16), nullable=False),
        sa.Column("auto_succeed_min", sa.Integer(), nullable=True),
        sa.Column(
            "ended_early_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "overflow IN ('new_group', 'refund')", name=op.f("ck_group_buys_overflow")
        ),
        sa.CheckConstraint(
            "auto_succeed_min IS NULL OR (auto_succeed_min >= 1 AND auto_succeed_min < group_size)",
            name=op.f("ck_group_buys_auto_succeed_min"),
        ),
        sa.CheckConstraint(
            "group_price >= 1 AND group_size >= 2", name=op.f("ck_group_buys_amounts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_buys")),
    )
    with op.batch_alter_table("group_buys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_group_buys_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "group_members",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("group_buy_id", sa.String(length=26), nullable=False),
        sa.Column("group_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("order_id", sa.String(length=26), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("joined_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'paid', 'cancelled', 'refunded')",
            name=op.f("ck_group_members_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_group_members")),
        sa.UniqueConstraint(
            "group_id", "member_id", name=op.f("uq_group_members_group_id_member_id")
        ),
        sa.UniqueConstraint("order_id", name=op.f("uq_group_members_order_id")),
    )
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_group_members_group_id"), ["group_id"], unique=False)
        batch_op.create_index("ix_group_members_member", ["merchant_id", "member_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_group_members_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "buy_groups",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("group_buy_id", sa.String(length=26), nullable=False),
        sa.Column("leader_member_id", sa.String(length=26), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("paid_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("simulated", sa.Boolean(), nullable=False),
        sa.Column("expires_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("succeeded_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failed_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('forming', 'succeeded', 'failed')", name=op.f("ck_buy_groups_status")
        ),
        sa.CheckConstraint(
            "paid_count >= 0 AND paid_count <= size", name=op.f("ck_buy_groups_seats")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_buy_groups")),
    )
    with op.batch_alter_table("buy_groups", schema=None) as batch_op:
        batch_op.create_index("ix_buy_groups_due", ["status", "expires_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_buy_groups_merchant_id"), ["merchant_id"], unique=False
        )
        batch_op.create_index(
            "ix_buy_groups_square", ["group_buy_id", "status", "expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("buy_groups", schema=None) as batch_op:
        batch_op.drop_index("ix_buy_groups_square")
        batch_op.drop_index(batch_op.f("ix_buy_groups_merchant_id"))
        batch_op.drop_index("ix_buy_groups_due")

    op.drop_table("buy_groups")
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_members_merchant_id"))
        batch_op.drop_index("ix_group_members_member")
        batch_op.drop_index(batch_op.f("ix_group_members_group_id"))

    op.drop_table("group_members")
    with op.batch_alter_table("group_buys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_group_buys_merchant_id"))

    op.drop_table("group_buys")
