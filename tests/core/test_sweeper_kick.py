"""A kick (an outbox row committed) runs only the sweeps added with `on_kick`, and a burst
of kicks runs them once: an order must not pay for a full sweep of every domain."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable

from growthloop.core.jobs import Sweeper


async def test_a_burst_of_kicks_runs_the_kicked_sweeps_once() -> None:
    runs: Counter[str] = Counter()

    def counting(name: str) -> Callable[[], Awaitable[int]]:
        async def sweep() -> int:
            runs[name] += 1
            return 0

        return sweep

    s = Sweeper(interval_seconds=60, kick_spacing_seconds=0.2)
    s.add("flush", counting("flush"), on_kick=True)
    s.add("expire", counting("expire"))
    s.start()
    await asyncio.sleep(0.05)
    assert runs == {"flush": 1, "expire": 1}  # the first run is a full one
    for _ in range(50):
        s.kick()
        await asyncio.sleep(0)
    await asyncio.sleep(0.4)
    assert runs == {"flush": 2, "expire": 1}
    s.kick()
    await asyncio.sleep(0.4)
    assert runs == {"flush": 3, "expire": 1}
    await s.stop()


async def test_the_full_sweep_still_runs_every_interval() -> None:
    runs: Counter[str] = Counter()

    async def expire() -> int:
        runs["expire"] += 1
        return 0

    s = Sweeper(interval_seconds=0.1)
    s.add("expire", expire)
    s.start()
    await asyncio.sleep(0.35)
    await s.stop()
    assert 3 <= runs["expire"] <= 5
