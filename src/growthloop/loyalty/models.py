"""Loyalty: the programme, each member's standing, points batches and the points ledger.

The ledger is append-only and is the truth: a member's `points` is a cache that always
equals the sum of their ledger. Every earning is a batch with its own expiry; spending
consumes the batches that expire first and records which (`allocations`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped

from growthloop.core.models import Base, CreatedAt, MerchantOwned, UTCDateTime, col


class Program(Base):
    __tablename__ = "loyalty_programs"

    merchant_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    points_per_yuan: Mapped[int] = col(Integer, nullable=False, default=1, pii=None)
    points_per_yuan_spent: Mapped[int] = col(Integer, nullable=False, default=100, pii=None)
    max_points_percent: Mapped[int] = col(Integer, nullable=False, default=50, pii=None)
    points_expire_days: Mapped[int | None] = col(Integer, pii=None)
    # "MM-DD": points expire at the end of that day of the year after they were earned
    points_expire_on: Mapped[str | None] = col(String(5), pii=None)
    downgrade_policy: Mapped[str] = col(String(16), nullable=False, default="never", pii=None)
    review_days: Mapped[int | None] = col(Integer, pii=None)
    welcome_points: Mapped[int] = col(Integer, nullable=False, default=0, pii=None)
    checkin_points: Mapped[list[int]] = col(JSON, nullable=False, default=list, pii=None)
    # [{"name", "min_spend", "min_login_days", "min_invites", "discount_percent",
    #   "points_multiplier_percent", "free_delivery", "birthday_points"}], lowest first
    tiers: Mapped[list[dict[str, Any]]] = col(JSON, nullable=False, default=list, pii=None)
    updated_at: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)


class MemberLoyalty(Base):
    __tablename__ = "member_loyalty"

    merchant_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    member_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    points: Mapped[int] = col(BigInteger, nullable=False, default=0, pii=None)
    growth: Mapped[int] = col(BigInteger, nullable=False, default=0, pii=None)  # fen spent
    login_days: Mapped[int] = col(Integer, nullable=False, default=0, pii=None)
    invites: Mapped[int] = col(Integer, nullable=False, default=0, pii=None)
    tier: Mapped[str | None] = col(String(32), pii=None)
    tier_since: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    # Start of the current review period (downgrade policy "periodic")
    tier_reviewed_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    enrolled_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    checkin_streak: Mapped[int] = col(Integer, nullable=False, default=0, pii=None)
    last_checkin_day: Mapped[date | None] = col(Date, pii=None)

    __table_args__ = (Index("ix_member_loyalty_review", "merchant_id", "tier_reviewed_at"),)


class PointsBatch(MerchantOwned, CreatedAt, Base):
    __tablename__ = "points_batches"

    member_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    amount: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    remaining: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    expires_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)

    __table_args__ = (
        CheckConstraint("remaining >= 0 AND remaining <= amount", name="remaining_bounds"),
        Index("ix_points_batches_member", "merchant_id", "member_id", "expires_at"),
        # Only batches still holding points: the sweep's scan does not grow with the
        # batches it has already emptied.
        Index(
            "ix_points_batches_due",
            "expires_at",
            "merchant_id",
            "member_id",
            postgresql_where=text("remaining > 0"),
            sqlite_where=text("remaining > 0"),
        ),
    )


class LedgerEntry(MerchantOwned, CreatedAt, Base):
    __tablename__ = "points_ledger"

    member_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    delta: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    balance_after: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    reason: Mapped[str] = col(String(32), nullable=False, pii=None)
    ref: Mapped[str | None] = col(String(64), pii=None)
    # merchant + source + operation, e.g. "order:<id>:earn": a retried write never counts twice
    idempotency_key: Mapped[str] = col(String(120), nullable=False, pii=None)
    batch_id: Mapped[str | None] = col(String(26), pii=None)  # the batch an earning created
    allocations: Mapped[dict[str, int]] = col(JSON, nullable=False, default=dict, pii=None)
    expires_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)

    __table_args__ = (
        UniqueConstraint("merchant_id", "idempotency_key"),
        Index("ix_points_ledger_member", "merchant_id", "member_id", "id"),
    )


class LoginDay(Base):
    """Days (merchant timezone) a member logged in or checked in: tier login-day rules."""

    __tablename__ = "loyalty_login_days"

    merchant_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    member_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    day: Mapped[date] = col(Date, primary_key=True, pii=None)


class GrowthEntry(MerchantOwned, Base):
    """What counts towards tiers, dated: spend (fen, negative on refund) and invites. The
    account keeps lifetime totals; a periodic review sums the entries of its window."""

    __tablename__ = "loyalty_growth"

    member_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    metric: Mapped[str] = col(String(16), nullable=False, pii=None)  # spend | invites
    amount: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    at: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)

    __table_args__ = (Index("ix_loyalty_growth_member", "merchant_id", "member_id", "at"),)
