"""Campaign stock: a pool of units, each holder capped, taken and given back atomically.

A flash sale's units are a pool; so are a lottery's prizes. One call checks the holder's
count and the units left and takes both, or takes nothing. Three backends with the same
semantics, chosen by `GROWTHLOOP_STOCK_BACKEND`:

- `memory`: a dict in this process. The fastest; right only while one process sells
  (the embedded default: `serve` runs the sweeper in-process).
- `sql`: guarded UPDATEs in the caller's transaction, whose row counts are checked; any
  number of processes on one database.
- `redis`: one Lua script per take; any number of processes, and the database is touched
  only by the takes that win.

The memory and Redis backends hold no truth of their own: a pool is loaded from the
database (the units its owner recorded as held or sold) the first time it is used, so a
restart or a flushed Redis loses nothing. They take outside the database transaction,
so their takes must be given back if that transaction rolls back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.errors import Conflict


class PoolSoldOut(Conflict):
    code = "sold_out"
    message = "Sold out."


class HolderLimitReached(Conflict):
    code = "limit_reached"
    message = "You have already bought as many as one member may."


@dataclass(frozen=True)
class PoolState:
    """What the database says a pool has given out: units held or sold, per holder."""

    stock: int
    by_holder: dict[str, int] = field(default_factory=dict)

    @property
    def left(self) -> int:
        return self.stock - sum(self.by_holder.values())


# Reads a pool's state from the database, in its own read transaction; None while its
# owner is not committed (nothing is cached then).
PoolLoader = Callable[[str], Awaitable[PoolState | None]]


class StockBackend(Protocol):
    name: str
    # True: take/give_back run in the caller's transaction (and need its session).
    # False: they act at once, outside it; a take must be given back on rollback.
    transactional: bool

    async def open_pool(self, session: AsyncSession, pool: str, stock: int) -> None:
        """Called in the transaction that creates the pool's owner."""
        ...

    async def take(
        self, session: AsyncSession | None, pool: str, holder: str, quantity: int, limit: int
    ) -> int:
        """Take `quantity` units for `holder` (who may hold at most `limit`): the units left
        after, or `PoolSoldOut` / `HolderLimitReached` with nothing taken."""
        ...

    async def give_back(
        self, session: AsyncSession | None, pool: str, holder: str, quantity: int
    ) -> None: ...

    async def left(self, session: AsyncSession | None, pool: str) -> int | None:
        """Units left; None for a pool whose owner this backend cannot see yet."""
        ...

    async def close(self) -> None: ...


class OutsideTheDatabase:
    """What the memory and Redis backends share: a take is not part of the transaction
    (the caller gives it back if the transaction fails), and a pool is loaded from the
    database on its first use, so opening one writes nothing."""

    transactional = False

    async def open_pool(self, session: AsyncSession, pool: str, stock: int) -> None:
        return None


BACKENDS = ("memory", "sql", "redis")


def choose_backend(configured: str, *, redis_url: str | None, is_sqlite: bool) -> str:
    """`auto`: Redis when there is one; otherwise the database when it is shared by several
    processes (PostgreSQL), and memory for the embedded single-process setup."""
    if configured != "auto":
        return configured
    if redis_url:
        return "redis"
    return "memory" if is_sqlite else "sql"


def make_stock_backend(
    name: str, loader: PoolLoader, *, redis_url: str | None, prefix: str = "gl:"
) -> StockBackend:
    if name == "memory":
        from growthloop.core.stock.memory import MemoryStock

        return MemoryStock(loader)
    if name == "sql":
        from growthloop.core.stock.sql import SqlStock

        return SqlStock()
    if name == "redis":
        if not redis_url:
            raise ValueError("the redis stock backend needs GROWTHLOOP_REDIS_URL")
        from growthloop.core.stock.redis import RedisStock

        return RedisStock(redis_url, loader, prefix=prefix)
    raise ValueError(f"unknown stock backend {name!r}; one of {', '.join(BACKENDS)}")
