"""Flash sales and their purchases.

A sale's `stock` units are moved out of the product's stock when the sale is created, so
regular orders never sell a unit promised to the sale, and a purchase never touches the
product's row. Purchases take units from the sale's stock pool (`core.stock`); a
purchase row records them as `held` (order pending), `paid`, or `released` (the order
was cancelled or expired, and the units went back to the pool). When the sale is over
and no purchase is held, the units never sold go back to the product (`closed_at`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped

from growthloop.campaigns.models import CampaignColumns
from growthloop.core.models import Base, CreatedAt, MerchantOwned, UTCDateTime, col


class FlashSale(CampaignColumns, Base):
    __tablename__ = "flash_sales"

    product_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    price: Mapped[int] = col(Integer, nullable=False, pii=None)  # fen a unit, before options
    stock: Mapped[int] = col(Integer, nullable=False, pii=None)
    per_member_limit: Mapped[int] = col(Integer, nullable=False, pii=None)  # units
    per_order_limit: Mapped[int | None] = col(Integer, pii=None)  # units in one purchase
    # A flash sale always ends: its window is cut into its daily slots up to `ends_at`.
    ends_at: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)
    # Optional daily slots in the merchant's timezone: [["10:00", "10:30"], ...]; the sale
    # sells only inside one of them (and inside [starts_at, ends_at)).
    slots: Mapped[list[Any] | None] = col(JSON, pii=None)
    closed_at: Mapped[datetime | None] = col(UTCDateTime(), index=True, pii=None)
    returned_units: Mapped[int] = col(Integer, nullable=False, default=0, pii=None)

    __table_args__ = (
        CheckConstraint("price >= 1 AND stock >= 1 AND per_member_limit >= 1", name="amounts"),
        CheckConstraint("ends_at > starts_at", name="window"),
        Index("ix_flash_sales_merchant_starts", "merchant_id", "starts_at"),
    )


class FlashSalePurchase(MerchantOwned, CreatedAt, Base):
    __tablename__ = "flash_sale_purchases"

    flash_sale_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    member_id: Mapped[str] = col(String(26), nullable=False, pii=None)
    order_id: Mapped[str] = col(String(26), nullable=False, unique=True, pii=None)
    quantity: Mapped[int] = col(Integer, nullable=False, pii=None)
    status: Mapped[str] = col(String(16), nullable=False, pii=None)  # held | paid | released
    released_at: Mapped[datetime | None] = col(UTCDateTime(), pii=None)

    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity"),
        CheckConstraint("status IN ('held', 'paid', 'released')", name="status"),
        Index("ix_flash_sale_purchases_sale", "flash_sale_id", "status", "member_id"),
        Index("ix_flash_sale_purchases_member", "merchant_id", "member_id"),
    )
