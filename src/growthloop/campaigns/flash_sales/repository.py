"""Every query of the flash-sale tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.flash_sales.models import FlashSale, FlashSalePurchase
from growthloop.core.sql import mark_committed, move_status, sweep_batch

TAKEN = ("held", "paid")


@dataclass(frozen=True)
class Counts:
    held: int
    paid: int
    buyers: int


async def get_sale(session: AsyncSession, sale_id: str) -> FlashSale | None:
    return await session.get(FlashSale, sale_id)


async def counts(session: AsyncSession, sale_ids: list[str]) -> dict[str, Counts]:
    p = FlashSalePurchase
    stmt = (
        select(
            p.flash_sale_id,
            func.coalesce(func.sum(p.quantity).filter(p.status == "held"), 0),
            func.coalesce(func.sum(p.quantity).filter(p.status == "paid"), 0),
            func.count(func.distinct(p.member_id)).filter(p.status == "paid"),
        )
        .where(p.flash_sale_id.in_(sale_ids))
        .group_by(p.flash_sale_id)
    )
    found = {
        sid: Counts(int(held), int(paid), int(buyers))
        for sid, held, paid, buyers in await session.execute(stmt)
    }
    return {sid: found.get(sid, Counts(0, 0, 0)) for sid in sale_ids}


async def units_by_member(session: AsyncSession, sale_id: str) -> dict[str, int]:
    """Units each member holds or bought: what a stock pool is loaded from."""
    p = FlashSalePurchase
    stmt = (
        select(p.member_id, func.sum(p.quantity))
        .where(p.flash_sale_id == sale_id, p.status.in_(TAKEN))
        .group_by(p.member_id)
    )
    return {member: int(units) for member, units in await session.execute(stmt)}


async def purchase_of_order(session: AsyncSession, order_id: str) -> FlashSalePurchase | None:
    stmt = select(FlashSalePurchase).where(FlashSalePurchase.order_id == order_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def move_purchase(
    session: AsyncSession, purchase: FlashSalePurchase, before: str, after: str, now: datetime
) -> bool:
    """Guarded status change: True if this call moved it (a retried event moves nothing)."""
    extra = {"released_at": now} if after == "released" else {}
    return await move_status(session, purchase, before, after, **extra)


async def due_to_close(session: AsyncSession, before: datetime, limit: int) -> list[str]:
    """Sales over before `before` (ended, or ended early), not closed, none of whose
    purchases still wait for payment; claimed with SKIP LOCKED for several workers."""
    sale = FlashSale
    held = exists().where(
        and_(FlashSalePurchase.flash_sale_id == sale.id, FlashSalePurchase.status == "held")
    )
    stmt = select(sale.id).where(
        sale.closed_at.is_(None),
        (sale.ends_at <= before)
        | (sale.ended_early_at.is_not(None) & (sale.ended_early_at <= before)),
        ~held,
    )
    return list((await session.execute(sweep_batch(stmt, sale.ends_at, limit))).scalars())


async def close(session: AsyncSession, sale: FlashSale, returned: int, now: datetime) -> bool:
    result = await session.execute(
        update(FlashSale)
        .where(FlashSale.id == sale.id, FlashSale.closed_at.is_(None))
        .values(closed_at=now, returned_units=returned)
        .returning(FlashSale.id)
    )
    moved = result.first() is not None
    if moved:
        mark_committed(sale, closed_at=now, returned_units=returned)
    return moved
