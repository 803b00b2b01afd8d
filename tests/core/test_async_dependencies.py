"""What every request would otherwise pay for the framework's sake.

FastAPI runs a plain `def` dependency in its thread pool: one hand-off to a thread and
back, and a pass of the GIL, on every request that uses it. For a one-line dependency
(the session, the runtime, the page parameters) that costs more than the work. And it
builds an included router's route table on the first request that reaches the router
(seconds of CPU over all of them): the app builds them all at startup.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastapi.routing as fastapi_routing
import httpx
import pytest
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from growthloop import app as app_module
from growthloop.app import create_app
from growthloop.core.clock import FrozenClock
from growthloop.core.config import Settings
from growthloop.migrate import upgrade
from growthloop.wiring import build_runtime


def _is_async(call: Any) -> bool:
    target = call if inspect.isfunction(call) or inspect.ismethod(call) else call.__call__
    return inspect.iscoroutinefunction(target) or inspect.isasyncgenfunction(target)


def _sync_calls(dependant: Dependant) -> Iterator[str]:
    for sub in dependant.dependencies:
        if sub.call is not None and not _is_async(sub.call):
            yield f"{sub.call.__module__}.{getattr(sub.call, '__qualname__', sub.call)}"
        yield from _sync_calls(sub)


async def test_no_route_runs_a_dependency_or_endpoint_in_the_thread_pool(stack: Any) -> None:
    routes = [
        context.original_route
        for context in iter_route_contexts(stack.app.routes)
        if isinstance(context.original_route, APIRoute)
    ]
    assert len(routes) > 100, "the route walk found too few routes: it is broken, not the app"
    found = {
        f"{route.path}: {name}"
        for route in routes
        for name in (
            *_sync_calls(route.dependant),
            *([] if _is_async(route.endpoint) else [route.endpoint.__qualname__]),
        )
    }
    assert not found, f"sync dependencies or endpoints (make them async def): {sorted(found)}"


async def test_route_tables_are_built_at_startup_not_by_the_first_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    build = fastapi_routing._IncludedRouter._build_effective_context

    def counted(self: Any, route: Any) -> Any:
        built.append(getattr(route, "path", "?"))
        return build(self, route)

    monkeypatch.setattr(fastapi_routing._IncludedRouter, "_build_effective_context", counted)
    # Startup freezes what is alive for the rest of the process: not this test worker's.
    monkeypatch.setattr(app_module.gc, "freeze", lambda: None)
    settings = Settings(env="test", data_dir=tmp_path, dev_login=True, run_sweeper=False)
    runtime = build_runtime(settings, FrozenClock(datetime(2026, 3, 2, tzinfo=UTC)))
    await upgrade(runtime.db.engine)
    app = create_app(settings, runtime=runtime, run_sweeper=False)
    async with app.router.lifespan_context(app):
        assert len(built) > 100  # every router's table, at startup
        built.clear()
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for path in ("/v1/me", "/v1/orders", "/v1/admin/orders", "/v1/loyalty/me"):
                await client.get(path)
    assert built == []
