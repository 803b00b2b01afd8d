"""Shared helpers for identity and compliance tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.context import uow_of
from growthloop.core.events import E
from growthloop.core.runtime import Runtime
from tests.helpers import bearer


@contextmanager
def committed_events(rt: Runtime, kind: type[E]) -> Iterator[list[E]]:
    """Records the `kind` events whose transaction committed; rolled-back ones never
    show up."""
    seen: list[E] = []

    async def record(session: AsyncSession, event: E) -> None:
        uow_of(session).after_commit(lambda: seen.append(event))

    rt.bus.on(kind, record)
    try:
        yield seen
    finally:
        rt.bus.off(kind, record)


async def login(
    client: httpx.AsyncClient, merchant_id: str, code: str, **extra: Any
) -> dict[str, Any]:
    body = {"merchant_id": merchant_id, "platform": "dev", "code": code, **extra}
    r = await client.post("/v1/auth/login", json=body)
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    out["headers"] = bearer(out["token"])
    return out
