"""flash sales, campaign stock pools, order items' campaign and stock source

Revision ID: 6252484dd81d
Revises: 28e05f866646, 5d0c8e1a7b93, 744f69ca9845, 9c594835f7c3, b3c1d9e4a2f0
Create Date: 2026-12-01 18:01:42
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import growthloop.core.models

revision: str = "6252484dd81d"
down_revision: str | None = (
    "28e05f866646",
    "5d0c8e1a7b93",
    "744f69ca9845",
    "9c594835f7c3",
    "b3c1d9e4a2f0",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "flash_sale_purchases",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("flash_sale_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("order_id", sa.String(length=26), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("released_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('held', 'paid', 'released')", name=op.f("ck_flash_sale_purchases_status")
        ),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_flash_sale_purchases_quantity")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flash_sale_purchases")),
        sa.UniqueConstraint("order_id", name=op.f("uq_flash_sale_purchases_order_id")),
    )
    with op.batch_alter_table("flash_sale_purchases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_flash_sale_purchases_member", ["merchant_id", "member_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_flash_sale_purchases_merchant_id"), ["merchant_id"], unique=False
        )
        batch_op.create_index(
            "ix_flash_sale_purchases_sale", ["flash_sale_id", "status", "member_id"], unique=False
        )

    op.create_table(
        "flash_sales",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("product_id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("per_member_limit", sa.Integer(), nullable=False),
        sa.Column("per_order_limit", sa.Integer(), nullable=True),
        sa.Column("starts_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("slots", sa.JSON(), nullable=True),
        sa.Column(
            "ended_early_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("closed_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("returned_units", sa.Integer(), nullable=False),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_flash_sales_window")),
        sa.CheckConstraint(
            "price >= 1 AND stock >= 1 AND per_member_limit >= 1",
            name=op.f("ck_flash_sales_amounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flash_sales")),
    )
    with op.batch_alter_table("flash_sales", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_flash_sales_closed_at"), ["closed_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_flash_sales_merchant_id"), ["merchant_id"], unique=False
        )
        batch_op.create_index(
            "ix_flash_sales_merchant_starts", ["merchant_id", "starts_at"], unique=False
        )

    op.create_table(
        "stock_pool_holders",
        sa.Column("pool", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=26), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.CheckConstraint("units >= 0", name=op.f("ck_stock_pool_holders_units")),
        sa.PrimaryKeyConstraint("pool", "holder", name=op.f("pk_stock_pool_holders")),
    )
    op.create_table(
        "stock_pools",
        sa.Column("pool", sa.String(length=64), nullable=False),
        sa.Column("units_left", sa.Integer(), nullable=False),
        sa.CheckConstraint("units_left >= 0", name=op.f("ck_stock_pools_not_oversold")),
        sa.PrimaryKeyConstraint("pool", name=op.f("pk_stock_pools")),
    )
    # Columns only (ALTER TABLE ADD COLUMN): order_items is never rebuilt on SQLite.
    with op.batch_alter_table("order_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_id", sa.String(length=26), nullable=True))
        batch_op.add_column(
            sa.Column(
                "stock_source",
                sa.String(length=16),
                server_default=sa.text("'product'"),
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("order_items", schema=None) as batch_op:
        batch_op.drop_column("stock_source")
        batch_op.drop_column("campaign_id")

    op.drop_table("stock_pools")
    op.drop_table("stock_pool_holders")
    with op.batch_alter_table("flash_sales", schema=None) as batch_op:
        batch_op.drop_index("ix_flash_sales_merchant_starts")
        batch_op.drop_index(batch_op.f("ix_flash_sales_merchant_id"))
        batch_op.drop_index(batch_op.f("ix_flash_sales_closed_at"))

    op.drop_table("flash_sales")
    with op.batch_alter_table("flash_sale_purchases", schema=None) as batch_op:
        batch_op.drop_index("ix_flash_sale_purchases_sale")
        batch_op.drop_index(batch_op.f("ix_flash_sale_purchases_merchant_id"))
        batch_op.drop_index("ix_flash_sale_purchases_member")

    op.drop_table("flash_sale_purchases")
