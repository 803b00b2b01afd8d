"""Group commit for ingestion: concurrent requests share one durable write.

A request hands its rows over and waits; the writer takes everything waiting, writes it
as one segment (one fsync) and wakes every request in it. While a write is in progress
new rows gather for the next one, so under load batches grow by themselves and an idle
server still answers within one write's time. Row-by-row inserts into a columnar store
are about a thousand times slower than this.
"""

from __future__ import annotations

import asyncio
import logging

import pyarrow as pa

from growthloop.analytics.backends.base import EventStore

log = logging.getLogger("growthloop.analytics")


class Batcher:
    def __init__(self, store: EventStore, *, max_rows: int = 50_000, linger: float = 0.002):
        self.store = store
        self.max_rows = max_rows
        self.linger = linger  # a moment for requests arriving together to share a write
        self._waiting: list[tuple[pa.Table, asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        """Rows handed over and waiting for the next write (not the one in progress)."""
        return sum(rows.num_rows for rows, _ in self._waiting)

    async def write(self, rows: pa.Table) -> None:
        """Return once `rows` are durable; raise what the store raised otherwise."""
        if not rows.num_rows:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((rows, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        await asyncio.shield(future)

    async def _drain(self) -> None:
        if self.linger:
            await asyncio.sleep(self.linger)
        while self._waiting:
            batch: list[tuple[pa.Table, asyncio.Future[None]]] = []
            count = 0
            while self._waiting and (
                not batch or count + self._waiting[0][0].num_rows <= self.max_rows
            ):
                rows, future = self._waiting.pop(0)
                batch.append((rows, future))
                count += rows.num_rows
            try:
                await self.store.append(pa.concat_tables([rows for rows, _ in batch]))
            except Exception as exc:
                log.exception("event store write failed")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
