"""merchant settings: contact, logo, business hours

The shop's settings an owner changes after `merchant create` (contact phone and email,
logo, business hours), and the indexes the operator's lists need: members by id within a
merchant, platform accounts by external id (imports match existing members by it), orders
by status and time.

Revision ID: e2f3a4b5c6d7
Revises: d1e2f3a4b5c6
Create Date: 2026-12-07 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e2f3a4b5c6d7"
down_revision: str | None = "d1e2f3a4b5c6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_phone", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("contact_email", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("logo_url", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("business_hours", sa.JSON(), nullable=True))

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_index("ix_members_merchant_id_id", ["merchant_id", "id"], unique=False)

    with op.batch_alter_table("platform_accounts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_platform_accounts_openid", ["merchant_id", "openid"], unique=False
        )

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_orders_merchant_status_created",
            ["merchant_id", "status", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_merchant_status_created")

    with op.batch_alter_table("platform_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_platform_accounts_openid")

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index("ix_members_merchant_id_id")

    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.drop_column("business_hours")
        batch_op.drop_column("logo_url")
        batch_op.drop_column("contact_email")
        batch_op.drop_column("contact_phone")
