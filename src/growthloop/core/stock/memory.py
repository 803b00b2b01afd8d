"""The in-process stock backend: exact while one process sells (see the package doc)."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.stock import (
    HolderLimitReached,
    OutsideTheDatabase,
    PoolLoader,
    PoolSoldOut,
)


class _Pool:
    __slots__ = ("by_holder", "left")

    def __init__(self, left: int, by_holder: dict[str, int]) -> None:
        self.left = left
        self.by_holder = by_holder


class MemoryStock(OutsideTheDatabase):
    name = "memory"

    def __init__(self, loader: PoolLoader) -> None:
        self._loader = loader
        self._pools: dict[str, _Pool] = {}
        self._loading: dict[str, asyncio.Lock] = {}

    async def _pool(self, pool: str) -> _Pool | None:
        found = self._pools.get(pool)
        if found is not None:
            return found
        lock = self._loading.setdefault(pool, asyncio.Lock())
        async with lock:  # one load per pool, however many requests arrive at once
            found = self._pools.get(pool)
            if found is None:
                state = await self._loader(pool)
                if state is None:
                    return None
                found = self._pools[pool] = _Pool(state.left, dict(state.by_holder))
        self._loading.pop(pool, None)
        return found

    async def take(
        self, session: AsyncSession | None, pool: str, holder: str, quantity: int, limit: int
    ) -> int:
        p = await self._pool(pool)
        if p is None:
            raise PoolSoldOut(left=0)  # its owner is not committed: nothing to sell yet
        # No await between the checks and the writes: atomic on the event loop.
        held = p.by_holder.get(holder, 0)
        if held + quantity > limit:
            raise HolderLimitReached(limit=limit, held=held)
        if p.left < quantity:
            raise PoolSoldOut(left=max(p.left, 0))
        p.left -= quantity
        p.by_holder[holder] = held + quantity
        return p.left

    async def give_back(
        self, session: AsyncSession | None, pool: str, holder: str, quantity: int
    ) -> None:
        p = self._pools.get(pool)
        if p is None:
            return  # not loaded: the next load reads the released units from the database
        held = p.by_holder.get(holder, 0)
        back = min(quantity, held)
        p.by_holder[holder] = held - back
        p.left += back

    async def left(self, session: AsyncSession | None, pool: str) -> int | None:
        p = await self._pool(pool)
        return None if p is None else max(p.left, 0)

    def forget(self, pool: str) -> None:
        self._pools.pop(pool, None)

    async def close(self) -> None:
        return None
