"""orders carry their group buy

Order lines name the campaign's instance they belong to (`order_items.campaign_ref`: the
group of a group buy, the bargain instance of a bargain), and a group member who gave their
seat back while the group was forming says so (`group_members.left_at`).

Revision ID: f3a4b5c6d7e8
Revises: e2f3a4b5c6d7
Create Date: 2026-12-07 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import growthloop.core.models

revision: str = "f3a4b5c6d7e8"
down_revision: str | None = "e2f3a4b5c6d7"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("order_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("campaign_ref", sa.String(length=26), nullable=True))
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("left_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True)
        )

    # Orders already placed: each group-buy line names the group its member is in now, each
    # bargain line the instance that bought it.
    op.execute(
        """
        UPDATE order_items SET campaign_ref = (
            SELECT gm.group_id FROM group_members gm WHERE gm.order_id = order_items.order_id
        )
        WHERE campaign_kind = 'group_buy' AND campaign_ref IS NULL
        """
    )
    op.execute(
        """
        UPDATE order_items SET campaign_ref = (
            SELECT MIN(bi.id) FROM bargain_instances bi
            WHERE bi.order_id = order_items.order_id AND bi.bargain_id = order_items.campaign_id
        )
        WHERE campaign_kind = 'bargain' AND campaign_ref IS NULL
        """
    )
    # A refunded member whose order was refunded while the group was still forming (the group
    # is forming still, or it finished after that refund) had given their seat back: they
    # left then. The others, refunded when the group failed or after it finished, keep theirs.
    op.execute(
        """
        UPDATE group_members SET left_at = (
            SELECT o.refunded_at FROM orders o WHERE o.id = group_members.order_id
        )
        WHERE status = 'refunded' AND paid_at IS NOT NULL AND left_at IS NULL
          AND EXISTS (
            SELECT 1 FROM orders o, buy_groups g
            WHERE o.id = group_members.order_id AND g.id = group_members.group_id
              AND o.refunded_at IS NOT NULL
              AND (g.status = 'forming' OR o.refunded_at < COALESCE(g.succeeded_at, g.failed_at))
          )
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("group_members", schema=None) as batch_op:
        batch_op.drop_column("left_at")
    with op.batch_alter_table("order_items", schema=None) as batch_op:
        batch_op.drop_column("campaign_ref")
