"""Bargains, their instances (one member's bargain) and the helps that cut them.

An instance's price only moves through an UPDATE on its row, taken FOR UPDATE first, so
concurrent helpers queue and each cut is computed from the price the previous one left.
`(instance_id, helper_member_id)` is unique: a member helps an instance once.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped

from growthloop.campaigns.models import CampaignColumns
from growthloop.core.models import Base, CreatedAt, MerchantOwned, UTCDateTime, col


class Bargain(CampaignColumns, Base):
    __tablename__ = "bargains"

    product_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    original_price: Mapped[int] = col(Integer, nullable=False, pii=None)
    floor_price: Mapped[int] = col(Integer, nullable=False, pii=None)
    helpers_needed: Mapped[int] = col(Integer, nullable=False, pii=None)
    duration_minutes: Mapped[int] = col(Integer, nullable=False, pii=None)
    helps_per_day: Mapped[int] = col(Integer, nullable=False, pii=None)  # per helper

    __table_args__ = (
        # Each helper cuts at least 1 fen, so the gap covers one fen per helper.
        CheckConstraint(
            "floor_price >= 1 AND original_price - floor_price >= helpers_needed",
            name="prices",
        ),
        CheckConstraint("helpers_needed >= 1 AND helps_per_day >= 1", name="counts"),
    )


class BargainInstance(MerchantOwned, CreatedAt, Base):
    __tablename__ = "bargain_instances"

    bargain_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    owner_member_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    original_price: Mapped[int] = col(Integer, nullable=False, pii=None)
    floor_price: Mapped[int] = col(Integer, nullable=False, pii=None)
    helpers_needed: Mapped[int] = col(Integer, nullable=False, pii=None)
    current_price: Mapped[int] = col(Integer, nullable=False, pii=None)
    helps: Mapped[int] = col(Integer, nullable=False, default=0, pii=None)
    # active -> floor_reached (all helpers cut) -> purchased; an order cancelled puts it back
    status: Mapped[str] = col(String(16), nullable=False, pii=None)
    order_id: Mapped[str | None] = col(String(26), index=True, pii=None)
    expires_at: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)
    purchased_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)

    __table_args__ = (
        CheckConstraint("current_price >= floor_price", name="not_below_floor"),
        CheckConstraint("helps >= 0 AND helps <= helpers_needed", name="helps"),
        CheckConstraint("status IN ('active', 'floor_reached', 'purchased')", name="status"),
        Index("ix_bargain_instances_owner", "bargain_id", "owner_member_id"),
    )


class BargainHelp(MerchantOwned, CreatedAt, Base):
    __tablename__ = "bargain_helps"

    instance_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    helper_member_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    seq: Mapped[int] = col(Integer, nullable=False, pii=None)
    cut: Mapped[int] = col(Integer, nullable=False, pii=None)
    price_after: Mapped[int] = col(Integer, nullable=False, pii=None)

    __table_args__ = (
        UniqueConstraint("instance_id", "helper_member_id"),
        UniqueConstraint("instance_id", "seq"),
        CheckConstraint("cut >= 1", name="cut"),
    )


class BargainHelpDay(Base):
    """How many instances a member helped on one local day (the per-day limit)."""

    __tablename__ = "bargain_help_days"

    merchant_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    member_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    day: Mapped[date] = col(Date, primary_key=True, pii=None)
    helps: Mapped[int] = col(Integer, nullable=False, pii=None)
