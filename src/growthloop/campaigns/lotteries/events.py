"""What lotteries tell the other domains: a member drew (and what it gave), and staff
redeemed a product prize's voucher at the counter. Analytics records the draws."""

from __future__ import annotations

from typing import ClassVar

from growthloop.core.events import MemberEvent


class DrawEvent(MemberEvent):
    """What every lottery event carries: the draw, its lottery and the member who drew."""

    draw_id: str
    lottery_id: str


class LotteryDrew(DrawEvent):
    """member_id: who drew. `won`: anything but the `none` prize; `paid_points`: 0 for a
    free draw; `coupon_id` / `points`: what a coupon or points prize granted."""

    name: ClassVar[str] = "lottery.drew"
    prize_id: str
    prize_kind: str
    prize_name: str
    won: bool
    free_draw: bool
    paid_points: int
    coupon_id: str | None
    points: int | None


class LotteryVoucherRedeemed(DrawEvent):
    """member_id: the winner whose product voucher was redeemed."""

    name: ClassVar[str] = "lottery.voucher_redeemed"
    product_id: str | None
