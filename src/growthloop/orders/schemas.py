from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints

from growthloop.core.ids import is_id
from growthloop.core.pagination import InvalidCursor, decode_cursor_text, encode_cursor
from growthloop.core.schemas import Strict
from growthloop.orders.errors import InvalidPickupCode
from growthloop.orders.pricing import CampaignKind

OrderStatus = Literal["pending_payment", "paid", "completed", "cancelled", "refunded"]
# app: checkout (the mini-program, the app, campaigns); mall: a points-mall redemption;
# import: history loaded with `growthloop import orders`.
OrderSource = Literal["app", "mall", "import"]
OptionText = Annotated[str, StringConstraints(min_length=1, max_length=32)]
IdText = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class OrderItemIn(Strict):
    product_id: IdText
    quantity: Annotated[int, Field(strict=True, ge=1, le=99)]
    options: dict[OptionText, OptionText] | None = Field(None, max_length=10)


class OrderIn(Strict):
    items: list[OrderItemIn] = Field(min_length=1, max_length=30)
    coupon_id: IdText | None = None
    points: Annotated[int, Field(strict=True, ge=0, le=10**9)] | None = None


class PayIn(Strict):
    provider: Literal["sandbox", "wechat", "alipay", "douyin"]


class RedeemIn(Strict):
    code: Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=16)]


class OrderItemOut(BaseModel):
    product_id: str | None
    name: str
    quantity: int
    unit_price: int
    options: dict[str, str]
    line_total: int
    campaign_kind: CampaignKind | None = Field(
        None, description="set when the line is sold at a campaign's price (unit_price)"
    )
    regular_unit_price: int | None = Field(None, description="the unit's price without it")
    campaign_id: str | None = Field(None, description="the flash sale, group buy or bargain")
    campaign_ref: str | None = Field(
        None, description="the group of a group buy, the bargain instance of a bargain"
    )


class RefundOut(BaseModel):
    refund_no: str
    amount: int
    status: Literal["pending", "succeeded"]


class BreakdownLine(BaseModel):
    code: str
    label: str
    amount: int


class OrderOut(BaseModel):
    id: str
    status: OrderStatus
    member_id: str | None
    source: str = Field(
        description="where the order came from: app (checkout), mall, import (history)"
    )
    subtotal: int = Field(description="the items' line totals, at campaign prices where set")
    campaign_discount: int = Field(
        description="what campaign prices took off the regular prices; not part of `discount`"
    )
    tier_discount: int
    coupon_discount: int
    discount: int = Field(description="tier_discount + coupon_discount")
    points_deduction: int
    payable: int
    breakdown: list[BreakdownLine] = Field(
        description=(
            "the items at their regular prices (`subtotal`, or `regular_subtotal` followed by"
            " `campaign_discount` when campaign prices apply), then each discount (negative),"
            " then payable; sums exactly"
        )
    )
    coupon_id: str | None
    points_used: int
    items: list[OrderItemOut]
    expires_at: datetime | None
    pickup_code: str | None = Field(description="取餐号, shown once paid")
    verify_code: str | None = Field(description="核销码 the store scans to hand over the order")
    created_at: datetime
    paid_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancel_reason: str | None
    refunded_at: datetime | None
    refund: RefundOut | None = None


class PaymentStartOut(BaseModel):
    payment_id: str
    provider: str
    amount: int
    params: dict[str, object]


# ---- list queries ----------------------------------------------------------------------
#
# Lists run newest first by the time each order was placed (`created_at`; imported history
# carries its own `ordered_at` there), ties broken by id, so the cursor names both.


@dataclass(frozen=True)
class OrderPosition:
    """Where a page ends: the last order's placement time and id. `at` is None for a bare
    order id, the cursor this list gave out before it ordered by time."""

    at: datetime | None
    id: str


@dataclass(frozen=True)
class OrderListQuery:
    limit: int
    after: OrderPosition | None = None
    status: str | None = None
    member_id: str | None = None
    source: str | None = None
    pickup_code: str | None = None
    first_day: date | None = None  # local days, inclusive, in the merchant's timezone
    last_day: date | None = None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CURSOR = re.compile(r"^t(\d{1,19})\.([0-9A-Z]{26})$")


def encode_order_cursor(at: datetime, order_id: str) -> str:
    micros = (at - _EPOCH) // timedelta(microseconds=1)
    return encode_cursor(f"t{micros}.{order_id}")


def decode_order_cursor(cursor: str) -> OrderPosition:
    """An `encode_order_cursor` cursor, or a bare order id (`core.pagination`)."""
    value = decode_cursor_text(cursor)
    if is_id(value):
        return OrderPosition(None, value)
    found = _CURSOR.match(value)
    if found is None or not is_id(found.group(2)):
        raise InvalidCursor()
    try:
        at = _EPOCH + timedelta(microseconds=int(found.group(1)))
    except OverflowError:
        raise InvalidCursor() from None
    return OrderPosition(at, found.group(2))


def id_time(order_id: str) -> datetime:
    """The creation time an id carries (`core.ids`: its first 48 bits are milliseconds)."""
    millis = 0
    for char in order_id[:10]:
        millis = millis * 32 + _ID_ALPHABET.index(char)
    try:
        return _EPOCH + timedelta(milliseconds=millis)
    except OverflowError:  # a valid id can name a time past the year 9999
        return datetime.max.replace(tzinfo=UTC)


def pickup_code_of(text: str) -> str:
    """A pickup number as staff type it ("1", "0001") in its stored form ("0001")."""
    if not text.isascii() or not text.isdigit():
        raise InvalidPickupCode(pickup_code=text)
    return f"{int(text):04d}"
