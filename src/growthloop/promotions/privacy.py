"""Promotions' part of the data export and of account deletion (注销).

Erased: the member's coupons are voided by deleting them, whatever their status, and so
are their per-template claim counters (`coupon_claim_counts`).

Kept: the templates' `claimed` totals (how many coupons a template has issued, which the
template's `total` caps): the coupons were issued, and voiding them does not give them
back to the pool. An order that used a coupon keeps its `coupon_id` and
`coupon_discount` (accounting); the id then points at no coupon.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.privacy import Erasure, PrivacyHandler, delete_by_member, iso
from growthloop.promotions.models import Coupon, CouponClaimCount, CouponTemplate

_MEMBER_TABLES = (Coupon, CouponClaimCount)


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(Coupon, CouponTemplate.name, CouponTemplate.kind, CouponTemplate.value)
        .join(CouponTemplate, CouponTemplate.id == Coupon.template_id)
        .where(Coupon.merchant_id == merchant_id, Coupon.member_id == member_id)
        .order_by(Coupon.claimed_at, Coupon.id)
    )
    return [
        {
            "id": c.id,
            "template_id": c.template_id,
            "name": name,
            "kind": kind,
            "value": value,
            "status": c.status,
            "source": c.source,
            "order_id": c.order_id,
            "valid_from": iso(c.valid_from),
            "valid_until": iso(c.valid_until),
            "claimed_at": iso(c.claimed_at),
            "used_at": iso(c.used_at),
        }
        for c, name, kind, value in rows
    ]


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    return await delete_by_member(session, erasure.merchant_id, erasure.member_id, *_MEMBER_TABLES)


HANDLER = PrivacyHandler(
    section="coupons",
    tables=tuple(model.__tablename__ for model in _MEMBER_TABLES),
    export=export,
    erase=erase,
    keeps="templates' issued totals (coupons voided do not return to the pool)",
)
