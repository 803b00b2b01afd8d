"""The menu cache (catalog/menu_cache.py): a menu read twice is answered from memory;
every committed catalog or stock change is seen by the very next read in the process that
made it, and within VERSION_SECONDS in another one sharing the counters; one merchant's
menu never answers for another."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from growthloop.app import create_app
from growthloop.core.runtime import Runtime
from growthloop.core.versions import FRESH_SECONDS as VERSION_SECONDS
from growthloop.wiring import AppRuntime, build_runtime
from tests.conftest import Stack
from tests.helpers import bearer, make_shop


def _menu_cache_hits(rt: Runtime) -> int:
    assert isinstance(rt, AppRuntime)
    return len(rt.menu_cache._answers)


async def _stock(client: httpx.AsyncClient, merchant_id: str, product_id: str) -> int:
    r = await client.get(f"/v1/products/{product_id}", params={"merchant_id": merchant_id})
    assert r.status_code == 200, r.text
    return int(r.json()["stock"])


async def _names(client: httpx.AsyncClient, **kwargs: object) -> list[str]:
    r = await client.get("/v1/products", **kwargs)  # type: ignore[arg-type]
    assert r.status_code == 200, r.text
    return [p["name"] for p in r.json()["items"]]


async def test_repeated_reads_are_answered_from_memory(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    await shop.product(name="乌龙")
    first = await client.get("/v1/products", params={"merchant_id": shop.merchant_id})
    kept = _menu_cache_hits(rt)
    second = await client.get("/v1/products", params={"merchant_id": shop.merchant_id})
    assert kept >= 1
    assert second.status_code == 200
    assert second.content == first.content
    assert second.headers["content-type"] == "application/json"
    assert second.headers["x-request-id"] != first.headers["x-request-id"]


async def test_every_change_is_seen_by_the_next_read(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(name="乌龙", stock=10, options=[])
    pid, mid = product["id"], shop.merchant_id
    assert await _stock(client, mid, pid) == 10
    assert await _names(client, params={"merchant_id": mid}) == ["乌龙"]

    member = await shop.member()
    order = (await shop.order(member, pid, 3)).json()  # an order takes stock
    assert await _stock(client, mid, pid) == 7
    r = await client.post(f"/v1/orders/{order['id']}/cancel", headers=member)
    assert r.status_code == 200, r.text  # and a cancelled one gives it back
    assert await _stock(client, mid, pid) == 10

    r = await client.post(
        f"/v1/admin/products/{pid}/stock-adjustments", json={"delta": 5}, headers=shop.admin
    )
    assert r.status_code == 200, r.text
    assert await _stock(client, mid, pid) == 15

    r = await client.patch(
        f"/v1/admin/products/{pid}", json={"name": "冻顶乌龙"}, headers=shop.admin
    )
    assert r.status_code == 200, r.text
    assert await _names(client, params={"merchant_id": mid}) == ["冻顶乌龙"]

    await shop.product(name="红茶")
    assert sorted(await _names(client, params={"merchant_id": mid})) == ["冻顶乌龙", "红茶"]

    r = await client.patch(f"/v1/admin/products/{pid}", json={"on_sale": False}, headers=shop.admin)
    assert r.status_code == 200, r.text
    assert await _names(client, params={"merchant_id": mid}) == ["红茶"]
    r = await client.get(f"/v1/products/{pid}", params={"merchant_id": mid})
    assert r.status_code == 404


async def test_a_rolled_back_change_leaves_the_menu_as_it_was(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=2, options=[])
    assert await _stock(client, shop.merchant_id, product["id"]) == 2
    r = await shop.order(await shop.member(), product["id"], 3)  # sold out: rolled back
    assert r.status_code == 409, r.text
    assert await _stock(client, shop.merchant_id, product["id"]) == 2


async def test_one_merchant_never_answers_for_another(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    tea, bakery = await make_shop(client, rt, "茶"), await make_shop(client, rt, "饼")
    await tea.product(name="乌龙")
    await bakery.product(name="蛋挞")
    member = await tea.member()
    for _ in range(2):  # the second round is answered from memory
        assert await _names(client, params={"merchant_id": tea.merchant_id}) == ["乌龙"]
        assert await _names(client, params={"merchant_id": bakery.merchant_id}) == ["蛋挞"]
        # A member browses their own merchant's shop, whatever ?merchant_id= says.
        assert await _names(client, params={"merchant_id": bakery.merchant_id}, headers=member) == [
            "乌龙"
        ]
        assert await _names(client, headers=member) == ["乌龙"]


async def test_tokens_it_cannot_verify_go_on_to_the_route(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    await shop.product()
    params = {"merchant_id": shop.merchant_id}
    assert (await client.get("/v1/products", params=params)).status_code == 200
    r = await client.get("/v1/products", params=params, headers=bearer("not-a-token"))
    assert r.status_code == 401
    r = await client.get("/v1/products", params=params, headers=shop.admin)  # not a member's
    assert r.status_code == 401
    r = await client.get("/v1/products")
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "merchant_required"


async def test_a_change_made_by_another_process_is_seen(
    client: httpx.AsyncClient, rt: Runtime, stack: Stack
) -> None:
    """Two API processes on one database: a process that kept a menu answers the next
    read with the other's change. On SQLite + memory counters each process has its own
    versions, so this runs where the counters are shared (Redis)."""
    if rt.counters.name != "redis":
        pytest.skip("each process has its own versions without Redis")
    shop = await make_shop(client, rt)
    product = await shop.product(stock=10, options=[])
    other_rt = build_runtime(rt.settings, stack.clock)
    other_app = create_app(rt.settings, runtime=other_rt, run_sweeper=False)
    transport = httpx.ASGITransport(app=other_app)  # type: ignore[arg-type]
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://b") as other:
            assert await _stock(client, shop.merchant_id, product["id"]) == 10
            assert await _stock(client, shop.merchant_id, product["id"]) == 10  # kept
            r = await other.post(
                f"/v1/admin/products/{product['id']}/stock-adjustments",
                json={"delta": -4},
                headers=shop.admin,
            )
            assert r.status_code == 200, r.text
            # The other process's change is seen once this one reads the version again.
            await asyncio.sleep(VERSION_SECONDS * 1.5)
            assert await _stock(client, shop.merchant_id, product["id"]) == 6
    finally:
        await other_rt.counters.close()
        await other_rt.stock.close()
        await other_rt.db.dispose()
