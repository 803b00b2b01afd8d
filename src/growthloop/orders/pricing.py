"""Server-side pricing. Pure functions over integer fen; the client never sends a price.

Order of steps (later issues add campaign price, tier discount and coupon in front of
points): line totals -> subtotal -> discount -> points deduction -> payable. Every
step is integer fen; `payable = subtotal - discount - points_deduction` exactly, and
the discounts together can never take payable below 1 fen.
"""

from __future__ import annotations

from dataclasses import dataclass


class PricingError(ValueError):
    pass


@dataclass(frozen=True)
class Line:
    product_id: str | None
    name: str
    base_price: int
    option_delta: int
    quantity: int

    @property
    def unit_price(self) -> int:
        return self.base_price + self.option_delta

    @property
    def total(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Breakdown:
    lines: tuple[Line, ...]
    subtotal: int
    discount: int
    points_deduction: int
    payable: int


def price(lines: list[Line], *, discount: int = 0, points_deduction: int = 0) -> Breakdown:
    if not lines:
        raise PricingError("an order needs at least one line")
    for line in lines:
        if line.quantity < 1 or line.unit_price < 1:
            raise PricingError(f"line {line.name!r} has a non-positive quantity or price")
    if discount < 0 or points_deduction < 0:
        raise PricingError("discounts are never negative")
    subtotal = sum(line.total for line in lines)
    # Never below 1 fen: cap the discount first, then the points.
    discount = min(discount, subtotal - 1)
    points_deduction = min(points_deduction, subtotal - discount - 1)
    payable = subtotal - discount - points_deduction
    return Breakdown(tuple(lines), subtotal, discount, points_deduction, payable)
