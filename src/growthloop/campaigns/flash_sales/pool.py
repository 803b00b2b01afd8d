"""A flash sale's stock pool and the purchase's fast path.

A sale's units are a pool of the stock backend (`core.stock`), named `flash:<sale id>`:
one atomic take checks the member's units against the per-member limit and takes them.
The memory and Redis backends take before the request's transaction opens
(`fast_check`), from a snapshot of the sale's settings this process re-reads every few
seconds, so a sold-out answer and a limit answer never touch the database; the take is
given back if the transaction then rolls back. The SQL backend takes inside the
transaction (`take`, with its session). Every backend remembers for a moment
(SOLD_OUT_MEMO_SECONDS) a sale with nothing left and a member holding all they may:
units an order gives back in this process end the memo at once; units given back in
another process may wait that long to be offered again.

Working before (or beside) the request's transaction, this module opens its own
read-only units of work: to read a snapshot, and to load a pool (`load_pool`) for the
memory and Redis backends, which hold no truth of their own.
"""

from __future__ import annotations

import asyncio
import logging
import time as monotonic
from dataclasses import dataclass
from datetime import datetime, time
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns import windows
from growthloop.campaigns.flash_sales import repository as repo
from growthloop.campaigns.flash_sales.errors import FlashSaleNotFound, PerOrderLimitExceeded
from growthloop.campaigns.flash_sales.models import FlashSale
from growthloop.core.clock import Clock
from growthloop.core.context import merchant_timezone
from growthloop.core.db import Database
from growthloop.core.errors import Forbidden, TooManyRequests
from growthloop.core.kv import CounterBackend
from growthloop.core.stock import HolderLimitReached, PoolSoldOut, PoolState, StockBackend

log = logging.getLogger(__name__)

POOL_PREFIX = "flash:"
SNAPSHOT_SECONDS = 2.0  # how stale a process's view of a sale's settings may be
SOLD_OUT_MEMO_SECONDS = 1.0  # answer sold-out from memory this long
RATE_WINDOW_SECONDS = 10


def pool_of(sale_id: str) -> str:
    return POOL_PREFIX + sale_id


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

    def opening(self, now: datetime) -> tuple[windows.OpeningStatus, datetime | None]:
        """("running", None), ("scheduled" | "between_slots", next opening) or ("ended",
        None): the sale's window cut into its daily slots, if it has any."""
        return windows.opening(self, now, self.slots, self.timezone)

    def ensure_open(self, now: datetime) -> None:
        """409 `not_started` (with the next opening) or `ended` unless it sells now."""
        windows.ensure_running(
            self, now, slots=self.slots, timezone=self.timezone, ended_details=True
        )

    def check_quantity(self, quantity: int) -> None:
        if self.per_order_limit is not None and quantity > self.per_order_limit:
            raise PerOrderLimitExceeded(per_order_limit=self.per_order_limit, requested=quantity)
        if quantity > self.per_member_limit:
            raise PerOrderLimitExceeded(per_member_limit=self.per_member_limit, requested=quantity)


async def snapshot_in(session: AsyncSession, sale: FlashSale) -> Snapshot:
    """The sale's settings as they stand in this transaction."""
    return Snapshot.of(sale, await merchant_timezone(session, sale.merchant_id))


_snapshots: dict[str, tuple[float, Snapshot]] = {}
_reading: dict[str, asyncio.Future[Snapshot | None]] = {}  # sale -> the read under way
_sold_out_memo: dict[str, float] = {}
# (sale, member) -> (when, units held): a member seen holding all one member may
_full_memo: dict[tuple[str, str], tuple[float, int]] = {}


async def snapshot(db: Database, sale_id: str) -> Snapshot | None:
    """The sale's settings, re-read at most every SNAPSHOT_SECONDS per process, by one
    request at a time: when the snapshot goes stale in the middle of a rush, the others
    go on with it (stale by one read) instead of each opening a connection at once."""
    cached = _snapshots.get(sale_id)
    if cached is not None and monotonic.monotonic() - cached[0] < SNAPSHOT_SECONDS:
        return cached[1]
    reading = _reading.get(sale_id)
    if reading is None:
        reading = _reading[sale_id] = asyncio.ensure_future(_read_snapshot(db, sale_id))
        reading.add_done_callback(partial(_read_done, sale_id))
    if cached is not None:
        return cached[1]
    return await asyncio.shield(reading)


async def _read_snapshot(db: Database, sale_id: str) -> Snapshot | None:
    async with db.unit_of_work(write=False) as uow:
        sale = await repo.get_sale(uow.session, sale_id)
        if sale is None:
            return None
        return await snapshot_in(uow.session, sale)


def _read_done(sale_id: str, reading: asyncio.Future[Snapshot | None]) -> None:
    """Keep what the read found, unless `forget` dropped it meanwhile (the sale changed
    after the read began: what it read is already old)."""
    if _reading.get(sale_id) is not reading:
        return
    del _reading[sale_id]
    if reading.cancelled():
        return
    if reading.exception() is not None:
        # Retrieved here in any case: a read served stale, that nobody awaited, must not
        # fail silently (those who awaited one also answer with the error).
        log.warning("flash sale %s: snapshot not read", sale_id, exc_info=reading.exception())
        return
    snap = reading.result()
    if snap is not None:
        if len(_snapshots) > 10_000:
            _snapshots.clear()
        _snapshots[sale_id] = (monotonic.monotonic(), snap)


def forget(sale_id: str) -> None:
    """Drop this process's view of the sale (its settings changed)."""
    _snapshots.pop(sale_id, None)
    _reading.pop(sale_id, None)  # a read begun before the change must not be waited for
    _sold_out_memo.pop(sale_id, None)
    for key in [key for key in _full_memo if key[0] == sale_id]:
        del _full_memo[key]


async def rate_limit(
    counters: CounterBackend,
    limits: tuple[int, int],
    *,
    sale_id: str,
    member_id: str,
    ip: str | None,
) -> None:
    per_member, per_ip = limits
    counted = [(f"flash:{sale_id}:m:{member_id}", per_member)]
    if ip:
        counted.append((f"flash:ip:{ip}", per_ip))
    over = await counters.hits(counted, RATE_WINDOW_SECONDS)
    if over is not None:
        scope = "member" if over == 0 else "ip"
        raise TooManyRequests(scope=scope, window_seconds=RATE_WINDOW_SECONDS)


# ---- the pool -------------------------------------------------------------------------


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


async def open_pool(stock: StockBackend, session: AsyncSession, sale: FlashSale) -> None:
    """In the transaction that creates the sale."""
    await stock.open_pool(session, pool_of(sale.id), sale.stock)


async def take(
    stock: StockBackend, session: AsyncSession | None, s: Snapshot, member_id: str, quantity: int
) -> None:
    """The member's units from the pool (`session`: the SQL backend's transaction), or 409
    `sold_out` / `limit_reached` with nothing taken."""
    try:
        await stock.take(session, pool_of(s.id), member_id, quantity, s.per_member_limit)
    except PoolSoldOut as exc:
        if not exc.details.get("left"):  # none left at all; fewer than asked is not sold out
            _sold_out_memo[s.id] = monotonic.monotonic()
        raise
    except HolderLimitReached as exc:
        held = int(exc.details.get("held", 0))
        if held >= s.per_member_limit:  # not one more unit; a smaller quantity is no help
            if len(_full_memo) > 100_000:
                _full_memo.clear()
            _full_memo[(s.id, member_id)] = (monotonic.monotonic(), held)
        raise


async def give_back(
    stock: StockBackend, session: AsyncSession | None, sale_id: str, member_id: str, quantity: int
) -> None:
    _sold_out_memo.pop(sale_id, None)
    _full_memo.pop((sale_id, member_id), None)
    await stock.give_back(session, pool_of(sale_id), member_id, quantity)


async def units_left(stock: StockBackend, session: AsyncSession, sale: FlashSale) -> int:
    if sale.closed_at is not None:
        return 0
    left = await stock.left(session, pool_of(sale.id))
    if left is None:  # the sale is being created in this transaction
        counts = (await repo.counts(session, [sale.id]))[sale.id]
        left = sale.stock - counts.held - counts.paid
    return left


def _memo_sold_out(sale_id: str) -> bool:
    seen = _sold_out_memo.get(sale_id)
    return seen is not None and monotonic.monotonic() - seen < SOLD_OUT_MEMO_SECONDS


def _memo_full(s: Snapshot, member_id: str) -> None:
    """409 `limit_reached` for a member seen holding all they may a moment ago."""
    seen = _full_memo.get((s.id, member_id))
    if seen is not None and monotonic.monotonic() - seen[0] < SOLD_OUT_MEMO_SECONDS:
        raise HolderLimitReached(limit=s.per_member_limit, held=seen[1])


# ---- the fast path --------------------------------------------------------------------


@dataclass(frozen=True)
class FastTake:
    """Units taken before the transaction: give them back unless it commits."""

    sale_id: str
    member_id: str
    quantity: int


async def fast_check(
    db: Database,
    clock: Clock,
    stock: StockBackend,
    counters: CounterBackend,
    limits: tuple[int, int],
    *,
    sale_id: str,
    member_id: str,
    merchant_id: str,
    quantity: int,
    ip: str | None,
) -> FastTake | None:
    """Everything a purchase can be refused for without the database: rate limits, the
    window, the per-order cap, and (memory/Redis) the take itself. Returns the take, or
    None when the SQL backend will take inside the transaction."""
    s = await snapshot(db, sale_id)
    if s is None:
        raise FlashSaleNotFound(flash_sale_id=sale_id)
    if s.merchant_id != merchant_id:
        raise Forbidden("This object belongs to another merchant.")
    s.ensure_open(clock.now())
    s.check_quantity(quantity)
    # A sale this process saw sell out a moment ago, or a member it saw holding all they
    # may, is answered from memory, before the rate limits and the pool: on Redis each of
    # those is a round trip.
    if _memo_sold_out(sale_id):
        raise PoolSoldOut(left=0)
    _memo_full(s, member_id)
    await rate_limit(counters, limits, sale_id=sale_id, member_id=member_id, ip=ip)
    if stock.transactional:
        return None
    await take(stock, None, s, member_id, quantity)
    return FastTake(sale_id, member_id, quantity)


async def give_back_fast(stock: StockBackend, taken: FastTake) -> None:
    await give_back(stock, None, taken.sale_id, taken.member_id, taken.quantity)
