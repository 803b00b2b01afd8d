"""Templates and coupons as the API shows them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.context import now
from growthloop.promotions import repository as repo
from growthloop.promotions.checkout import wallet_status
from growthloop.promotions.models import Coupon, CouponTemplate
from growthloop.promotions.schemas import (
    AdminCouponTemplateOut,
    AutoIssue,
    CouponKind,
    CouponOut,
    CouponSource,
    CouponTemplateOut,
    Obtain,
)


def _terms(t: CouponTemplate) -> dict[str, Any]:
    """What a coupon of the template takes off, and from what: shown on templates and on
    the coupons given from them."""
    return {
        "name": t.name,
        "kind": cast(CouponKind, t.kind),
        "value": t.value,
        "min_spend": t.min_spend,
        "max_discount": t.max_discount,
        "product_ids": list(t.product_ids),
        "category_ids": list(t.category_ids),
        "stacks_with_campaigns": t.stacks_with_campaigns,
    }


def template_out(t: CouponTemplate) -> CouponTemplateOut:
    return CouponTemplateOut(
        id=t.id,
        **_terms(t),
        per_member_limit=t.per_member_limit,
        remaining=None if t.total is None else t.total - t.claimed,
        valid_from=t.valid_from,
        valid_until=t.valid_until,
        valid_days=t.valid_days,
    )


def admin_template_out(t: CouponTemplate) -> AdminCouponTemplateOut:
    return AdminCouponTemplateOut(
        **template_out(t).model_dump(),
        total=t.total,
        claimed=t.claimed,
        auto_issue=cast(AutoIssue | None, t.auto_issue),
        auto_issue_tiers=list(t.auto_issue_tiers),
        obtain=cast(Obtain, t.obtain),
        active=t.active,
        created_at=t.created_at,
        updated_at=t.updated_at,
    )


def _coupon_out(c: Coupon, t: CouponTemplate, at: datetime) -> CouponOut:
    return CouponOut(
        id=c.id,
        template_id=t.id,
        **_terms(t),
        status=wallet_status(c, at),
        source=cast(CouponSource, c.source),
        valid_from=c.valid_from,
        valid_until=c.valid_until,
        order_id=c.order_id,
        claimed_at=c.claimed_at,
        used_at=c.used_at,
    )


async def coupons_out(session: AsyncSession, coupons: Sequence[Coupon]) -> list[CouponOut]:
    """The coupons with their templates' terms, and their status as members see it now."""
    templates = await repo.templates_by_ids(session, (c.template_id for c in coupons))
    at = now(session)
    return [_coupon_out(c, templates[c.template_id], at) for c in coupons]
