"""coupons: keyed grants, automatic issuance, stacking with campaign prices

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

AUTO_ISSUE = (
    "auto_issue IS NULL OR auto_issue IN ('registration', 'enrolment', 'birthday', 'tier_upgrade')"
)


def upgrade() -> None:
    with op.batch_alter_table("coupon_templates", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "stacks_with_campaigns", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
        batch_op.add_column(sa.Column("auto_issue", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("auto_issue_tiers", sa.JSON(), nullable=False, server_default="[]")
        )
        batch_op.create_index(
            "ix_coupon_templates_auto_issue", ["merchant_id", "auto_issue"], unique=False
        )
        batch_op.create_check_constraint(batch_op.f("ck_coupon_templates_auto_issue"), AUTO_ISSUE)
    # The defaults only fill the existing rows; the models set every value.
    with op.batch_alter_table("coupon_templates", schema=None) as batch_op:
        batch_op.alter_column("stacks_with_campaigns", server_default=None)
        batch_op.alter_column("auto_issue_tiers", server_default=None)
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.add_column(sa.Column("issue_key", sa.String(length=128), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f("uq_coupons_merchant_id_issue_key"), ["merchant_id", "issue_key"]
        )


def downgrade() -> None:
    with op.batch_alter_table("coupons", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_coupons_merchant_id_issue_key"), type_="unique")
        batch_op.drop_column("issue_key")
    with op.batch_alter_table("coupon_templates", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_coupon_templates_auto_issue"), type_="check")
        batch_op.drop_index("ix_coupon_templates_auto_issue")
        batch_op.drop_column("auto_issue_tiers")
        batch_op.drop_column("auto_issue")
        batch_op.drop_column("stacks_with_campaigns")
