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

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.privacy import Erasure, PrivacyHandler, delete_by_member, member_rows
from growthloop.promotions.models import Coupon, CouponClaimCount, CouponTemplate

_MEMBER_TABLES = (Coupon, CouponClaimCount)


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> list[dict[str, Any]]:
    c, t = Coupon, CouponTemplate
    return await member_rows(
        session,
        c,
        merchant_id,
        member_id,
        "id",
        "template_id",
        t.name.label("name"),
        t.kind.label("kind"),
        t.value.label("value"),
        "status",
        "source",
        "order_id",
        "valid_from",
        "valid_until",
        "claimed_at",
        "used_at",
        join=(t, t.id == c.template_id),
        order_by=(c.claimed_at, c.id),
    )


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    return await delete_by_member(session, erasure.merchant_id, erasure.member_id, *_MEMBER_TABLES)


HANDLER = PrivacyHandler(
    section="coupons",
    tables=tuple(model.__tablename__ for model in _MEMBER_TABLES),
    export=export,
    erase=erase,
    keeps="templates' issued totals (coupons voided do not return to the pool)",
)
