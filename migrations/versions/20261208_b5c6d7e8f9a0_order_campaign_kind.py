"""orders name the campaign they were placed through

`orders.campaign_kind` is the kind of the order's first campaign line (flash_sale,
group_buy, bargain), empty at regular prices: the campaigns' handlers of an order's
payment, cancellation and refund skip the orders of no campaign without a query.

Revision ID: b5c6d7e8f9a0
Revises: a4b5c6d7e8f9
Create Date: 2026-12-08 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b5c6d7e8f9a0"
down_revision: str | None = "a4b5c6d7e8f9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A nullable column without a default: SQLite adds it in place (no table rebuild).
    op.add_column("orders", sa.Column("campaign_kind", sa.String(length=16), nullable=True))
    # Orders already placed (a pending flash-sale order paid after the upgrade must still
    # reach the flash sale's handler).
    op.execute(
        """
        UPDATE orders SET campaign_kind = (
            SELECT MIN(oi.campaign_kind) FROM order_items oi
            WHERE oi.order_id = orders.id AND oi.campaign_kind IS NOT NULL
        )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("campaign_kind")
