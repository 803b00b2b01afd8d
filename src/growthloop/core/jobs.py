"""The sweeper: durable deadlines stored as rows and swept idempotently.

Each sweep is an async function that claims due rows (SKIP LOCKED on PostgreSQL),
acts, and returns how many it handled. `serve` runs the sweeper in-process by default;
`growthloop worker` runs it alone, and several workers can run at once.

Several `serve` processes on one machine (`--workers N`) would sweep N times over for
nothing: each starts its sweeper with a lead lock (a file lock in the data dir), and only
the holder sweeps. The others try again every interval, so when the holder dies (the
kernel drops its lock with it) another takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("growthloop.jobs")

Sweep = Callable[[], Awaitable[int]]


async def cancel(task: asyncio.Task[None] | None) -> None:
    """Stop a background task (the sweeper's, a heartbeat's) and wait until it has ended."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until_caught_up(batch: int, one_batch: Sweep) -> int:
    """Run `one_batch` (a batch of at most `batch` rows, in units of work of its own)
    again until one comes back short: nothing more is due. How many rows all of them
    handled."""
    total = 0
    while True:
        handled = await one_batch()
        total += handled
        if handled < batch:
            return total


@dataclass
class Sweeper:
    interval_seconds: float = 5.0
    # A kick runs only the sweeps added with `on_kick`, and at most this often: a burst of
    # orders (each kicking the analytics flush) costs one flush, not one full sweep each.
    kick_spacing_seconds: float = 0.5
    sweeps: dict[str, Sweep] = field(default_factory=dict)
    on_kick: set[str] = field(default_factory=set)
    _wake: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None

    def add(self, name: str, sweep: Sweep, *, on_kick: bool = False) -> None:
        self.sweeps[name] = sweep
        if on_kick:
            self.on_kick.add(name)

    def kick(self) -> None:
        """Ask for the `on_kick` sweeps soon (e.g. an outbox row was committed)."""
        if self._wake is not None:
            self._wake.set()

    async def run_once(self, only: Collection[str] | None = None) -> dict[str, int]:
        handled: dict[str, int] = {}
        for name, sweep in self.sweeps.items():
            if only is not None and name not in only:
                continue
            try:
                handled[name] = await sweep()
            except Exception:
                log.exception("sweep failed", extra={"sweep": name})
                handled[name] = -1
            if handled[name] > 0:
                log.info("sweep", extra={"sweep": name, "count": handled[name]})
        return handled

    async def run_forever(self) -> None:
        self._wake = wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        spacing = min(self.kick_spacing_seconds, self.interval_seconds)
        full_due = loop.time()
        while True:
            if loop.time() >= full_due:
                await self.run_once()
                full_due = loop.time() + self.interval_seconds
            else:
                await self.run_once(self.on_kick)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), max(0.0, full_due - loop.time()))
            if wake.is_set():
                await asyncio.sleep(spacing)  # the kicks of the next moments join this run
            wake.clear()

    def start(self, lead_lock: Path | None = None) -> None:
        run = self.run_forever() if lead_lock is None else self._lead(lead_lock)
        self._task = asyncio.get_running_loop().create_task(run)

    async def _lead(self, lock_path: Path) -> None:
        """Sweep once this process holds the lock at `lock_path`; until then, wait for it."""
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(self.interval_seconds)
            log.info("sweeper: this process sweeps", extra={"pid": os.getpid()})
            await self.run_forever()
        finally:
            os.close(fd)  # and with it the lock

    async def stop(self) -> None:
        await cancel(self._task)
        self._task = None
