from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped

from growthloop.core.models import Base, CreatedAt, MerchantOwned, UTCDateTime, col


class Category(MerchantOwned, CreatedAt, Base):
    __tablename__ = "categories"

    name: Mapped[str] = col(String(50), nullable=False, pii=None)
    sort: Mapped[int] = col(Integer, nullable=False, default=0, pii=None)

    __table_args__ = (UniqueConstraint("merchant_id", "name"),)


class Product(MerchantOwned, CreatedAt, Base):
    __tablename__ = "products"

    category_id: Mapped[str | None] = col(String(26), ForeignKey("categories.id"), pii=None)
    name: Mapped[str] = col(String(100), nullable=False, pii=None)
    description: Mapped[str] = col(Text, nullable=False, default="", pii=None)
    price: Mapped[int] = col(BigInteger, nullable=False, pii=None)  # fen
    stock: Mapped[int] = col(Integer, nullable=False, pii=None)
    on_sale: Mapped[bool] = col(Boolean, nullable=False, default=True, pii=None)
    image_urls: Mapped[list[str]] = col(JSON, nullable=False, default=list, pii=None)
    # [{"name": "糖度", "required": false, "values": [{"name": "无糖", "price_delta": 0}, ...]}]
    options: Mapped[list[dict[str, Any]]] = col(JSON, nullable=False, default=list, pii=None)
    sort: Mapped[int] = col(Integer, nullable=False, default=0, pii=None)
    updated_at: Mapped[datetime] = col(UTCDateTime(), nullable=False, pii=None)

    __table_args__ = (
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("price >= 1", name="price_positive"),
    )
