"""The points mall (积分商城): rewards, the members' redemptions, and per-member counters.

A reward's `redeemed` counts the units taken from its `stock`; both only move through
guarded UPDATEs, so the check constraint is a second line that never fires in practice.
Coupon templates and catalog products are other domains' rows: referenced by id, no FK.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped

from growthloop.core.crypto import EncryptedText
from growthloop.core.models import (
    Base,
    Category,
    CreatedAt,
    MemberTally,
    MerchantOwned,
    Personal,
    Retention,
    UTCDateTime,
    col,
)

SHIPPING = Personal(
    Category.CONTACT,
    "ship the physical gift the member redeemed",
    retention=Retention.UNTIL_DELETION,
    purpose_zh="寄送您兑换的实物礼品",
)


class Reward(MerchantOwned, CreatedAt, Base):
    """Shown to members within [shown_from, shown_until); redeemable within
    [redeem_from, redeem_until), which lies inside the display window (None: open end;
    an open redemption bound means the display bound)."""

    __tablename__ = "mall_rewards"

    kind: Mapped[str] = col(String(16), nullable=False, pii=None)  # coupon | product | physical
    name: Mapped[str] = col(String(50), nullable=False, pii=None)
    description: Mapped[str | None] = col(String(500), pii=None)
    image_url: Mapped[str | None] = col(String(500), pii=None)
    template_id: Mapped[str | None] = col(String(26), pii=None)  # coupon rewards
    product_id: Mapped[str | None] = col(String(26), pii=None)  # product rewards
    points_cost: Mapped[int] = col(Integer, nullable=False, pii=None)
    stock: Mapped[int | None] = col(Integer, pii=None)  # None: unlimited (coupon rewards only)
    redeemed: Mapped[int] = col(Integer, nullable=False, default=0, pii=None)
    per_member_limit: Mapped[int | None] = col(Integer, pii=None)  # None: no limit
    shown_from: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    shown_until: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    redeem_from: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    redeem_until: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    active: Mapped[bool] = col(Boolean, nullable=False, default=True, pii=None)
    sort: Mapped[int] = col(Integer, nullable=False, default=0, pii=None)
    updated_at: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)

    __table_args__ = (
        CheckConstraint("stock IS NULL OR redeemed <= stock", name="not_oversold"),
        CheckConstraint("redeemed >= 0 AND points_cost >= 1", name="amounts"),
        CheckConstraint("kind IN ('coupon', 'product', 'physical')", name="kind"),
        Index("ix_mall_rewards_shelf", "merchant_id", "sort", "id"),
    )


class Redemption(MerchantOwned, CreatedAt, Base):
    """One redemption of `quantity` units of a reward.

    coupon rewards: issued (the coupons are in the member's wallet; final);
    product and physical rewards: pending -> fulfilled (voucher used at the counter /
    gift shipped), or pending -> cancelled by an operator (stock, the member's count and
    the points all come back).
    """

    __tablename__ = "mall_redemptions"

    reward_id: Mapped[str] = col(
        String(26), ForeignKey("mall_rewards.id"), nullable=False, index=True, pii=None
    )
    member_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    kind: Mapped[str] = col(String(16), nullable=False, pii=None)
    reward_name: Mapped[str] = col(String(50), nullable=False, pii=None)  # as redeemed
    quantity: Mapped[int] = col(Integer, nullable=False, pii=None)
    points: Mapped[int] = col(Integer, nullable=False, pii=None)  # spent in total
    status: Mapped[str] = col(String(16), nullable=False, pii=None)
    code: Mapped[str | None] = col(String(16), pii=None)  # product voucher shown at the counter
    coupon_ids: Mapped[list[str]] = col(JSON, nullable=False, default=list, pii=None)
    # Encrypted at rest (growthloop.core.crypto); staff see them masked unless revealed.
    ship_name: Mapped[str | None] = col(EncryptedText("mall_redemptions.ship_name"), pii=SHIPPING)
    ship_phone: Mapped[str | None] = col(EncryptedText("mall_redemptions.ship_phone"), pii=SHIPPING)
    ship_address: Mapped[str | None] = col(
        EncryptedText("mall_redemptions.ship_address"), pii=SHIPPING
    )
    # A courier's tracking number leads to the recipient's name, phone and address.
    tracking_no: Mapped[str | None] = col(
        String(64),
        pii=Personal(
            Category.CONTACT,
            "ship the physical gift the member redeemed",
            purpose_zh="寄送您兑换的实物礼品",
        ),
    )
    fulfilled_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    cancelled_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)

    __table_args__ = (
        UniqueConstraint("merchant_id", "code"),
        Index("ix_mall_redemptions_member", "merchant_id", "member_id"),
        CheckConstraint("status IN ('issued', 'pending', 'fulfilled', 'cancelled')", name="status"),
        CheckConstraint("quantity >= 1 AND points >= 1", name="amounts"),
    )


class MemberRedemptionCount(MemberTally, Base):
    """Units of a reward a member holds."""

    __tablename__ = "mall_member_counts"

    reward_id: Mapped[str] = col(
        String(26), ForeignKey("mall_rewards.id"), primary_key=True, pii=None
    )

    __table_args__ = (CheckConstraint("count >= 0", name="not_negative"),)
