from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from growthloop.core.money import PositiveFen
from growthloop.core.schemas import Id, Instant, Name, Strict
from growthloop.orders.schemas import OptionText

InstanceStatus = Literal["active", "floor_reached", "purchased", "expired"]

Helpers = Annotated[int, Field(strict=True, ge=1, le=100)]
Minutes = Annotated[int, Field(strict=True, ge=5, le=30 * 24 * 60)]


class BargainIn(Strict):
    """Friends cut `original_price` down to `floor_price` in `helpers_needed` helps within
    `duration_minutes` of the start; each helper cuts 20-50 % of what remains (the last one
    exactly the rest). `helps_per_day`: how many bargains one member may help a day."""

    product_id: Id
    original_price: PositiveFen
    floor_price: PositiveFen
    helpers_needed: Helpers
    duration_minutes: Minutes
    helps_per_day: Annotated[int, Field(strict=True, ge=1, le=100)] = 3
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    name: Name | None = None

    @model_validator(mode="after")
    def _consistent(self) -> BargainIn:
        if self.floor_price >= self.original_price:
            raise ValueError("floor_price must be below original_price")
        if self.original_price - self.floor_price < self.helpers_needed:
            raise ValueError("the gap between the prices must allow 1 fen for every helper")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class BargainPurchaseIn(Strict):
    options: dict[OptionText, OptionText] | None = Field(None, max_length=10)


class BargainOut(BaseModel):
    id: str
    product_id: str
    name: str
    original_price: int
    floor_price: int
    helpers_needed: int
    duration_minutes: int
    helps_per_day: int
    starts_at: datetime
    ends_at: datetime | None
    status: Literal["scheduled", "running", "ended"]


class AdminBargainOut(BargainOut):
    instances: int
    purchased: int
    ended_early_at: datetime | None
    created_at: datetime


class HelpOut(BaseModel):
    """One cut, without who made it (other people are not shown), except to themself."""

    seq: int
    cut: int
    price_after: int
    created_at: datetime
    is_me: bool = False


class InstanceOut(BaseModel):
    id: str
    bargain_id: str
    original_price: int
    floor_price: int
    current_price: int
    helpers_needed: int
    helps: int
    helpers_left: int
    status: InstanceStatus
    expires_at: datetime
    order_id: str | None
    is_mine: bool = False
    cuts: list[HelpOut]
    created_at: datetime


class HelpResultOut(BaseModel):
    cut: int
    current_price: int
    helps: int
    helpers_left: int
    status: InstanceStatus
