"""Rows of the points mall as the API shows them: to members, and to staff (shipping
contacts masked unless revealed through `tasks.staff_redemptions`, which audits it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from growthloop.core import crypto
from growthloop.core.presenting import from_row
from growthloop.mall.models import Redemption, Reward
from growthloop.mall.schemas import (
    AdminRedemptionOut,
    AdminRewardOut,
    RedemptionOut,
    RewardOut,
    ShippingOut,
)
from growthloop.mall.service import Availability, redeem_end, redeem_start, stock_left


def admin_reward_out(r: Reward) -> AdminRewardOut:
    return from_row(AdminRewardOut, r, stock_left=stock_left(r))


def rewards_out(
    rewards: Sequence[Reward], availability: Mapping[str, Availability]
) -> list[RewardOut]:
    """`redeemable` says whether the member can redeem one unit now: false with the reason
    (`service.availability`). The redemption window is the effective one."""
    out = []
    for r in rewards:
        mine, reason = availability[r.id].mine, availability[r.id].reason
        out.append(
            from_row(
                RewardOut,
                r,
                stock_left=stock_left(r),
                redeem_from=redeem_start(r),
                redeem_until=redeem_end(r),
                my_redeemed=mine,
                redeemable=reason is None,
                unavailable_reason=reason,
            )
        )
    return out


def redemption_out(r: Redemption) -> RedemptionOut:
    shipping = None
    if r.ship_name is not None and r.ship_phone is not None and r.ship_address is not None:
        shipping = ShippingOut(name=r.ship_name, phone=r.ship_phone, address=r.ship_address)
    return from_row(RedemptionOut, r, shipping=shipping)


def admin_redemption_out(r: Redemption, *, reveal: bool = False) -> AdminRedemptionOut:
    """Staff see the shipping contact masked (张*, 138****1234, first 6 characters of the
    address) unless `reveal`, which only `tasks.staff_redemptions` passes, once it has
    checked the permission and audited the reveal."""
    out = redemption_out(r)
    if out.shipping is not None and not reveal:
        out.shipping = ShippingOut(
            name=crypto.mask_name(out.shipping.name),
            phone=crypto.mask_phone(out.shipping.phone),
            address=crypto.mask_address(out.shipping.address),
        )
    return AdminRedemptionOut(**out.model_dump(), member_id=r.member_id)
