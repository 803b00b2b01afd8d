"""Alliance points (异业联盟积分通兑): partnerships between two merchants, the exchanges their
members make, the daily counters that cap them, and the settlement ledger between them.

A partnership's rate is `points` of the proposer's points <-> `partner_points` of the
partner's, in both directions (stored reduced). Caps count points leaving the source
merchant per direction per day (source merchant's timezone).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped

from growthloop.core.models import Base, CreatedAt, MerchantOwned, UTCDateTime, col


class Partnership(MerchantOwned, CreatedAt, Base):
    """Proposed by `merchant_id` to `partner_merchant_id`."""

    __tablename__ = "alliance_partnerships"

    partner_merchant_id: Mapped[str] = col(String(26), nullable=False, index=True, pii=None)
    # "<smaller merchant id>:<larger>" until the partnership ends: one open per pair
    open_pair: Mapped[str | None] = col(String(53), pii=None)
    status: Mapped[str] = col(String(16), nullable=False, pii=None)  # pending|active|...
    points: Mapped[int] = col(Integer, nullable=False, pii=None)
    partner_points: Mapped[int] = col(Integer, nullable=False, pii=None)
    daily_cap: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    member_daily_cap: Mapped[int | None] = col(BigInteger, pii=None)
    # The source pays the target `price_fen` per `price_points` of the proposer's points moved
    price_fen: Mapped[int] = col(Integer, nullable=False, pii=None)
    price_points: Mapped[int] = col(Integer, nullable=False, pii=None)
    proposed_by: Mapped[str] = col(String(26), nullable=False, pii=None)  # admin id
    suspended_by: Mapped[str | None] = col(String(26), pii=None)  # merchant id
    accepted_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    updated_at: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)

    __table_args__ = (UniqueConstraint("open_pair"),)


class DailyUsage(Base):
    """Points that left `merchant_id` through a partnership on one day: the daily cap is a
    guarded UPDATE on this row."""

    __tablename__ = "alliance_daily_usage"

    partnership_id: Mapped[str] = col(
        String(26), ForeignKey("alliance_partnerships.id"), primary_key=True, pii=None
    )
    merchant_id: Mapped[str] = col(String(26), primary_key=True, pii=None)  # the source
    day: Mapped[date] = col(Date, primary_key=True, pii=None)
    points: Mapped[int] = col(BigInteger, nullable=False, default=0, pii=None)


class MemberDailyUsage(Base):
    """The same per member: the partnership's per-member daily cap."""

    __tablename__ = "alliance_member_daily_usage"

    partnership_id: Mapped[str] = col(
        String(26), ForeignKey("alliance_partnerships.id"), primary_key=True, pii=None
    )
    merchant_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    member_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    day: Mapped[date] = col(Date, primary_key=True, pii=None)
    points: Mapped[int] = col(BigInteger, nullable=False, default=0, pii=None)


class Exchange(MerchantOwned, CreatedAt, Base):
    """A member's points left `merchant_id` and arrived, converted, at the linked member of
    `target_merchant_id`: one row per exchange, written with both ledger entries."""

    __tablename__ = "alliance_exchanges"

    member_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    partnership_id: Mapped[str] = col(
        String(26), ForeignKey("alliance_partnerships.id"), nullable=False, pii=None
    )
    target_merchant_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    target_member_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    points_out: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    points_in: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    day: Mapped[date] = col(Date, nullable=False, pii=None)  # source merchant's timezone

    __table_args__ = (
        Index("ix_alliance_exchanges_member", "merchant_id", "member_id", "id"),
        Index("ix_alliance_exchanges_target", "target_merchant_id", "target_member_id", "id"),
        Index("ix_alliance_exchanges_partnership", "partnership_id", "created_at"),
    )


class SettlementEntry(MerchantOwned, CreatedAt, Base):
    """What the payer (`merchant_id`, the exchange's source merchant: its member's points
    left it and the partner now carries the liability) owes the payee (the target) for one
    exchange."""

    __tablename__ = "alliance_settlements"

    payee_merchant_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    partnership_id: Mapped[str] = col(
        String(26), ForeignKey("alliance_partnerships.id"), nullable=False, pii=None
    )
    exchange_id: Mapped[str] = col(
        String(26), ForeignKey("alliance_exchanges.id"), nullable=False, pii=None
    )
    points_out: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    points_in: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    amount: Mapped[int] = col(BigInteger, nullable=False, pii=None)  # fen

    __table_args__ = (
        UniqueConstraint("exchange_id"),
        Index("ix_alliance_settlements_partnership", "partnership_id", "created_at"),
    )
