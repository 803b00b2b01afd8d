"""coupon templates say how they are obtained (claimable or granted only)

`obtain` is `claim` (the coupon centre) or `grant` (given by the programme only). Existing
templates that the programme gives are marked `grant`: those issued automatically and
those a points-mall reward, a lottery prize or an invite rule gives; the others stay
claimable, as they were.

Plain ADD/DROP COLUMN, no batch (as in 9c594835f7c3): on SQLite a batch rebuilds the
table, and rebuilding `coupon_templates`, which coupons reference, fails once it holds
rows. The NOT NULL column keeps its server default for the same reason.

Revision ID: c0a1b2d3e4f5
Revises: 7ca440538f48, 9dea3c72b62b
Create Date: 2026-12-07 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c0a1b2d3e4f5"
down_revision: str | tuple[str, ...] | None = ("7ca440538f48", "9dea3c72b62b")  # after invites too
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRANTED = """
UPDATE coupon_templates SET obtain = 'grant'
WHERE auto_issue IS NOT NULL
   OR id IN (SELECT template_id FROM mall_rewards WHERE template_id IS NOT NULL)
   OR id IN (SELECT template_id FROM lottery_prizes WHERE template_id IS NOT NULL)
   OR id IN (SELECT inviter_template_id FROM invite_rules WHERE inviter_template_id IS NOT NULL)
   OR id IN (SELECT invitee_template_id FROM invite_rules WHERE invitee_template_id IS NOT NULL)
"""


def upgrade() -> None:
    op.add_column(
        "coupon_templates",
        sa.Column("obtain", sa.String(length=8), nullable=False, server_default="claim"),
    )
    op.execute(GRANTED)


def downgrade() -> None:
    op.drop_column("coupon_templates", "obtain")
