"""Lotteries, their prize pools, the members' draws and the per-member counters.

A prize's `given` counts the units drawn from its `stock`; it only moves through a guarded
`UPDATE ... SET given = given + 1 WHERE given < stock` whose row count is checked, so the
check constraint is a second line that never fires in practice. The `none` prize
(谢谢参与) has no stock and its `given` stays 0: its draws are counted from
`lottery_draws`, so the most frequent outcome never queues on one hot row.

A member's draws in a lottery queue on their `lottery_members` row (taken first by every
draw), and their draws of one local day live in one `lottery_draw_days` row, moved by a
guarded upsert (the daily cap) and a guarded update (the free draws): no limit is ever
passed between a read and a write.

Coupon templates and catalog products are other domains' rows: referenced by id, no FK.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped

from growthloop.campaigns.models import CampaignColumns
from growthloop.core.models import Base, CreatedAt, MerchantOwned, UTCDateTime, col, merchant_column


class Lottery(CampaignColumns, Base):
    __tablename__ = "lotteries"

    rules: Mapped[str | None] = col(String(1000), pii=None)  # 活动规则, shown to members
    cost_points: Mapped[int] = col(Integer, nullable=False, pii=None)  # 0: free draws only
    free_draws_per_day: Mapped[int] = col(Integer, nullable=False, pii=None)
    max_draws_per_day: Mapped[int | None] = col(Integer, pii=None)  # free + paid; None: no cap
    max_wins_per_member: Mapped[int | None] = col(Integer, pii=None)  # None: no cap
    voucher_valid_days: Mapped[int] = col(Integer, nullable=False, pii=None)

    __table_args__ = (
        CheckConstraint(
            "cost_points >= 0 AND free_draws_per_day >= 0"
            " AND (cost_points > 0 OR free_draws_per_day > 0)",
            name="draw_terms",
        ),
        CheckConstraint(
            "max_draws_per_day IS NULL OR max_draws_per_day >= 1", name="max_draws_per_day"
        ),
        CheckConstraint(
            "max_wins_per_member IS NULL OR max_wins_per_member >= 1", name="max_wins_per_member"
        ),
        CheckConstraint("voucher_valid_days >= 1", name="voucher_valid_days"),
    )


class LotteryPrize(MerchantOwned, Base):
    """One entry of the pool: `coupon` (a coupon of `template_id`), `points`, `product`
    (a voucher for `product_id` handed over at the counter) or `none` (谢谢参与)."""

    __tablename__ = "lottery_prizes"

    # Looked up through the unique (lottery_id, seq) index.
    lottery_id: Mapped[str] = col(String(26), ForeignKey("lotteries.id"), nullable=False, pii=None)
    seq: Mapped[int] = col(Integer, nullable=False, pii=None)  # place in the pool, from 1
    name: Mapped[str] = col(String(50), nullable=False, pii=None)
    kind: Mapped[str] = col(String(16), nullable=False, pii=None)
    weight: Mapped[int] = col(Integer, nullable=False, pii=None)
    stock: Mapped[int | None] = col(Integer, pii=None)  # None only for the `none` prize
    given: Mapped[int] = col(Integer, nullable=False, default=0, pii=None)
    template_id: Mapped[str | None] = col(String(26), pii=None)  # coupon prizes
    points: Mapped[int | None] = col(Integer, pii=None)  # points prizes
    product_id: Mapped[str | None] = col(String(26), pii=None)  # product prizes

    __table_args__ = (
        UniqueConstraint("lottery_id", "seq"),
        CheckConstraint("kind IN ('coupon', 'points', 'product', 'none')", name="kind"),
        CheckConstraint("weight >= 1", name="weight"),
        CheckConstraint("(kind = 'none') = (stock IS NULL)", name="stock_unless_none"),
        CheckConstraint("given >= 0 AND (stock IS NULL OR given <= stock)", name="not_overdrawn"),
        CheckConstraint("(kind = 'coupon') = (template_id IS NOT NULL)", name="coupon_template"),
        CheckConstraint("(kind = 'points') = (points IS NOT NULL AND points >= 1)", name="points"),
        CheckConstraint("(kind = 'product') = (product_id IS NOT NULL)", name="product"),
    )


class LotteryDraw(MerchantOwned, CreatedAt, Base):
    """One draw and what it gave: the coupon's id, the points credited, or a product
    voucher (`voucher_code`, shown at the counter and redeemed once by staff)."""

    __tablename__ = "lottery_draws"

    lottery_id: Mapped[str] = col(String(26), ForeignKey("lotteries.id"), nullable=False, pii=None)
    member_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    prize_id: Mapped[str] = col(
        String(26), ForeignKey("lottery_prizes.id"), nullable=False, pii=None
    )
    prize_kind: Mapped[str] = col(String(16), nullable=False, pii=None)  # as drawn
    prize_name: Mapped[str] = col(String(50), nullable=False, pii=None)  # as drawn
    free_draw: Mapped[bool] = col(Boolean, nullable=False, pii=None)
    paid_points: Mapped[int] = col(Integer, nullable=False, pii=None)
    draw_day: Mapped[date] = col(Date, nullable=False, pii=None)  # the merchant's local day
    coupon_id: Mapped[str | None] = col(String(26), pii=None)
    points: Mapped[int | None] = col(Integer, pii=None)
    product_id: Mapped[str | None] = col(String(26), pii=None)
    voucher_code: Mapped[str | None] = col(String(16), pii=None)
    voucher_expires_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    voucher_redeemed_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)

    __table_args__ = (
        UniqueConstraint("merchant_id", "voucher_code"),
        Index("ix_lottery_draws_member", "merchant_id", "member_id", "id"),
        Index("ix_lottery_draws_lottery", "lottery_id", "id"),
        CheckConstraint(
            "paid_points >= 0 AND (free_draw = (paid_points = 0))", name="paid_unless_free"
        ),
    )


class LotteryDrawDay(Base):
    """A member's draws of one lottery on one local day: all of them (the daily cap) and
    the free ones among them."""

    __tablename__ = "lottery_draw_days"

    lottery_id: Mapped[str] = col(
        String(26), ForeignKey("lotteries.id"), primary_key=True, pii=None
    )
    member_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    draw_day: Mapped[date] = col(Date, primary_key=True, pii=None)
    merchant_id: Mapped[str] = merchant_column()
    draws: Mapped[int] = col(Integer, nullable=False, pii=None)
    free_draws: Mapped[int] = col(Integer, nullable=False, pii=None)

    __table_args__ = (
        CheckConstraint("draws >= 1 AND free_draws >= 0 AND free_draws <= draws", name="counts"),
    )


class LotteryMember(Base):
    """A member in one lottery: all their draws and the prizes (anything but `none`) they
    won. Every draw takes this row first (an upsert), so one member's draws in a lottery
    queue here whatever their day, and the per-member prize cap is checked and moved on a
    row this transaction holds."""

    __tablename__ = "lottery_members"

    lottery_id: Mapped[str] = col(
        String(26), ForeignKey("lotteries.id"), primary_key=True, pii=None
    )
    member_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    merchant_id: Mapped[str] = merchant_column()
    draws: Mapped[int] = col(Integer, nullable=False, pii=None)
    wins: Mapped[int] = col(Integer, nullable=False, pii=None)

    __table_args__ = (CheckConstraint("draws >= 1 AND wins >= 0 AND wins <= draws", name="counts"),)
