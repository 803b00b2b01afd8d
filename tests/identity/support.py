"""Shared helpers for identity and compliance tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.events import DomainEvent
from growthloop.core.runtime import Runtime
from tests.helpers import bearer


@contextmanager
def committed_events(rt: Runtime, name: str) -> Iterator[list[DomainEvent]]:
    """Records the `name` events that were committed (delivered after commit through the
    outbox: call `deliver`); rolled-back ones never show up."""
    seen: list[DomainEvent] = []

    async def record(_: AsyncSession, event: DomainEvent) -> None:
        seen.append(event)

    rt.bus.on(name, record)
    try:
        yield seen
    finally:
        rt.bus._after[name].remove(record)


async def deliver(rt: Runtime) -> None:
    await rt.bus.dispatch_pending(rt.db, rt.clock)


async def login(
    client: httpx.AsyncClient, merchant_id: str, code: str, **extra: Any
) -> dict[str, Any]:
    body = {"merchant_id": merchant_id, "platform": "dev", "code": code, **extra}
    r = await client.post("/v1/auth/login", json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    out["headers"] = bearer(out["token"])
    return out
