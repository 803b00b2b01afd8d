"""Fast lanes (core/lanes.py) on a bare Starlette app: a lane answers, refuses with the
usual error body, or lets the request go on with its body intact; `Observe` sees the
route's response. And the operations endpoints built on them: `/healthz`, `/readyz`."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from growthloop.core.auth import TokenCodec
from growthloop.core.errors import Conflict, TooManyRequests, Unauthenticated, error_response
from growthloop.core.lanes import FastLanes, Lane, Observe, on_rollback
from growthloop.core.runtime import Runtime
from tests.conftest import START


async def _echo(request: Request) -> Response:
    return JSONResponse(
        {
            "route": True,
            "body": (await request.body()).decode(),
            "seen": getattr(request.state, "judged", None),
        }
    )


def _client(lanes: list[Lane]) -> httpx.AsyncClient:
    routes = [Route("/items/{item_id}", _echo, methods=["GET", "POST"])]
    app = FastLanes(Starlette(routes=routes), lanes)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_a_lane_answers_refuses_or_lets_the_request_on() -> None:
    async def lane(request: Request) -> ASGIApp | None:
        item = request.path_params["item_id"]
        body = await request.body()
        if item == "answered":
            return JSONResponse({"lane": True, "body": body.decode()})
        if item == "refused":
            raise Conflict("Not now.", item=item)
        request.state.judged = item
        return None

    async with _client([Lane("POST", "/items/{item_id}", lane)]) as client:
        r = await client.post("/items/answered", content=b"hello")
        assert r.json() == {"lane": True, "body": "hello"}
        r = await client.post("/items/refused", content=b"x")
        assert r.status_code == 409
        assert r.json() == {
            "error": {"code": "conflict", "message": "Not now.", "details": {"item": "refused"}}
        }
        # On to the route: the body the lane read is read again, and what it learnt is there.
        r = await client.post("/items/other", content=b"a body")
        assert r.json() == {"route": True, "body": "a body", "seen": "other"}
        # Another method, or a path that only starts like the lane's, is not the lane's.
        r = await client.get("/items/answered")
        assert r.json()["route"] is True
        r = await client.post("/items/answered/more", content=b"")
        assert r.status_code == 404


async def test_a_lanes_refusal_is_the_same_response_the_routes_give() -> None:
    refusal = TooManyRequests(scope="member", window_seconds=10, note="限购 ✓")

    async def lane(_: Request) -> None:
        raise refusal

    async def route(_: Request) -> Response:
        return error_response(refusal)

    routed = Starlette(routes=[Route("/routed", route, methods=["POST"])])
    app = FastLanes(routed, [Lane("POST", "/laned", lane)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        laned, via_route = await c.post("/laned"), await c.post("/routed")
    assert laned.status_code == via_route.status_code == 429
    assert laned.headers.raw == via_route.headers.raw
    assert laned.content == via_route.content


async def test_a_lane_that_breaks_answers_500_with_the_usual_body() -> None:
    async def lane(_: Request) -> None:
        raise RuntimeError("a bug")

    async with _client([Lane("GET", "/items/{item_id}", lane)]) as client:
        r = await client.get("/items/1")
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"


async def test_what_a_lane_did_is_undone_if_the_route_fails_before_taking_it_over() -> None:
    undone: list[str] = []

    async def lane(request: Request) -> None:
        on_rollback(request, lambda: undone.append(request.path_params["item_id"]))

    async def broken(_: Request) -> Response:
        raise RuntimeError("fails before any unit of work")

    app = FastLanes(
        Starlette(routes=[Route("/items/{item_id}", broken, methods=["POST"])]),
        [Lane("POST", "/items/{item_id}", lane)],
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.post("/items/7", content=b"")
    assert r.status_code == 500
    assert undone == ["7"]


async def test_what_a_lane_did_is_undone_if_it_refuses() -> None:
    undone: list[str] = []

    async def lane(request: Request) -> None:
        on_rollback(request, lambda: undone.append("taken back"))
        raise Conflict("Not after all.")

    async with _client([Lane("POST", "/items/{item_id}", lane)]) as client:
        r = await client.post("/items/1", content=b"")
    assert r.status_code == 409
    assert undone == ["taken back"]


async def test_observe_hands_over_the_routes_response() -> None:
    seen: list[tuple[int, bytes]] = []

    async def lane(_: Request) -> Observe:
        return Observe(lambda status, _headers, body: seen.append((status, body)))

    async with _client([Lane("GET", "/items/{item_id}", lane)]) as client:
        r = await client.get("/items/1")
    assert r.status_code == 200
    assert seen == [(200, r.content)]


async def test_healthz_answers_without_the_database(
    client: httpx.AsyncClient, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    class NoDatabase:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"liveness must not touch the database (engine.{name})")

    def no_unit_of_work(*_: object, **__: object) -> None:
        raise AssertionError("liveness must not open a unit of work")

    dialect = rt.db.dialect
    monkeypatch.setattr(rt.db, "engine", NoDatabase())
    monkeypatch.setattr(rt.db, "unit_of_work", no_unit_of_work)
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": dialect}


async def test_readyz_names_what_is_not_ready(
    client: httpx.AsyncClient, rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    checks = r.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["events"] == "ok"
    assert checks.get("redis", "ok") == "ok"

    async def down() -> None:
        raise ConnectionError("connection refused")

    monkeypatch.setattr(rt.analytics.store, "ping", down)
    r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["status"] == "unavailable"
    assert r.json()["checks"]["events"] == "ConnectionError: connection refused"
    assert r.json()["checks"]["database"] == "ok"


def test_a_remembered_token_still_expires_and_keeps_its_type() -> None:
    codec = TokenCodec("a-secret")
    token = codec.issue("member", "m1", "shop1", START, timedelta(hours=1))
    assert codec.decode(token, "member", START)["sub"] == "m1"
    assert codec.decode(token, "member", START)["sub"] == "m1"  # remembered
    with pytest.raises(Unauthenticated, match="admin token"):
        codec.decode(token, "admin", START)
    with pytest.raises(Unauthenticated, match="expired"):
        codec.decode(token, "member", START + timedelta(hours=2))
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    with pytest.raises(Unauthenticated, match="invalid"):
        codec.decode(forged, "member", START)
    claims = codec.decode(token, "member", START)
    claims["sub"] = "someone else"  # a caller's copy: the remembered claims stay
    assert codec.decode(token, "member", START)["sub"] == "m1"
