"""The counter backends (core/kv.py) agree: a window's count per key, several keys counted
in one call (one round trip on Redis), and versions that only grow."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from growthloop.core.kv import CounterBackend, MemoryCounters, RedisCounters

REDIS_URL = os.environ.get("GROWTHLOOP_TEST_REDIS_URL")


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest) -> AsyncIterator[CounterBackend]:
    if request.param == "memory":
        yield MemoryCounters()
        return
    if REDIS_URL is None:
        pytest.skip("needs GROWTHLOOP_TEST_REDIS_URL")
    backend = RedisCounters(REDIS_URL, prefix=f"gltest:counters:{uuid.uuid4().hex}:")
    yield backend
    await backend.close()


async def test_several_keys_are_counted_at_once(counters: CounterBackend) -> None:
    limits = [("member", 2), ("address", 3)]
    assert await counters.hits(limits, 60) is None
    assert await counters.hits(limits, 60) is None
    assert await counters.hits(limits, 60) == 0  # the member's third: over its 2
    assert await counters.hits(limits, 60) == 0  # still counted for the address
    assert await counters.hits([("address", 3)], 60) == 0
    assert await counters.hits([("another member", 2), ("address", 10)], 60) is None
    assert await counters.hit("member", 10, 60)  # the same windows as hit()


async def test_versions_only_grow(counters: CounterBackend) -> None:
    assert await counters.version("menu:a") == 0
    assert await counters.bump("menu:a") == 1
    assert await counters.bump("menu:a") == 2
    assert await counters.version("menu:a") == 2
    assert await counters.version("menu:b") == 0
