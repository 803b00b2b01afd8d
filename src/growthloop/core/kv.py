"""Hot counters and rate limits: in-process by default, Redis when GROWTHLOOP_REDIS_URL is set.

Both backends give the same atomic semantics; the Redis one uses a Lua script so that
several API processes share one count.
"""

from __future__ import annotations

import time
from typing import Any, Protocol


class CounterBackend(Protocol):
    name: str

    async def hit(self, key: str, limit: int, window_seconds: int) -> bool:
        """Count one event under `key`; False when it is over `limit` in the window."""
        ...

    async def hits(self, limits: list[tuple[str, int]], window_seconds: int) -> int | None:
        """Count one event under each (key, limit) at once (one round trip on Redis); the
        index of the first key over its limit, or None when none is."""
        ...

    async def reset(self, key: str) -> None: ...

    async def version(self, key: str) -> int:
        """A number that only grows, one per key (0 until first bumped): caches shared by
        several processes compare it to tell whether what they hold is still current."""
        ...

    async def bump(self, key: str) -> int: ...

    async def ping(self) -> None:
        """Raises unless the backend answers (readiness, `GET /readyz`)."""
        ...

    async def close(self) -> None: ...


class MemoryCounters:
    name = "memory"

    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}
        self._versions: dict[str, int] = {}

    # No await in either body: on the event loop each runs whole, so needs no lock.
    async def hit(self, key: str, limit: int, window_seconds: int) -> bool:
        now = time.monotonic()
        started, count = self._windows.get(key, (now, 0))
        if now - started >= window_seconds:
            started, count = now, 0
        count += 1
        self._windows[key] = (started, count)
        if len(self._windows) > 100_000:  # bound memory: drop expired windows
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < window_seconds}
        return count <= limit

    async def hits(self, limits: list[tuple[str, int]], window_seconds: int) -> int | None:
        over = [not await self.hit(key, limit, window_seconds) for key, limit in limits]
        return next((i for i, is_over in enumerate(over) if is_over), None)

    async def reset(self, key: str) -> None:
        self._windows.pop(key, None)

    async def version(self, key: str) -> int:
        return self._versions.get(key, 0)

    async def bump(self, key: str) -> int:
        self._versions[key] = value = self._versions.get(key, 0) + 1
        return value

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None


REDIS_MAX_CONNECTIONS = 64  # per process; a burst of requests waits for one, not fails


def redis_client(url: str) -> Any:
    """A Redis client whose pool makes callers wait for a free connection under a burst
    (the default pool raises "Too many connections" instead)."""
    from redis.asyncio import BlockingConnectionPool, Redis

    pool = BlockingConnectionPool.from_url(url, max_connections=REDIS_MAX_CONNECTIONS, timeout=10)
    return Redis(connection_pool=pool)


_HIT_LUA = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


_HITS_LUA = """
local counts = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, ARGV[1]) end
  counts[i] = n
end
return counts
"""


class RedisCounters:
    name = "redis"

    def __init__(self, url: str, prefix: str = "gl:") -> None:
        self._redis: Any = redis_client(url)
        self._prefix = prefix
        self._hit = self._redis.register_script(_HIT_LUA)
        self._hits = self._redis.register_script(_HITS_LUA)

    async def hit(self, key: str, limit: int, window_seconds: int) -> bool:
        count = await self._hit(keys=[self._prefix + key], args=[window_seconds])
        return int(count) <= limit

    async def hits(self, limits: list[tuple[str, int]], window_seconds: int) -> int | None:
        keys = [self._prefix + key for key, _ in limits]
        counts = await self._hits(keys=keys, args=[window_seconds])
        for index, (count, (_, limit)) in enumerate(zip(counts, limits, strict=True)):
            if int(count) > limit:
                return index
        return None

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def version(self, key: str) -> int:
        return int(await self._redis.get(self._prefix + key) or 0)

    async def bump(self, key: str) -> int:
        return int(await self._redis.incr(self._prefix + key))

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()


def make_counters(redis_url: str | None, prefix: str = "gl:") -> CounterBackend:
    return RedisCounters(redis_url, prefix) if redis_url else MemoryCounters()
