"""Flash sales as members and operators see them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.flash_sales import pool
from growthloop.campaigns.flash_sales import repository as repo
from growthloop.campaigns.flash_sales.models import FlashSale
from growthloop.campaigns.flash_sales.schemas import AdminFlashSaleOut, FlashSaleOut, Slot
from growthloop.campaigns.kinds import shown
from growthloop.catalog import service as catalog
from growthloop.core.context import context_of, merchant_timezone, now


async def sales_out(session: AsyncSession, sales: list[FlashSale]) -> list[FlashSaleOut]:
    """What members see: the price, the window and the units left."""
    if not sales:
        return []
    at = now(session)
    stock = context_of(session).stock
    regular = await catalog.prices_of(session, [s.product_id for s in sales])
    tz = await merchant_timezone(session, sales[0].merchant_id)
    out = []
    for sale in sales:
        status, next_open = pool.Snapshot.of(sale, tz).opening(at)
        left = await pool.units_left(stock, session, sale)
        out.append(
            shown(
                FlashSaleOut,
                sale,
                at,
                regular_price=regular.get(sale.product_id, sale.price),
                stock_left=left,
                slots=[Slot(**s) for s in sale.slots] if sale.slots else None,
                status="sold_out" if status == "running" and left == 0 else status,
                next_open_at=next_open,
            )
        )
    return out


async def admin_sales_out(session: AsyncSession, sales: list[FlashSale]) -> list[AdminFlashSaleOut]:
    """What operators see besides: units held and sold, buyers, and the close."""
    counts = await repo.counts(session, [s.id for s in sales]) if sales else {}
    return [
        AdminFlashSaleOut(
            **public.model_dump(),
            held=counts[sale.id].held,
            sold=counts[sale.id].paid,
            buyers=counts[sale.id].buyers,
            closed_at=sale.closed_at,
            returned_units=sale.returned_units,
            ended_early_at=sale.ended_early_at,
            created_at=sale.created_at,
        )
        for sale, public in zip(sales, await sales_out(session, sales), strict=True)
    ]
