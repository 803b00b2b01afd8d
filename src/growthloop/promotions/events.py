"""What promotions tells the other domains."""

from __future__ import annotations

from typing import ClassVar

from growthloop.core.events import DomainEvent
from growthloop.promotions.schemas import CouponSource


class CouponClaimed(DomainEvent):
    """A member got a coupon: claimed, issued by an operator, or granted (`source`)."""

    name: ClassVar[str] = "coupon.claimed"
    template_id: str
    coupon_id: str
    source: CouponSource
