"""Flash-sale rules. Never commits.

A purchase is: the sale is open (window, daily slot, not ended early), the quantity fits
the per-order cap, then ONE atomic take from the sale's stock pool checks the member's
units against the per-member limit and takes the units (`pool`), then the order is
created at the sale's price holding those units. The memory and Redis backends take
before the database transaction opens (`pool.fast_check`); the SQL backend takes inside
it.

The order's fate moves the units: cancelled or expired, they go back to the pool; paid,
they are sold. When the sale is over and nothing is held, the unsold units go back to
the product's stock (`tasks.close_due_sales`).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns import creation
from growthloop.campaigns.flash_sales import pool
from growthloop.campaigns.flash_sales import repository as repo
from growthloop.campaigns.flash_sales.errors import AlreadyEnded, FlashSaleNotFound
from growthloop.campaigns.flash_sales.events import FlashSalePurchased
from growthloop.campaigns.flash_sales.models import FlashSale, FlashSalePurchase
from growthloop.campaigns.flash_sales.pool import FastTake
from growthloop.campaigns.flash_sales.schemas import FlashSaleIn, PurchaseIn
from growthloop.campaigns.kinds import CampaignKind
from growthloop.catalog import service as catalog
from growthloop.core.context import context_of, now, uow_of
from growthloop.core.events import emit
from growthloop.core.kv import CounterBackend
from growthloop.orders import service as orders
from growthloop.orders.events import OrderCancelled, OrderPaid
from growthloop.orders.schemas import OrderIn, OrderItemIn, OrderOut

# ---- operators ------------------------------------------------------------------------


SALES = CampaignKind(
    FlashSale,
    "flash_sale",
    lambda i: FlashSaleNotFound(flash_sale_id=i),
    AlreadyEnded,
    audited=("product_id", "stock", "price"),
    forget=pool.forget,  # its settings as this process holds them
)


async def create_sale(
    session: AsyncSession, merchant_id: str, admin_id: str, data: FlashSaleIn
) -> FlashSale:
    """422 `unknown_product` unless the product is the merchant's, 422
    `price_not_below_regular` unless the sale's price is below the product's price."""
    product = await creation.product_sold(session, merchant_id, data)
    creation.ensure_below_regular(product, data.price, "flash-sale price", price=data.price)
    sale = await SALES.create(
        session,
        merchant_id,
        admin_id,
        data,
        **creation.selling(product, data),
        returned_units=0,
    )
    # The sale's units leave the product's stock now (409 sold_out if it has too few).
    await catalog.reserve_stock(session, merchant_id, {product.id: data.stock})
    await pool.open_pool(context_of(session).stock, session, sale)
    return sale


get_sale = SALES.get
list_sales = SALES.page
# Ending one: no more purchases; the units not sold go back to the product once none is
# held.
end_sale = SALES.end


# ---- members --------------------------------------------------------------------------


async def purchase(
    session: AsyncSession,
    *,
    sale_id: str,
    merchant_id: str,
    member_id: str,
    data: PurchaseIn,
    payment_window: timedelta,
    taken: FastTake | None,
    counted: bool,
    counters: CounterBackend,
    limits: tuple[int, int],
    ip: str | None,
) -> OrderOut:
    """Create the pending order at the sale's price, holding units from the sale's pool.
    `taken`: the fast path already took them (and gives them back on rollback);
    `counted`: it counted this attempt against the rate limits (on the SQL backend it
    takes nothing ahead, and the attempt must not count twice)."""
    sale = await get_sale(session, merchant_id, sale_id)
    at = now(session)
    snap = await pool.snapshot_in(session, sale)
    if taken is None:
        # Not taken ahead (the SQL backend, or a request with an Idempotency-Key).
        if not counted:
            await pool.rate_limit(counters, limits, sale_id=sale.id, member_id=member_id, ip=ip)
        snap.ensure_open(at)
        snap.check_quantity(data.quantity)
        stock = context_of(session).stock
        if stock.transactional:
            await pool.take(stock, session, snap, member_id, data.quantity)
        else:
            await pool.take(stock, None, snap, member_id, data.quantity)
            give = FastTake(sale.id, member_id, data.quantity)
            uow_of(session).on_rollback(lambda: pool.give_back_fast(stock, give))
    else:
        snap.ensure_open(at)  # settings may have changed since the snapshot
    placed = await orders.create_order(
        session,
        merchant_id=merchant_id,
        member_id=member_id,
        data=OrderIn(
            items=[
                OrderItemIn(
                    product_id=sale.product_id, quantity=data.quantity, options=data.options
                )
            ]
        ),
        payment_window=payment_window,
        campaigns=[
            orders.CampaignPrice("flash_sale", sale.price, campaign_id=sale.id, holds_stock=True)
        ],
    )
    order = placed.order
    session.add(
        FlashSalePurchase(
            merchant_id=merchant_id,
            flash_sale_id=sale.id,
            member_id=member_id,
            order_id=order.id,
            quantity=data.quantity,
            status="held",
            created_at=at,
        )
    )
    await session.flush()
    await emit(
        session,
        FlashSalePurchased(
            merchant_id=merchant_id,
            member_id=member_id,
            flash_sale_id=sale.id,
            order_id=order.id,
            quantity=data.quantity,
        ),
    )
    return await orders.order_out(session, order, placed.lines)


# ---- following the orders (in-transaction subscribers) --------------------------------


async def on_order_paid(session: AsyncSession, event: OrderPaid) -> None:
    """The order's units are sold."""
    if event.campaign_kind is None:
        return
    purchase = await repo.purchase_of_order(session, event.order_id)
    if purchase is not None:
        await repo.move_purchase(session, purchase, "held", "paid", now(session))


async def on_order_cancelled(session: AsyncSession, event: OrderCancelled) -> None:
    """Cancelled or expired unpaid: the order's units go back to the pool."""
    if event.campaign_kind is None:
        return
    purchase = await repo.purchase_of_order(session, event.order_id)
    if purchase is None:
        return
    if not await repo.move_purchase(session, purchase, "held", "released", now(session)):
        return
    stock = context_of(session).stock
    sale_id, member_id, quantity = purchase.flash_sale_id, purchase.member_id, purchase.quantity
    if stock.transactional:
        await pool.give_back(stock, session, sale_id, member_id, quantity)
    else:
        # Outside the database: only once the release is committed.
        uow_of(session).after_commit(
            lambda: pool.give_back(stock, None, sale_id, member_id, quantity)
        )
