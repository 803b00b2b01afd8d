"""Server-side pricing. Pure functions over integer fen; the client never sends a price.

The steps, in this fixed order (campaign prices arrive as the lines' base prices):
  1. line totals -> subtotal
  2. tier discount: each line loses `percent_of(line total, tier percent)`, rounded
     half-up per line (so a refund of one line is exact)
  3. coupon: the discount the coupon quoted on the lines after the tier discount
  4. points: the deduction the points quoted on what is left
  -> payable = subtotal - tier - coupon - points, never below 1 fen: each discount is
     capped so that at least 1 fen remains, tier first, then coupon, then points.
"""

from __future__ import annotations

from dataclasses import dataclass

from growthloop.core.money import percent_of


class PricingError(ValueError):
    pass


@dataclass(frozen=True)
class Line:
    product_id: str | None
    name: str
    base_price: int
    option_delta: int
    quantity: int
    category_id: str | None = None

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
    tier_discount: int
    coupon_discount: int
    points_deduction: int
    payable: int

    @property
    def discount(self) -> int:
        return self.tier_discount + self.coupon_discount


def after_tier(lines: list[Line], tier_percent: int) -> list[int]:
    """Each line's amount after the tier discount (what a coupon is quoted on)."""
    return [line.total - percent_of(line.total, tier_percent) for line in lines]


def price(
    lines: list[Line],
    *,
    tier_percent: int = 0,
    coupon_discount: int = 0,
    points_deduction: int = 0,
) -> Breakdown:
    if not lines:
        raise PricingError("an order needs at least one line")
    for line in lines:
        if line.quantity < 1 or line.unit_price < 1:
            raise PricingError(f"line {line.name!r} has a non-positive quantity or price")
    if coupon_discount < 0 or points_deduction < 0 or not 0 <= tier_percent <= 100:
        raise PricingError("discounts are never negative")
    subtotal = sum(line.total for line in lines)
    tier = min(subtotal - sum(after_tier(lines, tier_percent)), subtotal - 1)
    coupon = min(coupon_discount, subtotal - tier - 1)
    points = min(points_deduction, subtotal - tier - coupon - 1)
    payable = subtotal - tier - coupon - points
    return Breakdown(tuple(lines), subtotal, tier, coupon, points, payable)
