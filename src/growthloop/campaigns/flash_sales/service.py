"""Flash-sale rules. Never commits.

A purchase is: the sale is open (window, daily slot, not ended early), the quantity fits
the per-order cap, then ONE atomic take from the sale's stock pool checks the member's
units against the per-member limit and takes the units (`core.stock`), then the order
is created at the sale's price holding those units. The memory and Redis backends take
before the database transaction opens (see `fast_check`), so a sold-out answer and a
limit answer never touch the database; the take is given back if the transaction then
rolls back. The SQL backend takes inside the transaction.

The order's fate moves the units: cancelled or expired, they go back to the pool; paid,
they are sold. When the sale is over and nothing is held, the unsold units go back to
the product's stock.
"""

from __future__ import annotations

import logging
import time as monotonic
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.errors import Ended, InvalidCampaign, NotStarted, PriceNotBelowRegular
from growthloop.campaigns.flash_sales import repository as repo
from growthloop.campaigns.flash_sales.errors import (
    AlreadyEnded,
    FlashSaleNotFound,
    PerOrderLimitExceeded,
)
from growthloop.campaigns.flash_sales.models import FlashSale, FlashSalePurchase
from growthloop.campaigns.flash_sales.schemas import (
    AdminFlashSaleOut,
    FlashSaleIn,
    FlashSaleOut,
    FlashSaleStatus,
    PurchaseIn,
    Slot,
)
from growthloop.catalog import service as catalog
from growthloop.core import audit, references
from growthloop.core.auth import ensure_same_merchant
from growthloop.core.clock import Clock
from growthloop.core.context import context_of, uow_of
from growthloop.core.db import Database
from growthloop.core.errors import Forbidden, TooManyRequests
from growthloop.core.events import DomainEvent, NamedEvent, emit
from growthloop.core.kv import CounterBackend
from growthloop.core.pagination import PageParams, make_page
from growthloop.core.stock import PoolSoldOut, PoolState, StockBackend
from growthloop.identity import service as identity
from growthloop.orders import service as orders
from growthloop.orders.schemas import OrderIn, OrderItemIn, OrderOut

log = logging.getLogger("growthloop.flash_sales")

POOL_PREFIX = "flash:"
PURCHASED = "flash_sale.purchased"
CLOSED = "flash_sale.closed"
SNAPSHOT_SECONDS = 2.0  # how stale a process's view of a sale's settings may be
SOLD_OUT_MEMO_SECONDS = 1.0  # sql backend: answer sold-out from memory this long
RATE_WINDOW_SECONDS = 10
# A purchase that passed the window check just before the end may still be committing;
# the sale is closed (unsold units back to the product) only this long after it ends.
CLOSE_GRACE = timedelta(minutes=1)


def pool_of(sale_id: str) -> str:
    return POOL_PREFIX + sale_id


def _clock(session: AsyncSession) -> Clock:
    clock = context_of(session).clock
    assert isinstance(clock, Clock)
    return clock


def _stock(session: AsyncSession) -> StockBackend:
    stock: StockBackend = context_of(session).stock
    return stock


# ---- the sale's settings, as the hot path sees them ------------------------------------


@dataclass(frozen=True)
class Snapshot:
    id: str
    merchant_id: str
    price: int
    stock: int
    per_member_limit: int
    per_order_limit: int | None
    starts_at: datetime
    ends_at: datetime
    slots: tuple[tuple[time, time], ...] | None
    ended_early_at: datetime | None
    timezone: str

    @classmethod
    def of(cls, sale: FlashSale, timezone: str) -> Snapshot:
        slots = None
        if sale.slots:
            slots = tuple(
                (time.fromisoformat(s["start"]), time.fromisoformat(s["end"])) for s in sale.slots
            )
        return cls(
            id=sale.id,
            merchant_id=sale.merchant_id,
            price=sale.price,
            stock=sale.stock,
            per_member_limit=sale.per_member_limit,
            per_order_limit=sale.per_order_limit,
            starts_at=sale.starts_at,
            ends_at=sale.ends_at,
            slots=slots,
            ended_early_at=sale.ended_early_at,
            timezone=timezone,
        )


_snapshots: dict[str, tuple[float, Snapshot]] = {}
_sold_out_memo: dict[str, float] = {}


async def snapshot(db: Database, sale_id: str) -> Snapshot | None:
    """The sale's settings, re-read at most every SNAPSHOT_SECONDS per process."""
    cached = _snapshots.get(sale_id)
    if cached is not None and monotonic.monotonic() - cached[0] < SNAPSHOT_SECONDS:
        return cached[1]
    async with db.unit_of_work(write=False) as uow:
        sale = await repo.get_sale(uow.session, sale_id)
        if sale is None:
            return None
        snap = Snapshot.of(sale, await identity.merchant_timezone(uow.session, sale.merchant_id))
    if len(_snapshots) > 10_000:
        _snapshots.clear()
    _snapshots[sale_id] = (monotonic.monotonic(), snap)
    return snap


def _forget(sale_id: str) -> None:
    _snapshots.pop(sale_id, None)
    _sold_out_memo.pop(sale_id, None)


def _windows(s: Snapshot, after: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The selling windows ending after `after`, in order: the sale's window cut into its
    daily slots (local days in the merchant's timezone), or the window itself."""
    end = s.ended_early_at if s.ended_early_at and s.ended_early_at < s.ends_at else s.ends_at
    if s.slots is None:
        if end > after:
            yield s.starts_at, end
        return
    tz = ZoneInfo(s.timezone)
    day: date = max(after, s.starts_at).astimezone(tz).date()
    last: date = end.astimezone(tz).date()
    while day <= last:
        for start_t, end_t in sorted(s.slots):
            a = datetime.combine(day, start_t, tz)
            b = datetime.combine(day, end_t, tz)
            a, b = max(a.astimezone(UTC), s.starts_at), min(b.astimezone(UTC), end)
            if a < b and b > after:
                yield a, b
        day += timedelta(days=1)


def opening(s: Snapshot, now: datetime) -> tuple[FlashSaleStatus, datetime | None]:
    """("running", None), ("scheduled" | "between_slots", next opening) or ("ended", None)."""
    for start, _ in _windows(s, now):
        if start <= now:
            return "running", None
        return ("scheduled" if now < s.starts_at else "between_slots"), start
    return "ended", None


def ensure_open(s: Snapshot, now: datetime) -> None:
    status, next_open = opening(s, now)
    if status == "ended":
        raise Ended(ends_at=s.ends_at.isoformat())
    if status != "running":
        assert next_open is not None
        raise NotStarted(next_open_at=next_open.isoformat())


def _check_quantity(s: Snapshot, quantity: int) -> None:
    if s.per_order_limit is not None and quantity > s.per_order_limit:
        raise PerOrderLimitExceeded(per_order_limit=s.per_order_limit, requested=quantity)
    if quantity > s.per_member_limit:
        raise PerOrderLimitExceeded(per_member_limit=s.per_member_limit, requested=quantity)


async def _rate_limit(
    counters: CounterBackend,
    limits: tuple[int, int],
    *,
    sale_id: str,
    member_id: str,
    ip: str | None,
) -> None:
    per_member, per_ip = limits
    if not await counters.hit(f"flash:{sale_id}:m:{member_id}", per_member, RATE_WINDOW_SECONDS):
        raise TooManyRequests(scope="member", window_seconds=RATE_WINDOW_SECONDS)
    if ip and not await counters.hit(f"flash:ip:{ip}", per_ip, RATE_WINDOW_SECONDS):
        raise TooManyRequests(scope="ip", window_seconds=RATE_WINDOW_SECONDS)


# ---- stock pools ----------------------------------------------------------------------


async def load_pool(db: Database, pool: str) -> PoolState | None:
    """What the database says a sale's pool has given out; how memory and Redis load it."""
    sale_id = pool.removeprefix(POOL_PREFIX)
    async with db.unit_of_work(write=False) as uow:
        sale = await repo.get_sale(uow.session, sale_id)
        if sale is None:
            return None
        return PoolState(
            stock=sale.stock, by_holder=await repo.units_by_member(uow.session, sale_id)
        )


async def _take(
    stock: StockBackend, session: AsyncSession | None, s: Snapshot, member_id: str, quantity: int
) -> None:
    try:
        await stock.take(session, pool_of(s.id), member_id, quantity, s.per_member_limit)
    except PoolSoldOut:
        _sold_out_memo[s.id] = monotonic.monotonic()
        raise


async def _give_back(
    stock: StockBackend, session: AsyncSession | None, sale_id: str, member_id: str, quantity: int
) -> None:
    _sold_out_memo.pop(sale_id, None)
    await stock.give_back(session, pool_of(sale_id), member_id, quantity)


def _memo_sold_out(sale_id: str) -> bool:
    seen = _sold_out_memo.get(sale_id)
    return seen is not None and monotonic.monotonic() - seen < SOLD_OUT_MEMO_SECONDS


@dataclass(frozen=True)
class FastTake:
    """Units taken before the transaction: give them back unless it commits."""

    sale_id: str
    member_id: str
    quantity: int


async def fast_check(
    db: Database,
    stock: StockBackend,
    counters: CounterBackend,
    limits: tuple[int, int],
    *,
    sale_id: str,
    member_id: str,
    merchant_id: str,
    quantity: int,
    ip: str | None,
    now: datetime,
) -> FastTake | None:
    """Everything a purchase can be refused for without the database: rate limits, the
    window, the per-order cap, and (memory/Redis) the take itself. Returns the take, or
    None when the SQL backend will take inside the transaction."""
    s = await snapshot(db, sale_id)
    if s is None:
        raise FlashSaleNotFound(flash_sale_id=sale_id)
    if s.merchant_id != merchant_id:
        raise Forbidden("This object belongs to another merchant.")
    await _rate_limit(counters, limits, sale_id=sale_id, member_id=member_id, ip=ip)
    ensure_open(s, now)
    _check_quantity(s, quantity)
    if stock.transactional:
        if _memo_sold_out(sale_id):
            raise PoolSoldOut(left=0)
        return None
    await _take(stock, None, s, member_id, quantity)
    return FastTake(sale_id, member_id, quantity)


async def give_back_fast(stock: StockBackend, take: FastTake) -> None:
    await _give_back(stock, None, take.sale_id, take.member_id, take.quantity)


# ---- operators ------------------------------------------------------------------------


async def create_sale(
    session: AsyncSession, merchant_id: str, admin_id: str, data: FlashSaleIn
) -> FlashSale:
    """422 `unknown_product` unless the product is the merchant's, 422
    `price_not_below_regular` unless the sale's price is below the product's price."""
    now = _clock(session).now()
    await references.check(
        session, merchant_id, table="products", field="product_id", ids=[data.product_id]
    )
    product = await catalog.access_product(session, merchant_id, data.product_id)
    if data.price >= product.price:
        raise PriceNotBelowRegular(
            f"The flash-sale price {data.price} fen is not below the product's regular "
            f"price {product.price} fen.",
            price=data.price,
            regular_price=product.price,
            product_id=product.id,
        )
    if data.ends_at <= now:
        raise InvalidCampaign("ends_at is in the past.", ends_at=data.ends_at.isoformat())
    # The sale's units leave the product's stock now (409 sold_out if it has too few).
    await catalog.reserve_stock(session, merchant_id, {product.id: data.stock})
    sale = FlashSale(
        merchant_id=merchant_id,
        product_id=product.id,
        name=data.name or product.name,
        price=data.price,
        stock=data.stock,
        per_member_limit=data.per_member_limit,
        per_order_limit=data.per_order_limit,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        slots=[s.model_dump() for s in data.slots] if data.slots else None,
        returned_units=0,
        created_at=now,
    )
    session.add(sale)
    await session.flush()
    await _stock(session).open_pool(session, pool_of(sale.id), sale.stock)
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="admin",
        actor_id=admin_id,
        action="flash_sale.create",
        subject_type="flash_sale",
        subject_id=sale.id,
        product_id=product.id,
        stock=sale.stock,
        price=sale.price,
    )
    return sale


async def access_sale(session: AsyncSession, merchant_id: str, sale_id: str) -> FlashSale:
    """The sale if it exists (404) and is this merchant's (403)."""
    sale = await repo.get_sale(session, sale_id)
    if sale is None:
        raise FlashSaleNotFound(flash_sale_id=sale_id)
    ensure_same_merchant(sale.merchant_id, merchant_id)
    return sale


async def end_sale(
    session: AsyncSession, merchant_id: str, admin_id: str, sale_id: str
) -> FlashSale:
    sale = await access_sale(session, merchant_id, sale_id)
    now = _clock(session).now()
    if sale.ended_early_at is not None or sale.ends_at <= now:
        raise AlreadyEnded(flash_sale_id=sale.id)
    sale.ended_early_at = now
    await session.flush()
    uow_of(session).after_commit(lambda: _forget(sale.id))
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="admin",
        actor_id=admin_id,
        action="flash_sale.end",
        subject_type="flash_sale",
        subject_id=sale.id,
    )
    return sale


async def list_sales(
    session: AsyncSession, merchant_id: str, page: PageParams
) -> tuple[list[FlashSale], str | None]:
    rows = await repo.list_sales(session, merchant_id, limit=page.limit, before_id=page.after_id)
    return make_page(rows, page)


async def sales_out(session: AsyncSession, sales: list[FlashSale]) -> list[FlashSaleOut]:
    """What members see: the price, the window and the units left."""
    if not sales:
        return []
    now = _clock(session).now()
    stock = _stock(session)
    regular = await catalog.prices_of(session, [s.product_id for s in sales])
    tz = await identity.merchant_timezone(session, sales[0].merchant_id)
    out = []
    for sale in sales:
        status, next_open = opening(Snapshot.of(sale, tz), now)
        left = await _units_left(session, stock, sale)
        if status == "running" and left == 0:
            status = "sold_out"
        out.append(
            FlashSaleOut(
                id=sale.id,
                product_id=sale.product_id,
                name=sale.name,
                price=sale.price,
                regular_price=regular.get(sale.product_id, sale.price),
                stock=sale.stock,
                stock_left=left,
                per_member_limit=sale.per_member_limit,
                per_order_limit=sale.per_order_limit,
                starts_at=sale.starts_at,
                ends_at=sale.ends_at,
                slots=[Slot(**s) for s in sale.slots] if sale.slots else None,
                status=status,
                next_open_at=next_open,
            )
        )
    return out


async def _units_left(session: AsyncSession, stock: StockBackend, sale: FlashSale) -> int:
    if sale.closed_at is not None:
        return 0
    left = await stock.left(session, pool_of(sale.id))
    if left is None:  # the sale is being created in this transaction
        counts = (await repo.counts(session, [sale.id]))[sale.id]
        left = sale.stock - counts.held - counts.paid
    return left


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
    counters: CounterBackend,
    limits: tuple[int, int],
    ip: str | None,
) -> OrderOut:
    """Create the pending order at the sale's price, holding units from the sale's pool.
    `taken`: the fast path already took them (and gives them back on rollback)."""
    sale = await access_sale(session, merchant_id, sale_id)
    now = _clock(session).now()
    snap = Snapshot.of(sale, await identity.merchant_timezone(session, merchant_id))
    stock = _stock(session)
    if taken is None:
        # Not taken ahead (the SQL backend, or a request with an Idempotency-Key).
        await _rate_limit(counters, limits, sale_id=sale.id, member_id=member_id, ip=ip)
        ensure_open(snap, now)
        _check_quantity(snap, data.quantity)
        if stock.transactional:
            await _take(stock, session, snap, member_id, data.quantity)
        else:
            await _take(stock, None, snap, member_id, data.quantity)
            give = FastTake(sale.id, member_id, data.quantity)
            uow_of(session).on_rollback(lambda: give_back_fast(stock, give))
    else:
        ensure_open(snap, now)  # settings may have changed since the snapshot
    order = await orders.create_order(
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
    session.add(
        FlashSalePurchase(
            merchant_id=merchant_id,
            flash_sale_id=sale.id,
            member_id=member_id,
            order_id=order.id,
            quantity=data.quantity,
            status="held",
            created_at=now,
        )
    )
    await session.flush()
    await emit(
        session,
        NamedEvent(
            PURCHASED,
            merchant_id,
            {"flash_sale_id": sale.id, "order_id": order.id, "quantity": data.quantity},
            member_id,
        ),
    )
    return await orders.order_out(session, order)


# ---- following the orders (in-transaction subscribers) --------------------------------


async def on_order_paid(session: AsyncSession, event: DomainEvent) -> None:
    purchase = await repo.purchase_of_order(session, str(event.payload["order_id"]))
    if purchase is not None:
        await repo.move_purchase(session, purchase, "held", "paid", _clock(session).now())


async def on_order_cancelled(session: AsyncSession, event: DomainEvent) -> None:
    purchase = await repo.purchase_of_order(session, str(event.payload["order_id"]))
    if purchase is None:
        return
    if not await repo.move_purchase(session, purchase, "held", "released", _clock(session).now()):
        return
    stock = _stock(session)
    sale_id, member_id, quantity = purchase.flash_sale_id, purchase.member_id, purchase.quantity
    if stock.transactional:
        await _give_back(stock, session, sale_id, member_id, quantity)
    else:
        # Outside the database: only once the release is committed.
        uow_of(session).after_commit(lambda: _give_back(stock, None, sale_id, member_id, quantity))


# ---- the sweep ------------------------------------------------------------------------


async def close_due_sales(db: Database, clock: Clock, batch: int = 50) -> int:
    """Give the unsold units of sales that are over back to their products. Idempotent and
    safe with several workers (claimed with SKIP LOCKED, closed by a guarded update)."""
    total = 0
    while True:
        async with db.unit_of_work() as uow:
            s = uow.session
            now = clock.now()
            ids = await repo.due_to_close(s, now - CLOSE_GRACE, batch)
            for sale_id in ids:
                sale = await repo.get_sale(s, sale_id)
                if sale is None or sale.closed_at is not None:
                    continue
                paid = (await repo.counts(s, [sale.id]))[sale.id].paid
                unsold = max(sale.stock - paid, 0)
                if await repo.close(s, sale, unsold, now):
                    if unsold:
                        await catalog.release_stock(s, sale.merchant_id, {sale.product_id: unsold})
                    await emit(
                        s,
                        NamedEvent(
                            CLOSED,
                            sale.merchant_id,
                            {"flash_sale_id": sale.id, "sold": paid, "returned": unsold},
                        ),
                    )
        total += len(ids)
        if len(ids) < batch:
            return total
