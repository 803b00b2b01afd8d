from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from growthloop.orders.pricing import CampaignKind

OrderStatus = Literal["pending_payment", "paid", "completed", "cancelled", "refunded"]
OptionText = Annotated[str, StringConstraints(min_length=1, max_length=32)]
IdText = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


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
