from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.sql import guarded, insert_unless_exists, take_counter, updated
from growthloop.promotions.models import Coupon, CouponClaimCount, CouponTemplate

# ---- templates -----------------------------------------------------------------------


async def get_template(session: AsyncSession, template_id: str) -> CouponTemplate | None:
    return await session.get(CouponTemplate, template_id)


async def templates_by_ids(session: AsyncSession, ids: Iterable[str]) -> dict[str, CouponTemplate]:
    ids = list(set(ids))
    if not ids:
        return {}
    stmt = select(CouponTemplate).where(CouponTemplate.id.in_(ids))
    return {t.id: t for t in (await session.execute(stmt)).scalars()}


def _not_sold_out() -> ColumnElement[bool]:
    return or_(CouponTemplate.total.is_(None), CouponTemplate.claimed < CouponTemplate.total)


def templates(
    merchant_id: str, *, obtain: str | None = None, claimable_at: datetime | None = None
) -> Select[CouponTemplate]:
    """The merchant's templates (paged by the caller); `obtain` only those obtained that way;
    `claimable_at` only the active, not sold out, not ended ones."""
    stmt = select(CouponTemplate).where(CouponTemplate.merchant_id == merchant_id)
    if obtain is not None:
        stmt = stmt.where(CouponTemplate.obtain == obtain)
    if claimable_at is not None:
        stmt = stmt.where(
            CouponTemplate.active.is_(True),
            _not_sold_out(),
            or_(CouponTemplate.valid_until.is_(None), CouponTemplate.valid_until > claimable_at),
        )
    return stmt


async def auto_issue_templates(
    session: AsyncSession, merchant_id: str, auto_issue: str, now: datetime
) -> list[CouponTemplate]:
    """Active, not sold out templates that `auto_issue` grants at `now`, in id order (the
    order their counters are taken in)."""
    stmt = (
        select(CouponTemplate)
        .where(
            CouponTemplate.merchant_id == merchant_id,
            CouponTemplate.auto_issue == auto_issue,
            CouponTemplate.active.is_(True),
            _not_sold_out(),
            or_(CouponTemplate.valid_from.is_(None), CouponTemplate.valid_from <= now),
            or_(CouponTemplate.valid_until.is_(None), CouponTemplate.valid_until > now),
        )
        .order_by(CouponTemplate.id)
    )
    return list((await session.execute(stmt)).scalars())


async def take_from_total(session: AsyncSession, template_id: str) -> bool:
    """Guarded atomic increment of `claimed`: False once `total` is reached."""
    return await guarded(
        session,
        update(CouponTemplate)
        .where(CouponTemplate.id == template_id, _not_sold_out())
        .values(claimed=CouponTemplate.claimed + 1),
    )


async def take_from_member_limit(
    session: AsyncSession, template: CouponTemplate, member_id: str
) -> bool:
    """Guarded atomic increment of the member's counter: False at `per_member_limit`."""
    return await take_counter(
        session,
        CouponClaimCount,
        {"template_id": template.id, "member_id": member_id},
        n=1,
        cap=template.per_member_limit,
        merchant_id=template.merchant_id,
    )


# ---- coupons -------------------------------------------------------------------------


async def get_coupon(session: AsyncSession, coupon_id: str) -> Coupon | None:
    return await session.get(Coupon, coupon_id)


async def coupon_by_issue_key(session: AsyncSession, merchant_id: str, key: str) -> Coupon | None:
    stmt = select(Coupon).where(Coupon.merchant_id == merchant_id, Coupon.issue_key == key)
    return (await session.execute(stmt)).scalar_one_or_none()


async def insert_keyed_coupon(session: AsyncSession, values: dict[str, Any]) -> bool:
    """INSERT unless a coupon of the merchant has this issue key: True if inserted. A grant
    racing with the same key waits here for the other to commit or roll back."""
    return await insert_unless_exists(
        session, Coupon, values, conflict=["merchant_id", "issue_key"]
    )


def _wallet_status(status: str, now: datetime) -> ColumnElement[bool]:
    """The SQL for a status as members see it: an available coupon past its end is expired."""
    still_valid = or_(Coupon.valid_until.is_(None), Coupon.valid_until > now)
    if status == "available":
        return and_(Coupon.status == "available", still_valid)
    if status == "expired":
        return or_(Coupon.status == "expired", and_(Coupon.status == "available", ~still_valid))
    return Coupon.status == status


def coupons_of(
    merchant_id: str, member_id: str, *, status: str | None, now: datetime
) -> Select[Coupon]:
    """The member's coupons (paged by the caller), of `status` as members see it at `now`."""
    stmt = select(Coupon).where(Coupon.merchant_id == merchant_id, Coupon.member_id == member_id)
    if status is not None:
        stmt = stmt.where(_wallet_status(status, now))
    return stmt


async def _move(session: AsyncSession, *where: ColumnElement[bool], **values: Any) -> int:
    """Guarded state change of coupons; returns how many rows moved."""
    return await updated(session, update(Coupon).where(*where).values(**values))


def _within_validity(now: datetime) -> ColumnElement[bool]:
    return and_(
        Coupon.valid_from <= now, or_(Coupon.valid_until.is_(None), Coupon.valid_until > now)
    )


async def lock(session: AsyncSession, coupon_id: str, order_id: str, now: datetime) -> bool:
    """available -> locked, only while the coupon is within its validity."""
    moved = await _move(
        session,
        Coupon.id == coupon_id,
        Coupon.status == "available",
        _within_validity(now),
        status="locked",
        order_id=order_id,
        locked_at=now,
    )
    return moved == 1


async def release(session: AsyncSession, order_id: str) -> int:
    return await _move(
        session,
        Coupon.order_id == order_id,
        Coupon.status == "locked",
        status="available",
        order_id=None,
        locked_at=None,
    )


async def redeem(session: AsyncSession, order_id: str, now: datetime) -> int:
    return await _move(
        session, Coupon.order_id == order_id, Coupon.status == "locked", status="used", used_at=now
    )


async def restore(session: AsyncSession, order_id: str, now: datetime) -> int:
    """used -> available while still valid, else -> expired (the validity is not extended)."""
    cleared: dict[str, Any] = {"order_id": None, "locked_at": None, "used_at": None}
    used = (Coupon.order_id == order_id, Coupon.status == "used")
    moved = await _move(session, *used, _within_validity(now), status="available", **cleared)
    return moved + await _move(session, *used, status="expired", **cleared)
