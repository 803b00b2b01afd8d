"""Rows of the points mall as the API shows them: to members, and to staff (shipping
contacts masked unless revealed through `tasks.staff_redemptions`, which audits it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from growthloop.core import crypto
from growthloop.mall.models import Redemption, Reward
from growthloop.mall.schemas import (
    AdminRedemptionOut,
    AdminRewardOut,
    RedemptionOut,
    RedemptionStatus,
    RewardKind,
    RewardOut,
    ShippingOut,
)
from growthloop.mall.service import Availability, redeem_end, redeem_start, stock_left


def _reward_fields(r: Reward) -> dict[str, Any]:
    """What members and staff both see of a reward."""
    return {
        "id": r.id,
        "kind": cast(RewardKind, r.kind),
        "name": r.name,
        "description": r.description,
        "image_url": r.image_url,
        "template_id": r.template_id,
        "product_id": r.product_id,
        "points_cost": r.points_cost,
    }


def admin_reward_out(r: Reward) -> AdminRewardOut:
    return AdminRewardOut(
        **_reward_fields(r),
        stock=r.stock,
        redeemed=r.redeemed,
        stock_left=stock_left(r),
        per_member_limit=r.per_member_limit,
        shown_from=r.shown_from,
        shown_until=r.shown_until,
        redeem_from=r.redeem_from,
        redeem_until=r.redeem_until,
        active=r.active,
        sort=r.sort,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


def rewards_out(
    rewards: Sequence[Reward], availability: Mapping[str, Availability]
) -> list[RewardOut]:
    """`redeemable` says whether the member can redeem one unit now: false with the reason
    (`service.availability`). The redemption window is the effective one."""
    out = []
    for r in rewards:
        mine, reason = availability[r.id].mine, availability[r.id].reason
        out.append(
            RewardOut(
                **_reward_fields(r),
                per_member_limit=r.per_member_limit,
                stock_left=stock_left(r),
                shown_until=r.shown_until,
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
    return RedemptionOut(
        id=r.id,
        reward_id=r.reward_id,
        kind=cast(RewardKind, r.kind),
        reward_name=r.reward_name,
        quantity=r.quantity,
        points=r.points,
        status=cast(RedemptionStatus, r.status),
        code=r.code,
        coupon_ids=list(r.coupon_ids),
        shipping=shipping,
        tracking_no=r.tracking_no,
        created_at=r.created_at,
        fulfilled_at=r.fulfilled_at,
        cancelled_at=r.cancelled_at,
    )


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
