"""The sweeper's lead lock (core/jobs.py): of the sweepers started on one lock file, one
sweeps; when it stops (or its process dies), another takes over."""

from __future__ import annotations

import asyncio
from pathlib import Path

from growthloop.core.jobs import Sweeper


async def test_one_sweeper_leads_and_another_takes_over(tmp_path: Path) -> None:
    runs = {"a": 0, "b": 0}

    def sweeper(name: str) -> Sweeper:
        async def sweep() -> int:
            runs[name] += 1
            return 0

        s = Sweeper(interval_seconds=0.05)
        s.add("count", sweep)
        return s

    lock = tmp_path / "sweeper.lock"
    a, b = sweeper("a"), sweeper("b")
    a.start(lead_lock=lock)
    await asyncio.sleep(0.1)
    b.start(lead_lock=lock)
    await asyncio.sleep(0.4)
    assert runs["a"] > 0
    assert runs["b"] == 0
    await a.stop()  # its lock goes with it
    await asyncio.sleep(0.4)
    assert runs["b"] > 0
    await b.stop()
