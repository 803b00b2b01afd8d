"""coupons: keyed grants, automatic issuance, stacking with campaign prices; orders: campaign
prices

Plain ADD/DROP COLUMN and CREATE/DROP INDEX, no batch: on SQLite a batch rebuilds the table,
and rebuilding `coupon_templates` or `orders` (referenced by coupons and order_items) fails
once they hold rows. The NOT NULL columns keep their server defaults for the same reason.

Revision ID: 9c594835f7c3
Revises: 7fa2a621f471
Create Date: 2026-11-22 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "9c594835f7c3"
down_revision: str | None = "7fa2a621f471"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "coupon_templates",
        sa.Column("stacks_with_campaigns", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("coupon_templates", sa.Column("auto_issue", sa.String(length=16), nullable=True))
    op.add_column(
        "coupon_templates",
        sa.Column("auto_issue_tiers", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )
    op.create_index(
        "ix_coupon_templates_auto_issue", "coupon_templates", ["merchant_id", "auto_issue"]
    )
    op.add_column("coupons", sa.Column("issue_key", sa.String(length=128), nullable=True))
    op.create_index("uq_coupons_issue_key", "coupons", ["merchant_id", "issue_key"], unique=True)
    op.add_column(
        "orders",
        sa.Column(
            "campaign_discount", sa.BigInteger(), nullable=False, server_default=sa.text("0")
        ),
    )
    op.add_column("order_items", sa.Column("campaign_kind", sa.String(length=16), nullable=True))
    op.add_column("order_items", sa.Column("regular_unit_price", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("order_items", "regular_unit_price")
    op.drop_column("order_items", "campaign_kind")
    op.drop_column("orders", "campaign_discount")
    op.drop_index("uq_coupons_issue_key", table_name="coupons")
    op.drop_column("coupons", "issue_key")
    op.drop_index("ix_coupon_templates_auto_issue", table_name="coupon_templates")
    op.drop_column("coupon_templates", "auto_issue_tiers")
    op.drop_column("coupon_templates", "auto_issue")
    op.drop_column("coupon_templates", "stacks_with_campaigns")
