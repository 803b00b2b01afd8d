"""Coupon templates, the coupons issued from them, and the per-member claim counters.

Money columns are BigInteger: amounts go up to `MAX_FEN` (10^10), past a 32-bit INTEGER.
Templates are immutable once created (only `active` changes), so a coupon reads its
terms from its template instead of copying them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    false,
    text,
)
from sqlalchemy.orm import Mapped

from growthloop.core.models import (
    Base,
    CreatedAt,
    MemberTally,
    MerchantOwned,
    UTCDateTime,
    col,
)


class CouponTemplate(MerchantOwned, CreatedAt, Base):
    __tablename__ = "coupon_templates"

    name: Mapped[str] = col(String(50), nullable=False, pii=None)
    kind: Mapped[str] = col(String(16), nullable=False, pii=None)  # amount_off | percent_off
    # amount_off: fen off; percent_off: the percent taken off (20 = 8折)
    value: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    min_spend: Mapped[int] = col(BigInteger, nullable=False, default=0, pii=None)
    max_discount: Mapped[int | None] = col(BigInteger, pii=None)  # cap of percent_off
    total: Mapped[int | None] = col(Integer, pii=None)  # None: unlimited
    claimed: Mapped[int] = col(Integer, nullable=False, default=0, pii=None)
    per_member_limit: Mapped[int] = col(Integer, nullable=False, default=1, pii=None)
    # Either a fixed window (valid_from/valid_until) or valid_days after the claim.
    valid_from: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    valid_until: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    valid_days: Mapped[int | None] = col(Integer, pii=None)
    # Scope: both empty = the whole store; otherwise a line matching either is in scope.
    product_ids: Mapped[list[str]] = col(JSON, nullable=False, default=list, pii=None)
    category_ids: Mapped[list[str]] = col(JSON, nullable=False, default=list, pii=None)
    # Columns added after the first release carry server defaults: SQLite adds a NOT NULL
    # column to a table with rows only with one, and cannot drop it later without
    # rebuilding a table that others reference.
    # Campaign-priced lines (flash sale, group buy, bargain) are out of scope unless set.
    stacks_with_campaigns: Mapped[bool] = col(
        Boolean, nullable=False, default=False, server_default=false(), pii=None
    )
    # Automatic issuance: the event that grants one coupon (schemas.AutoIssue), and the
    # tiers it is for (empty = every tier). None: only claimed or issued by an operator.
    auto_issue: Mapped[str | None] = col(String(16), pii=None)
    auto_issue_tiers: Mapped[list[str]] = col(
        JSON, nullable=False, default=list, server_default=text("'[]'"), pii=None
    )
    # How members get it (schemas.Obtain): `claim`, listed in the coupon centre and claimed
    # by members (operators and the programme may still grant it); `grant`, only granted:
    # automatic issuance, operators, and the programme's rewards (mall, lotteries, invites).
    obtain: Mapped[str] = col(
        String(8), nullable=False, default="claim", server_default="claim", pii=None
    )
    active: Mapped[bool] = col(Boolean, nullable=False, default=True, pii=None)
    updated_at: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)

    __table_args__ = (
        Index("ix_coupon_templates_auto_issue", "merchant_id", "auto_issue"),
        CheckConstraint("total IS NULL OR claimed <= total", name="not_over_claimed"),
        CheckConstraint("claimed >= 0 AND value >= 1 AND min_spend >= 0", name="amounts"),
        CheckConstraint("kind IN ('amount_off', 'percent_off')", name="kind"),
    )


class Coupon(MerchantOwned, Base):
    """One coupon in a member's wallet.

    available -> locked (an order holds it) -> used (the order is paid);
    locked -> available (the order is cancelled or expires);
    used -> available | expired (the order is refunded; depends on validity).
    An `available` coupon past `valid_until` is reported as expired without a write.
    """

    __tablename__ = "coupons"

    template_id: Mapped[str] = col(
        String(26), ForeignKey("coupon_templates.id"), nullable=False, index=True, pii=None
    )
    member_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    status: Mapped[str] = col(String(16), nullable=False, default="available", pii=None)
    source: Mapped[str] = col(String(16), nullable=False, pii=None)  # schemas.CouponSource
    # Set by grants that may be retried (mall redemption, automatic issuance): the same key
    # gives back the coupon already granted instead of a second one.
    issue_key: Mapped[str | None] = col(String(128), pii=None)
    valid_from: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)
    valid_until: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    order_id: Mapped[str | None] = col(String(26), index=True, pii=None)
    claimed_at: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)
    locked_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    used_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)

    __table_args__ = (
        # A unique index, not a constraint: SQLite adds one without rebuilding the table.
        Index("uq_coupons_issue_key", "merchant_id", "issue_key", unique=True),
        Index("ix_coupons_member", "member_id", "status"),
        CheckConstraint("status IN ('available', 'locked', 'used', 'expired')", name="status"),
        CheckConstraint(
            "(status IN ('locked', 'used')) = (order_id IS NOT NULL)", name="order_when_held"
        ),
    )


class CouponClaimCount(MemberTally, Base):
    """How many coupons of a template a member has received."""

    __tablename__ = "coupon_claim_counts"

    template_id: Mapped[str] = col(
        String(26), ForeignKey("coupon_templates.id"), primary_key=True, pii=None
    )
