from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped

from growthloop.core.models import Base, CreatedAt, MerchantOwned, UTCDateTime, col, created_column


class Payment(MerchantOwned, CreatedAt, Base):
    __tablename__ = "payments"

    order_id: Mapped[str] = col(String(26), nullable=False, index=True, pii=None)
    member_id: Mapped[str | None] = col(String(26), index=True, pii=None)
    provider: Mapped[str] = col(String(16), nullable=False, pii=None)
    amount: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    # created -> succeeded | closed; succeeded -> (refunds tracked in `refunds`)
    status: Mapped[str] = col(String(16), nullable=False, default="created", pii=None)
    provider_txn_id: Mapped[str | None] = col(String(64), pii=None)
    refunded_amount: Mapped[int] = col(BigInteger, nullable=False, default=0, pii=None)
    succeeded_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)

    __table_args__ = (
        UniqueConstraint("provider", "provider_txn_id"),
        CheckConstraint("amount >= 1", name="amount_positive"),
        CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount", name="refund_bounds"),
    )


class PaymentNotification(MerchantOwned, Base):
    """The inbox: each provider notification is processed at most once."""

    __tablename__ = "payment_notifications"

    provider: Mapped[str] = col(String(16), nullable=False, pii=None)
    notification_id: Mapped[str] = col(String(64), nullable=False, pii=None)
    payment_id: Mapped[str] = col(String(26), ForeignKey("payments.id"), nullable=False, pii=None)
    outcome: Mapped[str] = col(String(32), nullable=False, pii=None)
    received_at: Mapped[datetime] = created_column()

    __table_args__ = (UniqueConstraint("provider", "notification_id"),)


class Refund(MerchantOwned, CreatedAt, Base):
    __tablename__ = "refunds"

    payment_id: Mapped[str] = col(
        String(26), ForeignKey("payments.id"), nullable=False, index=True, pii=None
    )
    order_id: Mapped[str] = col(String(26), nullable=False, index=True, pii=None)
    refund_no: Mapped[str] = col(String(64), nullable=False, unique=True, pii=None)
    amount: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    reason: Mapped[str] = col(String(64), nullable=False, pii=None)
    # pending -> succeeded; pending stays pending (retried) when the provider fails
    status: Mapped[str] = col(String(16), nullable=False, default="pending", pii=None)
    attempts: Mapped[int] = col(Integer, nullable=False, default=0, pii=None)
    last_error: Mapped[str | None] = col(String(200), pii=None)
    next_attempt_at: Mapped[datetime | None] = col(UTCDateTime(), index=True, pii=None)
    provider_refund_id: Mapped[str | None] = col(String(64), pii=None)
    succeeded_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)

    __table_args__ = (CheckConstraint("amount >= 1", name="amount_positive"),)
