"""alliance points: partnerships, exchanges, daily caps, settlement ledger

Revision ID: 28e05f866646
Revises: 7fa2a621f471
Create Date: 2026-11-22 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import growthloop.core.models

revision: str = "28e05f866646"
down_revision: str | None = "7fa2a621f471"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alliance_partnerships",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("partner_merchant_id", sa.String(length=26), nullable=False),
        sa.Column("open_pair", sa.String(length=53), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("partner_points", sa.Integer(), nullable=False),
        sa.Column("daily_cap", sa.BigInteger(), nullable=False),
        sa.Column("member_daily_cap", sa.BigInteger(), nullable=True),
        sa.Column("price_fen", sa.Integer(), nullable=False),
        sa.Column("price_points", sa.Integer(), nullable=False),
        sa.Column("proposed_by", sa.String(length=26), nullable=False),
        sa.Column("suspended_by", sa.String(length=26), nullable=True),
        sa.Column("accepted_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alliance_partnerships")),
        sa.UniqueConstraint("open_pair", name=op.f("uq_alliance_partnerships_open_pair")),
    )
    with op.batch_alter_table("alliance_partnerships", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alliance_partnerships_merchant_id"), ["merchant_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_alliance_partnerships_partner_merchant_id"),
            ["partner_merchant_id"],
            unique=False,
        )

    op.create_table(
        "alliance_daily_usage",
        sa.Column("partnership_id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partnership_id"],
            ["alliance_partnerships.id"],
            name=op.f("fk_alliance_daily_usage_partnership_id_alliance_partnerships"),
        ),
        sa.PrimaryKeyConstraint(
            "partnership_id", "merchant_id", "day", name=op.f("pk_alliance_daily_usage")
        ),
    )
    op.create_table(
        "alliance_exchanges",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("partnership_id", sa.String(length=26), nullable=False),
        sa.Column("target_merchant_id", sa.String(length=26), nullable=False),
        sa.Column("target_member_id", sa.String(length=26), nullable=False),
        sa.Column("points_out", sa.BigInteger(), nullable=False),
        sa.Column("points_in", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["partnership_id"],
            ["alliance_partnerships.id"],
            name=op.f("fk_alliance_exchanges_partnership_id_alliance_partnerships"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alliance_exchanges")),
    )
    with op.batch_alter_table("alliance_exchanges", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alliance_exchanges_member", ["merchant_id", "member_id", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_alliance_exchanges_merchant_id"), ["merchant_id"], unique=False
        )
        batch_op.create_index(
            "ix_alliance_exchanges_partnership", ["partnership_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_alliance_exchanges_target",
            ["target_merchant_id", "target_member_id", "id"],
            unique=False,
        )

    op.create_table(
        "alliance_member_daily_usage",
        sa.Column("partnership_id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["partnership_id"],
            ["alliance_partnerships.id"],
            name=op.f("fk_alliance_member_daily_usage_partnership_id_alliance_partnerships"),
        ),
        sa.PrimaryKeyConstraint(
            "partnership_id",
            "merchant_id",
            "member_id",
            "day",
            name=op.f("pk_alliance_member_daily_usage"),
        ),
    )
    op.create_table(
        "alliance_settlements",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("payee_merchant_id", sa.String(length=26), nullable=False),
        sa.Column("partnership_id", sa.String(length=26), nullable=False),
        sa.Column("exchange_id", sa.String(length=26), nullable=False),
        sa.Column("points_out", sa.BigInteger(), nullable=False),
        sa.Column("points_in", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["alliance_exchanges.id"],
            name=op.f("fk_alliance_settlements_exchange_id_alliance_exchanges"),
        ),
        sa.ForeignKeyConstraint(
            ["partnership_id"],
            ["alliance_partnerships.id"],
            name=op.f("fk_alliance_settlements_partnership_id_alliance_partnerships"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alliance_settlements")),
        sa.UniqueConstraint("exchange_id", name=op.f("uq_alliance_settlements_exchange_id")),
    )
    with op.batch_alter_table("alliance_settlements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alliance_settlements_merchant_id"), ["merchant_id"], unique=False
        )
        batch_op.create_index(
            "ix_alliance_settlements_partnership", ["partnership_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("alliance_settlements", schema=None) as batch_op:
        batch_op.drop_index("ix_alliance_settlements_partnership")
        batch_op.drop_index(batch_op.f("ix_alliance_settlements_merchant_id"))

    op.drop_table("alliance_settlements")
    op.drop_table("alliance_member_daily_usage")
    with op.batch_alter_table("alliance_exchanges", schema=None) as batch_op:
        batch_op.drop_index("ix_alliance_exchanges_target")
        batch_op.drop_index("ix_alliance_exchanges_partnership")
        batch_op.drop_index(batch_op.f("ix_alliance_exchanges_merchant_id"))
        batch_op.drop_index("ix_alliance_exchanges_member")

    op.drop_table("alliance_exchanges")
    op.drop_table("alliance_daily_usage")
    with op.batch_alter_table("alliance_partnerships", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alliance_partnerships_partner_merchant_id"))
        batch_op.drop_index(batch_op.f("ix_alliance_partnerships_merchant_id"))

    op.drop_table("alliance_partnerships")
