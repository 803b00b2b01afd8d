from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    Field,
    HttpUrl,
    StrictBool,
    StringConstraints,
    UrlConstraints,
    model_validator,
)

from growthloop.core.schemas import Id, Instant, Name, Strict

RewardKind = Literal["coupon", "product", "physical"]
RedemptionStatus = Literal["issued", "pending", "fulfilled", "cancelled"]
# Why a member cannot redeem a reward they can see; None when they can.
UnavailableReason = Literal[
    "not_started", "ended", "sold_out", "limit_reached", "insufficient_points"
]

Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
PointsCost = Annotated[int, Field(strict=True, ge=1, le=10_000_000)]
Stock = Annotated[int, Field(strict=True, ge=0, le=10_000_000)]
PerMember = Annotated[int, Field(strict=True, ge=1, le=1000)]
Sort = Annotated[int, Field(strict=True, ge=-10_000, le=10_000)]
Quantity = Annotated[int, Field(strict=True, ge=1, le=10)]
ImageUrl = Annotated[HttpUrl, UrlConstraints(max_length=500)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{12}$")]
TrackingNo = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


class Windows(BaseModel):
    """The display window and the redemption window inside it; None is an open end, and an
    open redemption bound is the display bound."""

    shown_from: datetime | None
    shown_until: datetime | None
    redeem_from: datetime | None
    redeem_until: datetime | None

    @classmethod
    def of(cls, reward: object) -> Windows:
        """The windows of a reward, or of the body that creates one."""
        return cls.model_validate(reward, from_attributes=True)

    def problem(self) -> str | None:
        """What is wrong with these windows, or None."""
        if self.shown_from and self.shown_until and self.shown_from >= self.shown_until:
            return "shown_from must be before shown_until"
        start = self.redeem_from or self.shown_from
        end = self.redeem_until or self.shown_until
        if start and end and start >= end:
            return "the redemption window must not be empty"
        if self.redeem_from and self.shown_from and self.redeem_from < self.shown_from:
            return "redeem_from must not be before shown_from"
        if self.redeem_until and self.shown_until and self.redeem_until > self.shown_until:
            return "redeem_until must not be after shown_until"
        if self.redeem_from and self.shown_until and self.redeem_from >= self.shown_until:
            return "redeem_from must be before shown_until"
        if self.redeem_until and self.shown_from and self.redeem_until <= self.shown_from:
            return "redeem_until must be after shown_from"
        return None


class RewardIn(Strict):
    """`coupon` rewards give coupons of `template_id`; `product` rewards give a voucher for
    `product_id` redeemed at the counter; `physical` gifts are shipped. `stock` counts the
    units that may be redeemed in total (required for product and physical rewards; a
    coupon reward without one is limited by its coupon template alone)."""

    kind: RewardKind
    name: Name
    description: Description | None = None
    image_url: ImageUrl | None = None
    template_id: Id | None = None
    product_id: Id | None = None
    points_cost: PointsCost
    stock: Stock | None = None
    per_member_limit: PerMember | None = None
    shown_from: Instant | None = None
    shown_until: Instant | None = None
    redeem_from: Instant | None = None
    redeem_until: Instant | None = None
    active: StrictBool = True
    sort: Sort = 0

    @model_validator(mode="after")
    def _check(self) -> RewardIn:
        if (self.kind == "coupon") != (self.template_id is not None):
            raise ValueError("template_id is required for coupon rewards and only for them")
        if (self.kind == "product") != (self.product_id is not None):
            raise ValueError("product_id is required for product rewards and only for them")
        if self.kind != "coupon" and self.stock is None:
            raise ValueError("product and physical rewards need a stock")
        problem = Windows.of(self).problem()
        if problem:
            raise ValueError(problem)
        return self


class RewardPatch(Strict):
    """Any of these; the kind and what the reward gives stay as created. `stock` may not go
    below the units already redeemed."""

    name: Name | None = None
    description: Description | None = None
    image_url: ImageUrl | None = None
    points_cost: PointsCost | None = None
    stock: Stock | None = None
    per_member_limit: PerMember | None = None
    shown_from: Instant | None = None
    shown_until: Instant | None = None
    redeem_from: Instant | None = None
    redeem_until: Instant | None = None
    active: StrictBool | None = None
    sort: Sort | None = None

    @model_validator(mode="after")
    def _check(self) -> RewardPatch:
        for name in ("name", "points_cost", "active", "sort"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self


class ShippingIn(Strict):
    name: Name
    phone: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9]{5,19}$")]
    address: Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=200)]


class RedeemIn(Strict):
    """`shipping` is required for physical gifts and refused for the other kinds."""

    quantity: Quantity = 1
    shipping: ShippingIn | None = None


class FulfilIn(Strict):
    """`tracking_no`: the parcel's tracking number, for physical gifts only."""

    tracking_no: TrackingNo | None = None


class CancelIn(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None


class VerifyIn(Strict):
    code: Code


class _RewardFields(BaseModel):
    """What members and staff both see of a reward, first in both."""

    id: str
    kind: RewardKind
    name: str
    description: str | None
    image_url: str | None
    template_id: str | None
    product_id: str | None
    points_cost: int


class RewardOut(_RewardFields):
    """A reward as a member sees it; the redemption window is the effective one."""

    per_member_limit: int | None
    stock_left: int | None  # None: unlimited
    shown_until: datetime | None
    redeem_from: datetime | None
    redeem_until: datetime | None
    my_redeemed: int
    redeemable: bool
    unavailable_reason: UnavailableReason | None


class AdminRewardOut(_RewardFields):
    stock: int | None
    redeemed: int
    stock_left: int | None
    per_member_limit: int | None
    shown_from: datetime | None
    shown_until: datetime | None
    redeem_from: datetime | None
    redeem_until: datetime | None
    active: bool
    sort: int
    created_at: datetime
    updated_at: datetime


class ShippingOut(BaseModel):
    name: str
    phone: str
    address: str


class RedemptionOut(BaseModel):
    id: str
    reward_id: str
    kind: RewardKind
    reward_name: str
    quantity: int
    points: int
    status: RedemptionStatus
    code: str | None = Field(description="voucher code the member shows at the counter")
    coupon_ids: list[str]
    shipping: ShippingOut | None
    tracking_no: str | None
    created_at: datetime
    fulfilled_at: datetime | None
    cancelled_at: datetime | None


class AdminRedemptionOut(RedemptionOut):
    member_id: str
