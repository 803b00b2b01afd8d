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
        index of the first key over its limit, or None when none is. A key this process
        already saw over its limit answers until its window ends without counting anything
        (on Redis, without a round trip): a crowd that is refused costs no more than that."""
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

    # No await in these bodies: on the event loop each runs whole, so needs no lock.
    async def hit(self, key: str, limit: int, window_seconds: int) -> bool:
        return await self.hits([(key, limit)], window_seconds) is None

    async def hits(self, limits: list[tuple[str, int]], window_seconds: int) -> int | None:
        now = time.monotonic()
        for index, (key, limit) in enumerate(limits):
            started, count = self._windows.get(key, (now, 0))
            if now - started >= window_seconds:
                break
            if count > limit:
                return index  # known over: nothing counted
            if count + 1 > limit:
                break  # this hit puts it over: count, so that it is the one named
        over = None
        for index, (key, limit) in enumerate(limits):
            started, count = self._windows.get(key, (now, 0))
            if now - started >= window_seconds:
                started, count = now, 0
            self._windows[key] = (started, count + 1)
            if count + 1 > limit and over is None:
                over = index
        if len(self._windows) > 100_000:  # bound memory: drop expired windows
            self._windows = {k: v for k, v in self._windows.items() if now - v[0] < window_seconds}
        return over

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


# ARGV: the window, then each key's limit. Returns the index (1-based) of the first key
# over its limit, its count and the milliseconds its window has left, or {0, 0, 0}.
_HITS_LUA = """
local over, count, left = 0, 0, 0
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, ARGV[1]) end
  if over == 0 and n > tonumber(ARGV[i + 1]) then
    over, count, left = i, n, redis.call('PTTL', key)
  end
end
return {over, count, left}
"""


class RedisCounters:
    name = "redis"

    def __init__(self, url: str, prefix: str = "gl:") -> None:
        self._redis: Any = redis_client(url)
        self._prefix = prefix
        self._hits = self._redis.register_script(_HITS_LUA)
        # key -> (the monotonic end of its window, the count seen over a limit in it)
        self._over: dict[str, tuple[float, int]] = {}

    async def hit(self, key: str, limit: int, window_seconds: int) -> bool:
        return await self.hits([(key, limit)], window_seconds) is None

    async def hits(self, limits: list[tuple[str, int]], window_seconds: int) -> int | None:
        now = time.monotonic()
        # Answered here only when the first key is known over: a later one's refusal could
        # not say whether this hit puts an earlier key over, and the first key over is the
        # one named (a member's limit before their address's).
        seen = self._over.get(limits[0][0])
        if seen is not None and now < seen[0] and seen[1] > limits[0][1]:
            return 0
        over, count, left_ms = await self._hits(
            keys=[self._prefix + key for key, _ in limits],
            args=[window_seconds, *(limit for _, limit in limits)],
        )
        if not over:
            return None
        if left_ms > 0:
            if len(self._over) > 100_000:  # bound memory
                self._over = {k: seen for k, seen in self._over.items() if now < seen[0]}
            self._over[limits[over - 1][0]] = (now + left_ms / 1000, int(count))
        return int(over) - 1

    async def reset(self, key: str) -> None:
        # Another process that saw the key over keeps refusing until its window ends.
        self._over.pop(key, None)
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
