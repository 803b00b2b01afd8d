"""Coupons on an order, the lifecycle orders drives: quote -> lock -> redeem, or release;
restore on refund. Never commits. `service` hands these to orders.

Each move is a guarded UPDATE of the coupon's status, so a coupon is held by one order at
a time, and a repeated move (a replayed payment, a second refund notice) changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.money import percent_of
from growthloop.promotions import repository as repo
from growthloop.promotions.errors import (
    CouponNotApplicable,
    CouponNotAvailable,
    CouponNotFound,
    MinSpendNotMet,
)
from growthloop.promotions.models import Coupon, CouponTemplate
from growthloop.promotions.schemas import CouponStatus


@dataclass(frozen=True)
class CouponLine:
    """One priced order line, after campaign/tier prices."""

    product_id: str | None
    category_id: str | None
    amount: int  # fen, the line's total
    # At a campaign price (flash sale, group buy, bargain): only a template that
    # `stacks_with_campaigns` counts it.
    campaign: bool = False


@dataclass(frozen=True)
class CouponQuote:
    coupon_id: str
    discount: int  # fen, 0 < discount <= eligible_amount
    eligible_amount: int


def wallet_status(coupon: Coupon, now: datetime) -> CouponStatus:
    """An available coupon past its end reads as expired; nothing is written for that."""
    ended = coupon.valid_until is not None and coupon.valid_until <= now
    return (
        "expired" if coupon.status == "available" and ended else cast(CouponStatus, coupon.status)
    )


async def _member_coupon(
    session: AsyncSession, merchant_id: str, member_id: str, coupon_id: str
) -> Coupon:
    coupon = await repo.get_coupon(session, coupon_id)
    if coupon is None or coupon.merchant_id != merchant_id or coupon.member_id != member_id:
        raise CouponNotFound(coupon_id=coupon_id)
    return coupon


def _check_usable(coupon: Coupon, now: datetime) -> None:
    status = wallet_status(coupon, now)
    if status != "available":
        raise CouponNotAvailable(coupon_id=coupon.id, status=status)
    if coupon.valid_from > now:
        raise CouponNotAvailable(
            "This coupon is not valid yet.",
            coupon_id=coupon.id,
            status=status,
            valid_from=coupon.valid_from.isoformat(),
        )


def _in_scope(template: CouponTemplate, line: CouponLine) -> bool:
    if line.campaign and not template.stacks_with_campaigns:
        return False
    if not template.product_ids and not template.category_ids:
        return True
    return line.product_id in template.product_ids or line.category_id in template.category_ids


def eligible_amount(template: CouponTemplate, lines: Sequence[CouponLine]) -> int:
    """What the coupon may take its discount from: the lines in its scope, campaign-priced
    lines only when the template stacks with campaigns."""
    return sum(line.amount for line in lines if _in_scope(template, line))


def discount_for(template: CouponTemplate, eligible_amount: int) -> int:
    """The discount on `eligible_amount` fen, never more than it."""
    if template.kind == "amount_off":
        return min(template.value, eligible_amount)
    discount = percent_of(eligible_amount, template.value)
    if template.max_discount is not None:
        discount = min(discount, template.max_discount)
    return min(discount, eligible_amount)


async def quote(
    session: AsyncSession,
    *,
    merchant_id: str,
    member_id: str,
    coupon_id: str,
    lines: list[CouponLine],
    now: datetime,
) -> CouponQuote:
    """What the member's coupon takes off these lines; min_spend applies to the in-scope
    amount, which leaves out campaign-priced lines unless the template stacks with campaigns.
    Raises CouponNotFound, CouponNotAvailable, CouponNotApplicable, MinSpendNotMet."""
    coupon = await _member_coupon(session, merchant_id, member_id, coupon_id)
    _check_usable(coupon, now)
    template = await repo.get_template(session, coupon.template_id)
    assert template is not None  # a foreign key
    eligible = eligible_amount(template, lines)
    if eligible <= 0:
        raise CouponNotApplicable(coupon_id=coupon_id)
    if eligible < template.min_spend:
        raise MinSpendNotMet(
            coupon_id=coupon_id, min_spend=template.min_spend, eligible_amount=eligible
        )
    discount = discount_for(template, eligible)
    if discount <= 0:  # a percentage of a few fen rounds to nothing
        raise CouponNotApplicable("The coupon takes nothing off this order.", coupon_id=coupon_id)
    return CouponQuote(coupon_id=coupon_id, discount=discount, eligible_amount=eligible)


async def lock(session: AsyncSession, *, coupon_id: str, order_id: str, now: datetime) -> None:
    """available -> locked for `order_id`; the guard also re-checks validity at `now`."""
    if not await repo.lock(session, coupon_id, order_id, now):
        raise CouponNotAvailable(coupon_id=coupon_id)


async def release(session: AsyncSession, *, order_id: str, now: datetime) -> None:
    """locked -> available when the order is cancelled or expires. Idempotent."""
    await repo.release(session, order_id)


async def redeem(session: AsyncSession, *, order_id: str, now: datetime) -> None:
    """locked -> used when the order is paid. Idempotent."""
    await repo.redeem(session, order_id, now)


async def restore(session: AsyncSession, *, order_id: str, now: datetime) -> None:
    """used -> available on refund while still valid, else -> expired. Idempotent."""
    await repo.restore(session, order_id, now)
