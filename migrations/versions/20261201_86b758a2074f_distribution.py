"""distribution: settings, promoter bindings, commissions, accounts, withdrawals

Revision ID: 86b758a2074f
Revises: cf6f395e97ba
Create Date: 2026-12-01 18:27:54
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import growthloop.core.models

revision: str = "86b758a2074f"
down_revision: str | None = "cf6f395e97ba"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "commission_withdrawals",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sa.String(length=26), nullable=True),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "status IN ('requested', 'approved', 'rejected')",
            name=op.f("ck_commission_withdrawals_status"),
        ),
        sa.CheckConstraint("amount >= 1", name=op.f("ck_commission_withdrawals_amount")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commission_withdrawals")),
    )
    with op.batch_alter_table("commission_withdrawals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_commission_withdrawals_member", ["merchant_id", "member_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_commission_withdrawals_merchant_id"), ["merchant_id"], unique=False
        )
        batch_op.create_index(
            "ix_commission_withdrawals_status", ["merchant_id", "status"], unique=False
        )

    op.create_table(
        "commissions",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("order_id", sa.String(length=26), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("promoter_id", sa.String(length=26), nullable=False),
        sa.Column("buyer_id", sa.String(length=26), nullable=False),
        sa.Column("base_amount", sa.BigInteger(), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("settle_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("settled_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('frozen', 'settled', 'cancelled')", name=op.f("ck_commissions_status")
        ),
        sa.CheckConstraint("amount >= 0 AND base_amount >= 0", name=op.f("ck_commissions_amounts")),
        sa.CheckConstraint("level IN (1, 2)", name=op.f("ck_commissions_level")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commissions")),
        sa.UniqueConstraint("order_id", "level", name=op.f("uq_commissions_order_id_level")),
    )
    with op.batch_alter_table("commissions", schema=None) as batch_op:
        batch_op.create_index("ix_commissions_due", ["status", "settle_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_commissions_merchant_id"), ["merchant_id"], unique=False
        )
        batch_op.create_index(
            "ix_commissions_promoter", ["merchant_id", "promoter_id", "status"], unique=False
        )

    op.create_table(
        "distribution_settings",
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("level1_percent", sa.Integer(), nullable=False),
        sa.Column("level2_percent", sa.Integer(), nullable=False),
        sa.Column("settle_days", sa.Integer(), nullable=False),
        sa.Column("binding_days", sa.Integer(), nullable=True),
        sa.Column("min_withdrawal", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", name=op.f("pk_distribution_settings")),
    )
    op.create_table(
        "promoter_accounts",
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("settled", sa.BigInteger(), nullable=False),
        sa.Column("withdrawn", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("withdrawn >= 0", name=op.f("ck_promoter_accounts_withdrawn")),
        sa.PrimaryKeyConstraint("merchant_id", "member_id", name=op.f("pk_promoter_accounts")),
    )
    op.create_table(
        "promoter_bindings",
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("promoter_id", sa.String(length=26), nullable=False),
        sa.Column("bound_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("merchant_id", "member_id", name=op.f("pk_promoter_bindings")),
    )
    with op.batch_alter_table("promoter_bindings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_promoter_bindings_promoter", ["merchant_id", "promoter_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("promoter_bindings", schema=None) as batch_op:
        batch_op.drop_index("ix_promoter_bindings_promoter")

    op.drop_table("promoter_bindings")
    op.drop_table("promoter_accounts")
    op.drop_table("distribution_settings")
    with op.batch_alter_table("commissions", schema=None) as batch_op:
        batch_op.drop_index("ix_commissions_promoter")
        batch_op.drop_index(batch_op.f("ix_commissions_merchant_id"))
        batch_op.drop_index("ix_commissions_due")

    op.drop_table("commissions")
    with op.batch_alter_table("commission_withdrawals", schema=None) as batch_op:
        batch_op.drop_index("ix_commission_withdrawals_status")
        batch_op.drop_index(batch_op.f("ix_commission_withdrawals_merchant_id"))
        batch_op.drop_index("ix_commission_withdrawals_member")

    op.drop_table("commission_withdrawals")
