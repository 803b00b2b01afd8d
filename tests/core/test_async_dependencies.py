"""Every route's endpoint and dependencies are `async def`.

FastAPI runs a plain `def` dependency in its thread pool: one hand-off to a thread and
back, and a pass of the GIL, on every request that uses it. For a one-line dependency
(the session, the runtime, the page parameters) that costs more than the work.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts


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
