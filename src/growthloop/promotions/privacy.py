"""Promotions' part of the data export and of account deletion (注销).

Erased: the member's coupons are voided by deleting them, whatever their status, and so
are their per-template claim counters (`coupon_claim_counts`).

Kept: the templates' `claimed` totals (how many coupons a template has issued, which the
template's `total` caps): the coupons were issued, and voiding them does not give them
back to the pool. An order that used a coupon keeps its `coupon_id` and
`coupon_discount` (accounting); the id then points at no coupon.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.compliance.registry import Erasure, PrivacyHandler
from growthloop.promotions.models import Coupon, CouponClaimCount, CouponTemplate


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


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
            "valid_from": _iso(c.valid_from),
            "valid_until": _iso(c.valid_until),
            "claimed_at": _iso(c.claimed_at),
            "used_at": _iso(c.used_at),
        }
        for c, name, kind, value in rows
    ]


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    counts: dict[str, int] = {}
    for model in (Coupon, CouponClaimCount):
        result = await session.execute(
            delete(model).where(
                model.merchant_id == erasure.merchant_id, model.member_id == erasure.member_id
            ),
            execution_options={"synchronize_session": False},
        )
        counts[model.__tablename__] = int(getattr(result, "rowcount", 0) or 0)
    return counts


HANDLER = PrivacyHandler(
    section="coupons",
    tables=("coupons", "coupon_claim_counts"),
    export=export,
    erase=erase,
    keeps="templates' issued totals (coupons voided do not return to the pool)",
)
