"""500 members race for 50 flash-sale units with a limit of one each, on every stock
backend: exactly 50 are sold, to 50 different members, and the books agree."""

from __future__ import annotations

import asyncio
from collections import Counter
from functools import partial

import httpx
from sqlalchemy import select

from growthloop.app import create_app
from growthloop.core.runtime import Runtime
from growthloop.core.stock import make_stock_backend
from growthloop.core.stock.sql import StockPool
from growthloop.wiring import build_runtime, load_pool, use_stock_backend
from tests.campaigns.support import bulk_members, flash_sale, purchases
from tests.conftest import REDIS_URL, Stack
from tests.helpers import make_shop


async def test_five_hundred_members_race_for_fifty_units(
    client: httpx.AsyncClient, rt: Runtime, stack: Stack, stock_backend: str
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=80, options=[])
    sale = await flash_sale(shop, product["id"], stock=50, per_member_limit=1)
    members = await bulk_members(shop, 500)
    url = f"/v1/flash-sales/{sale['id']}/purchase"

    clients = [client]
    other_rt = None
    if stock_backend != "memory":  # memory is one process's pool; the others are shared
        other_rt = build_runtime(rt.settings, stack.clock)
        use_stock_backend(
            other_rt,
            make_stock_backend(stock_backend, partial(load_pool, other_rt.db), redis_url=REDIS_URL),
        )
        other_app = create_app(rt.settings, runtime=other_rt, run_sweeper=False)
        clients.append(
            httpx.AsyncClient(transport=httpx.ASGITransport(app=other_app), base_url="http://b")
        )
    try:
        # Every member taps at once, one in five of them twice, on either process.
        responses = await asyncio.gather(
            *(
                clients[(i + tap) % len(clients)].post(url, json={}, headers=member)
                for i, member in enumerate(members)
                for tap in range(2 if i % 5 == 0 else 1)
            )
        )
    finally:
        if other_rt is not None:
            await clients[1].aclose()
            await other_rt.stock.close()
            await other_rt.db.dispose()

    codes = Counter(r.status_code for r in responses)
    assert codes[201] == 50, codes
    assert set(codes) <= {201, 409}, codes
    refused = Counter(r.json()["error"]["code"] for r in responses if r.status_code == 409)
    assert set(refused) <= {"sold_out", "limit_reached"}, refused
    winners = [r.json()["member_id"] for r in responses if r.status_code == 201]
    assert len(set(winners)) == 50  # no member twice

    bought = await purchases(rt, sale["id"])
    assert len(bought) == 50 and {q for _, q, _ in bought} == {1}
    assert {m for m, _, _ in bought} == set(winners)
    r = await client.get(f"/v1/flash-sales/{sale['id']}", headers=members[0])
    assert r.json()["stock_left"] == 0
    r = await client.get(f"/v1/admin/products/{product['id']}", headers=shop.admin)
    assert r.json()["stock"] == 30  # the product gave the sale 50 units, no more
    if stock_backend == "sql":
        async with rt.db.unit_of_work(write=False) as uow:
            left = await uow.session.scalar(
                select(StockPool.units_left).where(StockPool.pool == f"flash:{sale['id']}")
            )
        assert left == 0
