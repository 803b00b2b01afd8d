"""Group buys, their groups and the members in them.

A group's `paid_count` is its seats taken: it only moves through guarded UPDATEs
(`paid_count < size AND status = 'forming'`), so it never exceeds `size`, whatever
arrives at once. A member takes a seat when their order is paid, not when they join.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped

from growthloop.campaigns.models import CampaignColumns
from growthloop.core.models import Base, CreatedAt, MerchantOwned, UTCDateTime, col, created_column


class GroupBuy(CampaignColumns, Base):
    __tablename__ = "group_buys"

    product_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    group_price: Mapped[int] = col(Integer, nullable=False, pii=None)  # fen a unit
    group_size: Mapped[int] = col(Integer, nullable=False, pii=None)
    duration_minutes: Mapped[int] = col(Integer, nullable=False, pii=None)
    # A payer who finds the group full: "new_group" (into another forming group of this
    # campaign, or a new one they lead) or "refund".
    overflow: Mapped[str] = col(String(16), nullable=False, pii=None)
    # 模拟成团: at expiry a group with at least this many paid members succeeds anyway.
    auto_succeed_min: Mapped[int | None] = col(Integer, pii=None)

    __table_args__ = (
        CheckConstraint("group_price >= 1 AND group_size >= 2", name="amounts"),
        CheckConstraint("overflow IN ('new_group', 'refund')", name="overflow"),
        CheckConstraint(
            "auto_succeed_min IS NULL OR (auto_succeed_min >= 1 AND auto_succeed_min < group_size)",
            name="auto_succeed_min",
        ),
    )


class Group(MerchantOwned, CreatedAt, Base):
    __tablename__ = "buy_groups"

    group_buy_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    leader_member_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    size: Mapped[int] = col(Integer, nullable=False, pii=None)
    paid_count: Mapped[int] = col(Integer, nullable=False, default=0, pii=None)
    status: Mapped[str] = col(String(16), nullable=False, pii=None)  # forming|succeeded|failed
    simulated: Mapped[bool] = col(Boolean, nullable=False, default=False, pii=None)
    expires_at: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)
    succeeded_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    failed_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)

    __table_args__ = (
        CheckConstraint("paid_count >= 0 AND paid_count <= size", name="seats"),
        CheckConstraint("status IN ('forming', 'succeeded', 'failed')", name="status"),
        Index("ix_buy_groups_square", "group_buy_id", "status", "expires_at"),
        Index("ix_buy_groups_due", "status", "expires_at"),
    )


class GroupMember(MerchantOwned, Base):
    """A member's place in a group: `pending` (ordered, not paid), `paid` (holds a seat),
    `cancelled` (the order was cancelled or expired), `refunded`.

    A seat, once paid for, stays the member's (`paid_at` set, `left_at` not) and counts in
    the group's `paid_count`, refunded or not, unless it was given back: a paid member
    refunded while the group was still forming leaves it (`left_at`), freeing the seat.
    So a group's `paid_count` is always its number of seats held, and its member list
    (paid and refunded seats alike) is exactly that long, in every state.
    """

    __tablename__ = "group_members"

    group_buy_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    group_id: Mapped[str] = col(String(26), nullable=False, index=True, pii=None)
    member_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    order_id: Mapped[str] = col(String(26), nullable=False, unique=True, pii=None)
    role: Mapped[str] = col(String(8), nullable=False, pii=None)  # leader | member
    status: Mapped[str] = col(String(16), nullable=False, pii=None)
    joined_at: Mapped[datetime] = created_column()
    paid_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    left_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)

    __table_args__ = (
        UniqueConstraint("group_id", "member_id"),
        CheckConstraint("status IN ('pending', 'paid', 'cancelled', 'refunded')", name="status"),
        Index("ix_group_members_member", "merchant_id", "member_id"),
    )
