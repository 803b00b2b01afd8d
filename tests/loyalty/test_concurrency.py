"""Points are never spent twice: concurrent orders race for one balance."""

from __future__ import annotations

import asyncio

import httpx

from growthloop.core.runtime import Runtime
from tests.helpers import assert_error, make_shop


async def test_concurrent_point_spending(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    program = {"points_per_yuan": 1, "checkin_points": [500], "tiers": [{"name": "会员"}]}
    assert (
        await client.put("/v1/admin/loyalty/program", json=program, headers=shop.admin)
    ).status_code == 200
    product = await shop.product(price=1000, stock=100, options=[])
    member = await shop.member()
    assert (await client.post("/v1/me/checkin", headers=member)).json()["points_awarded"] == 500
    body = {"items": [{"product_id": product["id"], "quantity": 1}], "points": 100}
    responses = await asyncio.gather(
        *(client.post("/v1/orders", json=body, headers=member) for _ in range(20))
    )
    assert sum(r.status_code == 201 for r in responses) == 5
    for r in responses:
        if r.status_code != 201:
            assert_error(r, 409, "insufficient_points")
    m = (await client.get("/v1/me/membership", headers=member)).json()
    assert m["points"] == 0
    r = await client.get(f"/v1/admin/products/{product['id']}", headers=shop.admin)
    assert r.json()["stock"] == 95  # the refused orders took no stock
    ledger = (await client.get("/v1/me/points/ledger?limit=100", headers=member)).json()["items"]
    assert sum(e["delta"] for e in ledger) == 0 and len(ledger) == 6
