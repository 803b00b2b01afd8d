"""Distribution settings, promoter bindings, commissions, promoter accounts, withdrawals.

Two levels at most: a buyer's promoter earns level 1, that promoter's own promoter
level 2; deeper chains earn nothing (multi-level schemes are a legal risk in China).
A promoter's account moves only through guarded UPDATEs: `withdrawn` never passes
`settled`, so concurrent withdrawal requests can never take out more than was earned.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped

from growthloop.core.models import Base, CreatedAt, MerchantOwned, UTCDateTime, col


class DistributionSettings(Base):
    __tablename__ = "distribution_settings"

    merchant_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    enabled: Mapped[bool] = col(Boolean, nullable=False, pii=None)
    level1_percent: Mapped[int] = col(Integer, nullable=False, pii=None)
    level2_percent: Mapped[int] = col(Integer, nullable=False, pii=None)
    settle_days: Mapped[int] = col(Integer, nullable=False, pii=None)
    binding_days: Mapped[int | None] = col(Integer, pii=None)  # None: a binding never lapses
    min_withdrawal: Mapped[int] = col(BigInteger, nullable=False, pii=None)  # fen
    updated_at: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)


class PromoterBinding(Base):
    """Who brought the member: the first binding wins until it lapses (`expires_at`)."""

    __tablename__ = "promoter_bindings"

    merchant_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    member_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    promoter_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    bound_at: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)
    expires_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)

    __table_args__ = (Index("ix_promoter_bindings_promoter", "merchant_id", "promoter_id"),)


class Commission(MerchantOwned, CreatedAt, Base):
    """`frozen` at payment, `settled` `settle_days` after the order completes, `cancelled`
    when the order is refunded."""

    __tablename__ = "commissions"

    order_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    level: Mapped[int] = col(Integer, nullable=False, pii=None)
    promoter_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    buyer_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    base_amount: Mapped[int] = col(BigInteger, nullable=False, pii=None)  # what the buyer paid
    percent: Mapped[int] = col(Integer, nullable=False, pii=None)
    amount: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    status: Mapped[str] = col(String(16), nullable=False, pii=None)
    settle_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    settled_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    cancelled_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)

    __table_args__ = (
        UniqueConstraint("order_id", "level"),
        CheckConstraint("level IN (1, 2)", name="level"),
        CheckConstraint("status IN ('frozen', 'settled', 'cancelled')", name="status"),
        CheckConstraint("amount >= 0 AND base_amount >= 0", name="amounts"),
        Index("ix_commissions_promoter", "merchant_id", "promoter_id", "status"),
        Index("ix_commissions_due", "status", "settle_at"),
    )


class PromoterAccount(Base):
    __tablename__ = "promoter_accounts"

    merchant_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    member_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    settled: Mapped[int] = col(BigInteger, nullable=False, default=0, pii=None)
    withdrawn: Mapped[int] = col(BigInteger, nullable=False, default=0, pii=None)

    # A refund after settlement may take `settled` below `withdrawn`: that blocks new
    # withdrawals until earned back, as a negative points balance blocks spending.
    __table_args__ = (CheckConstraint("withdrawn >= 0", name="withdrawn"),)


class Withdrawal(MerchantOwned, CreatedAt, Base):
    __tablename__ = "commission_withdrawals"

    member_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    amount: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    status: Mapped[str] = col(String(16), nullable=False, pii=None)  # requested|approved|rejected
    decided_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    decided_by: Mapped[str | None] = col(String(26), pii=None)
    note: Mapped[str | None] = col(String(200), pii=None)

    __table_args__ = (
        CheckConstraint("amount >= 1", name="amount"),
        CheckConstraint("status IN ('requested', 'approved', 'rejected')", name="status"),
        Index("ix_commission_withdrawals_member", "merchant_id", "member_id"),
        Index("ix_commission_withdrawals_status", "merchant_id", "status"),
    )
