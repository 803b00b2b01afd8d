"""referrals birthdays consents

Members: the birthday's month-day (indexed for the birthday sweep) and an index on the
inviter; the years a member's birthday was celebrated; the consent ledger and the
current consent state per member and purpose.

Revision ID: 744f69ca9845
Revises: 7fa2a621f471
Create Date: 2026-11-22 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import growthloop.core.models

revision: str = "744f69ca9845"
down_revision: str | None = "7fa2a621f471"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("birthday_month_day", sa.SmallInteger(), nullable=True))
        batch_op.create_index(
            "ix_members_birthday", ["birthday_month_day", "merchant_id"], unique=False
        )
        batch_op.create_index(
            "ix_members_referred_by", ["merchant_id", "referred_by"], unique=False
        )
    # Birthdays set before this revision (none through the API) get their month-day.
    op.execute(
        sa.text(
            "UPDATE members SET birthday_month_day = "
            "CAST(EXTRACT(MONTH FROM birthday) AS INTEGER) * 100 "
            "+ CAST(EXTRACT(DAY FROM birthday) AS INTEGER) "
            "WHERE birthday IS NOT NULL"
        )
        if op.get_bind().dialect.name == "postgresql"
        else sa.text(
            "UPDATE members SET birthday_month_day = "
            "CAST(strftime('%m', birthday) AS INTEGER) * 100 "
            "+ CAST(strftime('%d', birthday) AS INTEGER) "
            "WHERE birthday IS NOT NULL"
        )
    )

    op.create_table(
        "birthday_celebrations",
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_birthday_celebrations_member_id_members")
        ),
        sa.PrimaryKeyConstraint(
            "merchant_id", "member_id", "year", name=op.f("pk_birthday_celebrations")
        ),
    )

    op.create_table(
        "consent_ledger",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("policy_version", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_ledger")),
    )
    with op.batch_alter_table("consent_ledger", schema=None) as batch_op:
        batch_op.create_index("ix_consent_ledger_member", ["member_id", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_consent_ledger_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "consent_states",
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("policy_version", sa.String(length=32), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=True),
        sa.Column("record_id", sa.String(length=26), nullable=False),
        sa.Column("updated_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "merchant_id", "member_id", "purpose", name=op.f("pk_consent_states")
        ),
    )


def downgrade() -> None:
    op.drop_table("consent_states")
    with op.batch_alter_table("consent_ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_ledger_merchant_id"))
        batch_op.drop_index("ix_consent_ledger_member")
    op.drop_table("consent_ledger")
    op.drop_table("birthday_celebrations")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index("ix_members_referred_by")
        batch_op.drop_index("ix_members_birthday")
        batch_op.drop_column("birthday_month_day")
