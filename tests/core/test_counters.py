"""The counter backends (core/kv.py) agree: a window's count per key, several keys counted
in one call (one round trip on Redis), a key known over its limit refused without counting
until its window ends, and versions that only grow."""

from __future__ import annotations

import asyncio
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
    assert await counters.hits(limits, 60) == 0  # known over: the address is not counted
    assert await counters.hits([("address", 3)], 60) == 0  # its 4th
    assert await counters.hits([("another member", 2), ("address", 10)], 60) is None
    assert await counters.hit("member", 10, 60)  # the same windows as hit()


async def test_versions_only_grow(counters: CounterBackend) -> None:
    assert await counters.version("menu:a") == 0
    assert await counters.bump("menu:a") == 1
    assert await counters.bump("menu:a") == 2
    assert await counters.version("menu:a") == 2
    assert await counters.version("menu:b") == 0


async def test_a_key_known_over_is_refused_until_its_window_ends(
    counters: CounterBackend,
) -> None:
    assert await counters.hits([("member", 1)], 1) is None
    assert await counters.hits([("member", 1)], 1) == 0
    assert await counters.hits([("member", 1), ("address", 5)], 1) == 0
    await asyncio.sleep(1.2)
    assert await counters.hits([("member", 1), ("address", 5)], 1) is None
    assert await counters.hits([("address", 5)], 1) is None  # the address counted twice


async def test_a_refusal_known_in_this_process_makes_no_redis_round_trip() -> None:
    if REDIS_URL is None:
        pytest.skip("needs GROWTHLOOP_TEST_REDIS_URL")
    backend = RedisCounters(REDIS_URL, prefix=f"gltest:counters:{uuid.uuid4().hex}:")
    other = RedisCounters(REDIS_URL, prefix=backend._prefix)  # a second API process
    try:
        assert await backend.hits([("member", 1)], 60) is None
        assert await backend.hits([("member", 1)], 60) == 0
        calls = 0
        script = backend._hits

        async def counted(**kwargs: object) -> object:
            nonlocal calls
            calls += 1
            return await script(**kwargs)

        backend._hits = counted
        for _ in range(5):
            assert await backend.hits([("member", 1)], 60) == 0
        assert calls == 0
        assert await other.hits([("member", 1)], 60) == 0  # the count is shared
        await backend.reset("member")
        assert await backend.hits([("member", 1)], 60) is None
        assert calls == 1
    finally:
        await backend.close()
        await other.close()


async def test_the_first_key_over_is_named_even_when_a_later_one_is_known_over(
    counters: CounterBackend,
) -> None:
    assert await counters.hits([("address", 1)], 60) is None
    assert await counters.hits([("address", 1)], 60) == 0  # the address: known over
    assert await counters.hits([("member", 1)], 60) is None  # the member: at their limit
    # This hit puts the member over too, and the member's limit comes first.
    assert await counters.hits([("member", 1), ("address", 1)], 60) == 0
