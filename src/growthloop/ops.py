"""The operations endpoints: liveness (`/healthz`) and readiness (`/readyz`).

`/healthz` says the process answers, and costs nothing else: it is a fast lane, so a
load balancer polling it every second never queues behind the database. `/readyz` says
the process can serve now: the database, the event store and Redis (when configured)
each answer within READY_TIMEOUT seconds; otherwise 503 with the one that did not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from starlette.responses import Response

from growthloop.core.lanes import Lane
from growthloop.wiring import AppRuntime

READY_TIMEOUT = 2.0

router = APIRouter(tags=["ops"])


def _runtime(request: Request) -> AppRuntime:
    rt: AppRuntime = request.app.state.runtime
    return rt


def lanes(rt: AppRuntime) -> list[Lane]:
    alive = JSONResponse({"status": "ok", "database": rt.db.dialect})

    async def healthz(_: Request) -> Response:
        return alive

    return [Lane("GET", "/healthz", healthz)]


@router.get("/healthz")
async def healthz(request: Request) -> dict[str, Any]:
    """Liveness: the process answers. Touches no database (served before routing)."""
    return {"status": "ok", "database": _runtime(request).db.dialect}


@router.get(
    "/readyz", responses={503: {"description": "a dependency did not answer; see `checks`"}}
)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: the database, the event store and Redis (if configured) answer now."""
    rt = _runtime(request)

    async def database() -> None:
        async with rt.db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    checks: dict[str, Callable[[], Awaitable[None]]] = {
        "database": database,
        "events": rt.analytics.store.ping,
    }
    if rt.settings.redis_url:
        checks["redis"] = rt.counters.ping
    results = dict(
        zip(checks, await asyncio.gather(*(_check(c) for c in checks.values())), strict=True)
    )
    ready = all(v == "ok" for v in results.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": results},
        status_code=200 if ready else 503,
    )


async def _check(check: Callable[[], Awaitable[None]]) -> str:
    try:
        await asyncio.wait_for(check(), READY_TIMEOUT)
    except TimeoutError:
        return f"no answer within {READY_TIMEOUT:g}s"
    except Exception as exc:  # whatever went wrong is the answer, not a 500
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return "ok"
