"""Sweeps of the event store: fold new events into the hourly aggregates, merge pieces."""

from __future__ import annotations

import time

from growthloop.analytics.pipeline import Pipeline

ROLL_UP_EVERY = 30.0  # seconds; queries aggregate the newer tail themselves


async def maintain_store(pipeline: Pipeline, *, force: bool = False) -> int:
    now = time.monotonic()
    if not force and now - pipeline.maintained_at < ROLL_UP_EVERY:
        return 0
    pipeline.maintained_at = now
    folded = await pipeline.store.roll_up()
    merged = await pipeline.store.compact()
    return folded + merged
