from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped

from growthloop.core.models import Base, CreatedAt, MerchantOwned, UTCDateTime, col

# The reasons orders gives the refunds it asks payments for (stored on the refund row):
# the order's own refund, and a payment that came when the order could no longer be paid.
ORDER_REFUND = "order_refund"
LATE_PAYMENT_REFUND = "order_not_payable"


class Order(MerchantOwned, CreatedAt, Base):
    __tablename__ = "orders"

    member_id: Mapped[str | None] = col(String(26), index=True, pii=None)
    # pending_payment -> paid -> completed; pending_payment -> cancelled;
    # paid | completed -> refunded
    status: Mapped[str] = col(String(20), nullable=False, pii=None)
    source: Mapped[str] = col(String(16), nullable=False, default="app", pii=None)
    # At the prices charged: a campaign line (flash sale, group buy, bargain) counts at the
    # campaign's price; `campaign_discount` is what those prices took off the regular ones.
    subtotal: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    # Added after the first release: the server default fills the orders already stored
    # (SQLite cannot rebuild `orders`, which order_items references, to drop it).
    campaign_discount: Mapped[int] = col(
        BigInteger, nullable=False, default=0, server_default=text("0"), pii=None
    )
    tier_discount: Mapped[int] = col(BigInteger, nullable=False, default=0, pii=None)
    coupon_discount: Mapped[int] = col(BigInteger, nullable=False, default=0, pii=None)
    discount: Mapped[int] = col(BigInteger, nullable=False, default=0, pii=None)
    points_deduction: Mapped[int] = col(BigInteger, nullable=False, default=0, pii=None)
    payable: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    coupon_id: Mapped[str | None] = col(String(26), pii=None)
    # The campaign the order was placed through (its first campaign line's kind: flash_sale,
    # group_buy, bargain), None at regular prices: the campaigns' order handlers skip the rest.
    campaign_kind: Mapped[str | None] = col(String(16), pii=None)
    points_used: Mapped[int] = col(BigInteger, nullable=False, default=0, pii=None)
    expires_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    pickup_code: Mapped[str | None] = col(String(8), pii=None)
    verify_code: Mapped[str | None] = col(String(16), pii=None)
    external_ref: Mapped[str | None] = col(String(80), pii=None)
    cancel_reason: Mapped[str | None] = col(String(32), pii=None)
    paid_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    completed_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    cancelled_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)
    refunded_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)

    __table_args__ = (
        UniqueConstraint("merchant_id", "verify_code"),
        UniqueConstraint("merchant_id", "external_ref"),
        Index("ix_orders_pending_expiry", "status", "expires_at"),
        Index("ix_orders_merchant_created", "merchant_id", "created_at"),
        # The operator's list by status, newest first (refunds, orders awaiting payment).
        Index("ix_orders_merchant_status_created", "merchant_id", "status", "created_at"),
        CheckConstraint(
            "subtotal - discount - points_deduction = payable", name="total_is_sum_of_parts"
        ),
        CheckConstraint("discount = tier_discount + coupon_discount", name="discount_parts"),
        CheckConstraint("payable >= 0 AND discount >= 0 AND points_deduction >= 0", name="amounts"),
    )


class OrderItem(MerchantOwned, Base):
    __tablename__ = "order_items"

    order_id: Mapped[str] = col(
        String(26), ForeignKey("orders.id"), nullable=False, index=True, pii=None
    )
    product_id: Mapped[str | None] = col(String(26), pii=None)
    name: Mapped[str] = col(String(100), nullable=False, pii=None)
    unit_price: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    quantity: Mapped[int] = col(Integer, nullable=False, pii=None)
    options: Mapped[dict[str, Any]] = col(JSON, nullable=False, default=dict, pii=None)
    line_total: Mapped[int] = col(BigInteger, nullable=False, pii=None)
    # Sold at a campaign's price (`unit_price`): the campaign (pricing.CampaignKind) and the
    # unit's regular price; both None for a line at the regular price.
    campaign_kind: Mapped[str | None] = col(String(16), pii=None)
    regular_unit_price: Mapped[int | None] = col(BigInteger, pii=None)
    campaign_id: Mapped[str | None] = col(String(26), pii=None)
    # The campaign's instance the line belongs to: the group of a group buy, the bargain
    # instance of a bargain; None for a campaign without instances (a flash sale).
    campaign_ref: Mapped[str | None] = col(String(26), pii=None)
    # "product": the units were taken from the product's stock at checkout; "campaign": from
    # the campaign's own pool (a flash sale), which takes them back if the order is cancelled.
    stock_source: Mapped[str] = col(
        String(16), nullable=False, default="product", server_default=text("'product'"), pii=None
    )

    # Checkout prices lines as unit_price * quantity; imported history keeps the amount it
    # was given, which need not divide by its quantity.
    __table_args__ = (CheckConstraint("quantity >= 1", name="quantity_positive"),)


class PickupSequence(Base):
    """Per merchant and local day: the last pickup number handed out (取餐号)."""

    __tablename__ = "pickup_sequences"

    merchant_id: Mapped[str] = col(String(26), primary_key=True, pii=None)
    day: Mapped[date] = col(Date, primary_key=True, pii=None)
    value: Mapped[int] = col(Integer, nullable=False, pii=None)
