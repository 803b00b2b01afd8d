"""What ingestion keeps per process: the store and its batcher, the recent-ids set that
deduplicates retries, and the caches that spare the database a lookup per event. The
wiring hands it to the runtime context; a service reaches it with `pipeline_of(session)`."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Collection, Iterable
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
# A distinct id's member (or that it has none) as this process saw it at most this long ago:
# a link made by another process reaches this one's ingestion within it.
IDENTITY_SECONDS = 30.0


class RecentIds(Protocol):
    async def claim(self, merchant_id: str, ids: list[str]) -> set[str]:
        """Mark ids as seen; return those not seen before."""
        ...

    async def forget(self, merchant_id: str, ids: list[str]) -> None:
        """Un-mark ids whose write failed, so that the client's retry is accepted."""
        ...


_NOTHING: dict[str, Any] = {}  # an absent scope: read, never written


class _Generations:
    """Two generations of scope -> key -> value: what is put goes to the newer; a swap
    makes the newer the older and drops the previous older whole. A lookup is two dict
    reads, with no per-entry order to keep, which matters at a few hundred per batch."""

    def __init__(self) -> None:
        self._new: dict[str, dict[str, Any]] = {}
        self._old: dict[str, dict[str, Any]] = {}
        self._size = 0  # entries put into the newer since it began

    def _swap(self) -> None:
        self._old, self._new, self._size = self._new, {}, 0

    def _drop(self, scope: str, keys: Iterable[str]) -> None:
        for generation in (self._new, self._old):
            held = generation.get(scope)
            if held:
                for key in keys:
                    held.pop(key, None)


class MemoryRecentIds(_Generations):
    """Merchant -> event id -> first-seen time: a batch of new ids costs a few C-level set
    operations, and the older generation is dropped whole when the newer one fills (an id
    is remembered for DEDUP_SECONDS while it is among the `capacity` latest)."""

    def __init__(self, capacity: int = 2_000_000) -> None:
        super().__init__()
        self.capacity = capacity

    async def claim(self, merchant_id: str, ids: list[str]) -> set[str]:
        now = time.monotonic()
        newer = self._new.setdefault(merchant_id, {})
        older = self._old.get(merchant_id, _NOTHING)
        if newer.keys().isdisjoint(ids) and older.keys().isdisjoint(ids):
            fresh = set(ids)  # the usual batch: nothing seen before
            newer.update(dict.fromkeys(fresh, now))
        else:
            fresh = set()
            for event_id in ids:
                seen = newer.get(event_id)
                if seen is None:
                    seen = older.get(event_id)
                if seen is not None and now - seen < DEDUP_SECONDS:
                    continue
                newer[event_id] = now
                fresh.add(event_id)
        self._size += len(fresh)
        if self._size >= self.capacity // 2:
            self._swap()
        return fresh

    async def forget(self, merchant_id: str, ids: list[str]) -> None:
        self._drop(merchant_id, ids)


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

    def put(self, key: Any, value: Any) -> None:
        self._items[key] = (time.monotonic(), value)
        self._items.move_to_end(key)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def drop(self, key: Any) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()


class ScopedCache(_Generations):
    """scope -> key -> value, each entry answered for at most `max_age` after it was put:
    the newer generation is swapped for a fresh one every `max_age`/2 (or when it holds
    `capacity`/2 entries) and the older dropped once `max_age` has passed since it began."""

    def __init__(self, capacity: int, max_age: float) -> None:
        super().__init__()
        self.capacity = capacity
        self.max_age = max_age
        self._new_since = self._old_since = time.monotonic()

    def _age(self) -> None:
        now = time.monotonic()
        if now - self._new_since >= self.max_age / 2 or self._size >= self.capacity // 2:
            self._swap()
            self._old_since, self._new_since = self._new_since, now
        if self._old and now - self._old_since >= self.max_age:
            self._old = {}

    def get_many(self, scope: str, keys: Collection[str]) -> dict[str, Any]:
        """The values held for those of `keys` that are in the cache."""
        self._age()
        newer = self._new.get(scope, _NOTHING)
        found = {key: value for key in keys if (value := newer.get(key)) is not None}
        older = self._old.get(scope)
        if older and len(found) < len(keys):
            for key in keys:
                if key not in found and (value := older.get(key)) is not None:
                    found[key] = value
        return found

    def put(self, scope: str, key: str, value: Any) -> None:
        self._new.setdefault(scope, {})[key] = value
        self._size += 1

    def drop(self, scope: str, key: str) -> None:
        self._drop(scope, (key,))

    def clear(self) -> None:
        self._swap()
        self._old = {}


class ErasureGate:
    """Ingestion resolves a batch's members inside its unit of work and writes the events
    after the commit; an account erasure must not fall between the two, or the batch would
    land the erased member's events after the store was cleaned. Any number of batches
    pass at once (`enter`/`leave`, from resolution to the landed write). An erasure
    `close`s the gate before it cleans the store, which waits for the batches in flight,
    and `open`s it once its transaction has ended, so that no batch resolves against
    identities it is deleting. This holds within one process (the embedded set-up, or one
    API process); API processes of one database do not share it."""

    def __init__(self, wait_seconds: float = 30.0) -> None:
        self.wait_seconds = wait_seconds
        self._inside = 0
        self._closed = False
        self._changed: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:  # made on the loop that uses it
            self._changed = asyncio.Condition()
        return self._changed

    @property
    def closing(self) -> bool:
        """An erasure holds the gate or waits for the batches in flight."""
        return self._closed

    async def enter(self) -> None:
        changed = self._condition()
        async with changed:
            await changed.wait_for(lambda: not self._closed)
            self._inside += 1

    async def leave(self) -> None:
        changed = self._condition()
        async with changed:
            self._inside -= 1
            changed.notify_all()

    async def close(self) -> None:
        """Hold new batches back and wait for those in flight. TimeoutError after
        `wait_seconds` (the gate is open again): a batch that cannot finish, say one
        waiting for a row the erasure's transaction holds, fails the erasure, which is
        retried, rather than both waiting for ever."""
        changed = self._condition()
        async with changed:
            await changed.wait_for(lambda: not self._closed)
            self._closed = True
            try:
                await asyncio.wait_for(
                    changed.wait_for(lambda: self._inside == 0), self.wait_seconds
                )
            except BaseException:
                self._closed = False
                changed.notify_all()
                raise

    async def open(self) -> None:
        changed = self._condition()
        async with changed:
            self._closed = False
            changed.notify_all()


@dataclass
class Pipeline:
    store: EventStore
    recent: RecentIds
    batcher: Batcher = field(init=False)
    merchants: LRU = field(default_factory=lambda: LRU(10_000))
    # merchant -> distinct id -> (person, member), or () for a recent miss
    identities: ScopedCache = field(default_factory=lambda: ScopedCache(400_000, IDENTITY_SECONDS))
    maintained_at: float = 0.0  # monotonic time of the last roll-up and compaction
    judged: dict[str, datetime] = field(default_factory=dict)  # alert rule -> last period
    webhook_transport: httpx.AsyncBaseTransport | None = None  # tests substitute one
    gate: ErasureGate = field(default_factory=ErasureGate)

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
