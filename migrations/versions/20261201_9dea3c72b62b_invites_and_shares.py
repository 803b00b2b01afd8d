"""invites (rules, qualifications, rewards) and share tracking (codes, visits)

Revision ID: 9dea3c72b62b
Revises: 86b758a2074f
Create Date: 2026-12-01 18:35:25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import growthloop.core.models

revision: str = "9dea3c72b62b"
down_revision: str | None = "86b758a2074f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "invite_qualifications",
        sa.Column("rule_id", sa.String(length=26), nullable=False),
        sa.Column("invitee_id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("inviter_id", sa.String(length=26), nullable=False),
        sa.Column(
            "qualified_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.PrimaryKeyConstraint("rule_id", "invitee_id", name=op.f("pk_invite_qualifications")),
    )
    with op.batch_alter_table("invite_qualifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_invite_qualifications_inviter", ["rule_id", "inviter_id"], unique=False
        )

    op.create_table(
        "invite_rewards",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("rule_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("coupon_id", sa.String(length=26), nullable=True),
        sa.Column("points", sa.Integer(), nullable=True),
        sa.Column("skipped", sa.String(length=64), nullable=True),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite_rewards")),
        sa.UniqueConstraint("key", name=op.f("uq_invite_rewards_key")),
    )
    with op.batch_alter_table("invite_rewards", schema=None) as batch_op:
        batch_op.create_index(
            "ix_invite_rewards_member", ["merchant_id", "member_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_invite_rewards_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "invite_rules",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("invites_needed", sa.Integer(), nullable=False),
        sa.Column("repeat", sa.Boolean(), nullable=False),
        sa.Column("inviter_template_id", sa.String(length=26), nullable=True),
        sa.Column("inviter_points", sa.Integer(), nullable=True),
        sa.Column("invitee_template_id", sa.String(length=26), nullable=True),
        sa.Column("invitee_points", sa.Integer(), nullable=True),
        sa.Column("starts_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "ended_early_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "trigger IN ('registration', 'first_order')", name=op.f("ck_invite_rules_trigger")
        ),
        sa.CheckConstraint("invites_needed >= 1", name=op.f("ck_invite_rules_invites_needed")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invite_rules")),
    )
    with op.batch_alter_table("invite_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invite_rules_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "share_codes",
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=False),
        sa.Column("target_type", sa.String(length=24), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_share_codes")),
        sa.UniqueConstraint(
            "merchant_id",
            "member_id",
            "target_type",
            "target_id",
            "channel",
            name=op.f("uq_share_codes_merchant_id_member_id_target_type_target_id_channel"),
        ),
    )
    with op.batch_alter_table("share_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_share_codes_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "share_visits",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("code", sa.String(length=12), nullable=False),
        sa.Column("sharer_id", sa.String(length=26), nullable=False),
        sa.Column("visitor_member_id", sa.String(length=26), nullable=True),
        sa.Column("anonymous_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=26), nullable=True),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_share_visits")),
        sa.UniqueConstraint("code", "kind", "ref", name=op.f("uq_share_visits_code_kind_ref")),
    )
    with op.batch_alter_table("share_visits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_share_visits_code"), ["code"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_share_visits_merchant_id"), ["merchant_id"], unique=False
        )
        batch_op.create_index(
            "ix_share_visits_visitor",
            ["merchant_id", "visitor_member_id", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("share_visits", schema=None) as batch_op:
        batch_op.drop_index("ix_share_visits_visitor")
        batch_op.drop_index(batch_op.f("ix_share_visits_merchant_id"))
        batch_op.drop_index(batch_op.f("ix_share_visits_code"))

    op.drop_table("share_visits")
    with op.batch_alter_table("share_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_share_codes_merchant_id"))

    op.drop_table("share_codes")
    with op.batch_alter_table("invite_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invite_rules_merchant_id"))

    op.drop_table("invite_rules")
    with op.batch_alter_table("invite_rewards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invite_rewards_merchant_id"))
        batch_op.drop_index("ix_invite_rewards_member")

    op.drop_table("invite_rewards")
    with op.batch_alter_table("invite_qualifications", schema=None) as batch_op:
        batch_op.drop_index("ix_invite_qualifications_inviter")

    op.drop_table("invite_qualifications")
