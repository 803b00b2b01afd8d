"""Server-side pricing. Pure functions over integer fen; the client never sends a price.

The steps, in this fixed order:
  1. campaign price (flash sale, group buy, bargain): a campaign line is charged the
     campaign's price; `campaign_discount` = regular minus campaign price, exact per line.
  2. subtotal: the line totals at the prices charged (campaign prices included), so
     `regular_subtotal` = subtotal + campaign_discount.
  3. tier discount: each line NOT at a campaign price loses `percent_of(line total, tier
     percent)`, rounded half-up per line (so a refund of one line is exact). A campaign
     price is already the shop's deepest price: member discounts do not stack on it.
  4. coupon: the discount the coupon quoted on the lines after the tier discount
     (`after_tier`); campaign lines count only for a coupon whose template
     `stacks_with_campaigns` (promotions.quote leaves the others out).
  5. points: the deduction the points quoted on what is left.
  -> payable = subtotal - tier - coupon - points
             = regular_subtotal - campaign - tier - coupon - points,
     never below 1 fen: a campaign price is at least 1 fen a unit, and each later discount
     is capped so that at least 1 fen remains, tier first, then coupon, then points.
`discount` is tier + coupon, the reductions of the subtotal (orders store it so).
Every amount is an integer number of fen. Rounding: the tier discount half-up per line; a
percent_off coupon half-up on its eligible amount (promotions.discount_for); points only in
whole fen (loyalty.quote_points refuses the rest), their cap (a percent) rounded down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from growthloop.core.money import percent_of

CampaignKind = Literal["flash_sale", "group_buy", "bargain"]


class PricingError(ValueError):
    pass


@dataclass(frozen=True)
class Campaign:
    """The line is sold at a campaign's price; `regular_price` is what one unit (options
    included) costs without the campaign, never less than the campaign's unit price."""

    kind: CampaignKind
    regular_price: int


@dataclass(frozen=True)
class Line:
    product_id: str | None
    name: str
    base_price: int  # the campaign's price when `campaign` is set
    option_delta: int
    quantity: int
    category_id: str | None = None
    campaign: Campaign | None = None

    @property
    def unit_price(self) -> int:
        """What one unit is charged, before member discounts."""
        return self.base_price + self.option_delta

    @property
    def total(self) -> int:
        return self.unit_price * self.quantity

    @property
    def regular_total(self) -> int:
        if self.campaign is None:
            return self.total
        return self.campaign.regular_price * self.quantity

    @property
    def campaign_discount(self) -> int:
        return self.regular_total - self.total


@dataclass(frozen=True)
class Breakdown:
    lines: tuple[Line, ...]
    subtotal: int  # at the prices charged
    campaign_discount: int  # already out of the subtotal
    tier_discount: int
    coupon_discount: int
    points_deduction: int
    payable: int

    @property
    def regular_subtotal(self) -> int:
        return self.subtotal + self.campaign_discount

    @property
    def discount(self) -> int:
        """The reductions of the subtotal: tier + coupon."""
        return self.tier_discount + self.coupon_discount


def after_tier(lines: list[Line], tier_percent: int) -> list[int]:
    """Each line's amount after the tier discount; campaign lines keep their price."""
    return [
        line.total if line.campaign else line.total - percent_of(line.total, tier_percent)
        for line in lines
    ]


def _check(lines: list[Line], tier_percent: int, coupon: int, points: int) -> None:
    if not lines:
        raise PricingError("an order needs at least one line")
    for line in lines:
        if line.quantity < 1 or line.unit_price < 1:
            raise PricingError(f"line {line.name!r} has a non-positive quantity or price")
        if line.campaign is not None and line.campaign.regular_price < line.unit_price:
            raise PricingError(f"line {line.name!r} has a campaign price above its regular price")
    if coupon < 0 or points < 0 or not 0 <= tier_percent <= 100:
        raise PricingError("discounts are never negative")


def price(
    lines: list[Line],
    *,
    tier_percent: int = 0,
    coupon_discount: int = 0,
    points_deduction: int = 0,
) -> Breakdown:
    _check(lines, tier_percent, coupon_discount, points_deduction)
    campaign = sum(line.campaign_discount for line in lines)
    subtotal = sum(line.total for line in lines)  # >= 1: every unit costs at least 1 fen
    tier = min(subtotal - sum(after_tier(lines, tier_percent)), subtotal - 1)
    coupon = min(coupon_discount, subtotal - tier - 1)
    points = min(points_deduction, subtotal - tier - coupon - 1)
    payable = subtotal - tier - coupon - points
    return Breakdown(tuple(lines), subtotal, campaign, tier, coupon, points, payable)
