"""The Redis stock backend: one Lua script checks the holder's count and the units left
and takes both, so any number of API processes sell from one pool."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.kv import redis_client
from growthloop.core.stock import (
    HolderLimitReached,
    OutsideTheDatabase,
    PoolLoader,
    PoolSoldOut,
)

POOL_TTL_SECONDS = 30 * 24 * 3600  # far beyond any sale; reloaded from the database if gone

# KEYS: left, holders. ARGV: holder, quantity, limit.
# -> {0, left after} | {-1, left} sold out | {-2, held} limit | {-3, 0} not loaded
_TAKE = """
local left = redis.call('GET', KEYS[1])
if not left then return {-3, 0} end
left = tonumber(left)
local q = tonumber(ARGV[2])
local held = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if held + q > tonumber(ARGV[3]) then return {-2, held} end
if left < q then return {-1, left} end
redis.call('DECRBY', KEYS[1], q)
redis.call('HINCRBY', KEYS[2], ARGV[1], q)
return {0, left - q}
"""

# KEYS: left, holders. ARGV: left, ttl, holder1, units1, ... Loads only a pool not loaded.
_LOAD = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2])
for i = 3, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"""

# KEYS: left, holders. ARGV: holder, quantity. A pool not loaded reads the release later.
_GIVE_BACK = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local held = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local back = math.min(tonumber(ARGV[2]), held)
if back <= 0 then return 0 end
redis.call('HINCRBY', KEYS[2], ARGV[1], -back)
redis.call('INCRBY', KEYS[1], back)
return back
"""


class RedisStock(OutsideTheDatabase):
    name = "redis"

    def __init__(self, url: str, loader: PoolLoader, *, prefix: str = "gl:") -> None:
        self.redis: Any = redis_client(url)
        self._loader = loader
        self._prefix = prefix
        self._take = self.redis.register_script(_TAKE)
        self._load = self.redis.register_script(_LOAD)
        self._give_back = self.redis.register_script(_GIVE_BACK)

    def _keys(self, pool: str) -> list[str]:
        base = f"{self._prefix}stock:{{{pool}}}"  # one hash slot per pool on a cluster
        return [f"{base}:left", f"{base}:holders"]

    async def _ensure_loaded(self, pool: str) -> bool:
        state = await self._loader(pool)
        if state is None:
            return False
        args: list[Any] = [state.left, POOL_TTL_SECONDS]
        for holder, units in state.by_holder.items():
            if units:
                args += [holder, units]
        await self._load(keys=self._keys(pool), args=args)
        return True

    async def take(
        self, session: AsyncSession | None, pool: str, holder: str, quantity: int, limit: int
    ) -> int:
        keys = self._keys(pool)
        for _ in range(2):
            code, value = await self._take(keys=keys, args=[holder, quantity, limit])
            if code == 0:
                return int(value)
            if code == -1:
                raise PoolSoldOut(left=int(value))
            if code == -2:
                raise HolderLimitReached(limit=limit, held=int(value))
            if not await self._ensure_loaded(pool):
                raise PoolSoldOut(left=0)  # its owner is not committed: nothing to sell yet
        raise RuntimeError(f"stock pool {pool} could not be loaded into Redis")

    async def give_back(
        self, session: AsyncSession | None, pool: str, holder: str, quantity: int
    ) -> None:
        await self._give_back(keys=self._keys(pool), args=[holder, quantity])

    async def left(self, session: AsyncSession | None, pool: str) -> int | None:
        found = await self.redis.get(self._keys(pool)[0])
        if found is None:
            if not await self._ensure_loaded(pool):
                return None
            found = await self.redis.get(self._keys(pool)[0])
        return max(int(found or 0), 0)

    async def close(self) -> None:
        await self.redis.aclose()
