"""analytics

Revision ID: eb9cad95c55c
Revises: 873e29295953
Create Date: 2026-12-01 20:35:28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import growthloop.core.models

revision: str = "eb9cad95c55c"
down_revision: str | None = "873e29295953"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_rules",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=True),
        sa.Column("deviation_percent", sa.Integer(), nullable=True),
        sa.Column("min_expected", sa.BigInteger(), nullable=False),
        sa.Column("webhook_url", sa.String(length=500), nullable=True),
        sa.Column("webhook_secret", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_rules")),
    )
    with op.batch_alter_table("alert_rules", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_rules_merchant_id"), ["merchant_id"], unique=False
        )

    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("rule_id", sa.String(length=26), nullable=False),
        sa.Column(
            "period_start", growthloop.core.models.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("expected", sa.JSON(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("fired_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("webhook_status", sa.String(length=16), nullable=False),
        sa.Column("webhook_attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("rule_id", "period_start", name=op.f("uq_alerts_rule_id_period_start")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_merchant_id"), ["merchant_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_alerts_next_attempt_at"), ["next_attempt_at"], unique=False
        )

    op.create_table(
        "analytics_identities",
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("distinct_id", sa.String(length=200), nullable=False),
        sa.Column("person_id", sa.String(length=200), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("platform_hint", sa.String(length=16), nullable=True),
        sa.Column("created_at", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("merchant_id", "distinct_id", name=op.f("pk_analytics_identities")),
    )
    with op.batch_alter_table("analytics_identities", schema=None) as batch_op:
        batch_op.create_index(
            "ix_analytics_identities_member", ["merchant_id", "member_id"], unique=False
        )
        batch_op.create_index(
            "ix_analytics_identities_person", ["merchant_id", "person_id"], unique=False
        )

    op.create_table(
        "analytics_outbox",
        sa.Column("id", sa.String(length=26), nullable=False),
        sa.Column("merchant_id", sa.String(length=26), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=26), nullable=True),
        sa.Column("time", growthloop.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("platform", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("share_code", sa.String(length=32), nullable=True),
        sa.Column("channel", sa.String(length=64), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("batch_key", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analytics_outbox")),
    )
    with op.batch_alter_table("analytics_outbox", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_analytics_outbox_batch_key"), ["batch_key"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_analytics_outbox_merchant_id"), ["merchant_id"], unique=False
        )

    # Members who signed up before analytics: their ids and platform ids stand for them.
    op.execute(
        "INSERT INTO analytics_identities (merchant_id, distinct_id, person_id, member_id, "
        "source, platform_hint, created_at) SELECT merchant_id, id, id, id, 'member', "
        "signup_platform, created_at FROM members WHERE status = 'active'"
    )
    op.execute(
        "INSERT INTO analytics_identities (merchant_id, distinct_id, person_id, member_id, "
        "source, created_at) SELECT p.merchant_id, p.openid, min(p.member_id), min(p.member_id), "
        "'member', min(p.created_at) FROM platform_accounts p JOIN members m ON m.id = p.member_id "
        "WHERE m.status = 'active' AND NOT EXISTS (SELECT 1 FROM analytics_identities a "
        "WHERE a.merchant_id = p.merchant_id AND a.distinct_id = p.openid) "
        "GROUP BY p.merchant_id, p.openid"
    )
    # ### end Alembic commands ###


def downgrade() -> None:
    with op.batch_alter_table("analytics_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_analytics_outbox_merchant_id"))
        batch_op.drop_index(batch_op.f("ix_analytics_outbox_batch_key"))

    op.drop_table("analytics_outbox")
    with op.batch_alter_table("analytics_identities", schema=None) as batch_op:
        batch_op.drop_index("ix_analytics_identities_person")
        batch_op.drop_index("ix_analytics_identities_member")

    op.drop_table("analytics_identities")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_alerts_merchant_id"))

    op.drop_table("alerts")
    with op.batch_alter_table("alert_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_rules_merchant_id"))

    op.drop_table("alert_rules")
    # ### end Alembic commands ###
