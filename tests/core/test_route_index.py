"""The router guard (core/route_index.py) changes which routers are tried, never which route
answers: for every route of the app, a path made from its pattern resolves through the
guarded routers exactly as through FastAPI's own matching (the same route, the same 405 for
another method, the same miss for a path no route serves)."""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import Match

from growthloop.core.route_index import static_prefixes
from tests.conftest import Stack


def _resolve(routes: list[Any], method: str, path: str, *, guarded: bool) -> tuple[int, Match]:
    scope = {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}
    partial = None
    for i, route in enumerate(routes):
        matches = route.matches if guarded else type(route).matches.__get__(route)
        match, _ = matches(dict(scope))
        if match == Match.FULL:
            return i, match
        if match == Match.PARTIAL and partial is None:
            partial = (i, match)
    return partial or (-1, Match.NONE)


def _paths(routes: list[Any]) -> list[str]:
    found = []
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            found += _paths(inner.routes)
        elif isinstance(getattr(route, "path", None), str):
            found.append(re.sub(r"\{[^}]+\}", "01HZZZZZZZZZZZZZZZZZZZZZZZ", route.path))
    return found


def test_every_path_resolves_as_without_the_guard(stack: Stack) -> None:
    routes = stack.app.router.routes  # type: ignore[attr-defined]
    guarded = [r for r in routes if "matches" in vars(r)]  # the guard is on
    assert len(guarded) >= 20
    assert all(static_prefixes(r) for r in guarded)
    paths = _paths(routes)
    assert len(paths) > 150
    for path in [*paths, "/v1/nothing-here", "/v1/orders/", "/healthz/"]:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            assert _resolve(routes, method, path, guarded=True) == _resolve(
                routes, method, path, guarded=False
            ), (method, path)
