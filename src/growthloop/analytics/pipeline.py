"""What ingestion keeps per process: the store and its batcher, the recent-ids set that
deduplicates retries, and the caches that spare the database a lookup per event. The
wiring hands it to the runtime context; a service reaches it with `pipeline_of(session)`."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.analytics.backends.base import EventStore
from growthloop.analytics.batcher import Batcher
from growthloop.core.context import context_of

DEDUP_SECONDS = 48 * 3600  # SDKs retry within hours; a compaction catches later repeats
MERCHANT_CACHE_SECONDS = 60.0
NEGATIVE_IDENTITY_SECONDS = 30.0


class RecentIds(Protocol):
    async def claim(self, merchant_id: str, ids: list[str]) -> set[str]:
        """Mark ids as seen; return those not seen before."""
        ...

    async def forget(self, merchant_id: str, ids: list[str]) -> None:
        """Un-mark ids whose write failed, so that the client's retry is accepted."""
        ...


class MemoryRecentIds:
    def __init__(self, capacity: int = 2_000_000) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()

    async def claim(self, merchant_id: str, ids: list[str]) -> set[str]:
        now = time.monotonic()
        new: set[str] = set()
        for event_id in ids:
            key = f"{merchant_id}:{event_id}"
            seen = self._seen.get(key)
            if seen is not None and now - seen < DEDUP_SECONDS:
                continue
            self._seen[key] = now
            self._seen.move_to_end(key)
            new.add(event_id)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return new

    async def forget(self, merchant_id: str, ids: list[str]) -> None:
        for event_id in ids:
            self._seen.pop(f"{merchant_id}:{event_id}", None)


class RedisRecentIds:
    """SET NX with a TTL per id, pipelined: several API processes share one set."""

    def __init__(self, client: Any, prefix: str = "gl:evid:") -> None:
        self._redis = client
        self._prefix = prefix

    async def claim(self, merchant_id: str, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        pipe = self._redis.pipeline(transaction=False)
        for event_id in ids:
            pipe.set(f"{self._prefix}{merchant_id}:{event_id}", 1, nx=True, ex=DEDUP_SECONDS)
        results = await pipe.execute()
        return {event_id for event_id, ok in zip(ids, results, strict=True) if ok}

    async def forget(self, merchant_id: str, ids: list[str]) -> None:
        if ids:
            await self._redis.delete(*(f"{self._prefix}{merchant_id}:{i}" for i in ids))


@dataclass
class IngestMerchant:
    id: str
    timezone: str


class LRU:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Any, tuple[float, Any]] = OrderedDict()

    def get(self, key: Any, max_age: float | None = None) -> Any:
        item = self._items.get(key)
        if item is None:
            return None
        if max_age is not None and time.monotonic() - item[0] > max_age:
            self._items.pop(key, None)
            return None
        self._items.move_to_end(key)
        return item[1]

    def get_many(self, keys: Iterable[Any], max_age: float) -> dict[Any, Any]:
        """The values held for those of `keys` younger than `max_age` (one clock read for a
        whole batch of events)."""
        items, oldest = self._items, time.monotonic() - max_age
        found = {}
        for key in keys:
            item = items.get(key)
            if item is None:
                continue
            if item[0] < oldest:
                del items[key]
                continue
            items.move_to_end(key)
            found[key] = item[1]
        return found

    def put(self, key: Any, value: Any) -> None:
        self._items[key] = (time.monotonic(), value)
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def drop(self, key: Any) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()


@dataclass
class Pipeline:
    store: EventStore
    recent: RecentIds
    batcher: Batcher = field(init=False)
    merchants: LRU = field(default_factory=lambda: LRU(10_000))
    # (merchant, distinct id) -> (person, member) | None for a recent miss
    identities: LRU = field(default_factory=lambda: LRU(200_000))
    maintained_at: float = 0.0  # monotonic time of the last roll-up and compaction
    judged: dict[str, datetime] = field(default_factory=dict)  # alert rule -> last period
    webhook_transport: httpx.AsyncBaseTransport | None = None  # tests substitute one

    _last_link: datetime | None = None

    def __post_init__(self) -> None:
        self.batcher = Batcher(self.store)

    def link_time(self, now: datetime) -> datetime:
        """When a link was made, strictly after this process's previous one: the latest
        link of an id wins, so two made in the same microsecond must still be ordered."""
        if self._last_link is not None and now <= self._last_link:
            now = self._last_link + timedelta(microseconds=1)
        self._last_link = now
        return now

    async def close(self) -> None:
        await self.store.close()


def pipeline_of(session: AsyncSession) -> Pipeline:
    """This process's pipeline, a part of the session's runtime context."""
    return context_of(session).part(Pipeline)
