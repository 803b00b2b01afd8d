from __future__ import annotations

import itertools
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, model_validator

from growthloop.core.money import PositiveFen
from growthloop.core.schemas import Id, Instant, Name, Strict
from growthloop.orders.schemas import OptionText

FlashSaleStatus = Literal["scheduled", "running", "between_slots", "sold_out", "ended"]

Units = Annotated[int, Field(strict=True, ge=1, le=1_000_000)]
PerMember = Annotated[int, Field(strict=True, ge=1, le=100)]
Quantity = Annotated[int, Field(strict=True, ge=1, le=99)]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class Slot(Strict):
    """A daily selling slot in the merchant's local time, e.g. 10:00-10:30."""

    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _ordered(self) -> Slot:
        if self.end <= self.start:
            raise ValueError("a slot ends after it starts, within one day")
        return self


class FlashSaleIn(Strict):
    """`stock` units are moved out of the product's stock when the sale is created, and the
    units still unsold go back to it when the sale is over. `price` replaces the product's
    price for one unit; chosen options still add their price deltas."""

    product_id: Id
    price: PositiveFen
    stock: Units
    starts_at: Instant
    ends_at: Instant
    per_member_limit: PerMember = 1
    per_order_limit: Quantity | None = None
    name: Name | None = None
    slots: list[Slot] | None = Field(None, max_length=12)

    @model_validator(mode="after")
    def _consistent(self) -> FlashSaleIn:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.slots is not None:
            if not self.slots:
                raise ValueError("slots, when given, list at least one slot")
            ordered = sorted(self.slots, key=lambda s: s.start)
            for a, b in itertools.pairwise(ordered):
                if b.start < a.end:
                    raise ValueError("slots must not overlap")
        return self


class PurchaseIn(Strict):
    quantity: Quantity = 1
    options: dict[OptionText, OptionText] | None = Field(None, max_length=10)


class FlashSaleOut(BaseModel):
    id: str
    product_id: str
    name: str
    price: int
    regular_price: int
    stock: int
    stock_left: int
    per_member_limit: int
    per_order_limit: int | None
    starts_at: datetime
    ends_at: datetime
    slots: list[Slot] | None
    status: FlashSaleStatus
    next_open_at: datetime | None = Field(
        None, description="when a scheduled sale or the next daily slot opens"
    )


class AdminFlashSaleOut(FlashSaleOut):
    held: int = Field(description="units in orders waiting for payment")
    sold: int = Field(description="units in paid orders")
    buyers: int
    closed_at: datetime | None
    returned_units: int = Field(description="unsold units given back to the product")
    ended_early_at: datetime | None
    created_at: datetime
