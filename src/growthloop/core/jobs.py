"""The sweeper: durable deadlines stored as rows and swept idempotently.

Each sweep is an async function that claims due rows (SKIP LOCKED on PostgreSQL),
acts, and returns how many it handled. `serve` runs the sweeper in-process by default;
`growthloop worker` runs it alone, and several workers can run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger("growthloop.jobs")

Sweep = Callable[[], Awaitable[int]]


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Stop a background task (the sweeper's, a heartbeat's) and wait until it has ended."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@dataclass
class Sweeper:
    interval_seconds: float = 5.0
    sweeps: dict[str, Sweep] = field(default_factory=dict)
    _wake: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None

    def add(self, name: str, sweep: Sweep) -> None:
        self.sweeps[name] = sweep

    def kick(self) -> None:
        """Ask for a run soon (e.g. an outbox row was committed)."""
        if self._wake is not None:
            self._wake.set()

    async def run_once(self) -> dict[str, int]:
        handled: dict[str, int] = {}
        for name, sweep in self.sweeps.items():
            try:
                handled[name] = await sweep()
            except Exception:
                log.exception("sweep failed", extra={"sweep": name})
                handled[name] = -1
            if handled[name] > 0:
                log.info("sweep", extra={"sweep": name, "count": handled[name]})
        return handled

    async def run_forever(self) -> None:
        self._wake = asyncio.Event()
        while True:
            await self.run_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_seconds)
            self._wake.clear()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run_forever())

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
