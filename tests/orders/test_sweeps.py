"""Sweeps are idempotent and safe with several workers at once."""

from __future__ import annotations

import asyncio

import httpx

from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from growthloop.wiring import build_runtime
from tests.conftest import Stack
from tests.helpers import make_shop


async def test_two_workers_expire_each_order_once(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock, stack: Stack
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=60)
    member = await shop.member()
    for _ in range(30):
        assert (await shop.order(member, product["id"], 2)).status_code == 201
    clock.advance(minutes=16)
    worker = build_runtime(rt.settings, stack.clock)
    try:
        a, b = await asyncio.gather(rt.sweeper.run_once(), worker.sweeper.run_once())
    finally:
        await worker.db.dispose()
    assert a["orders.expire"] + b["orders.expire"] == 30
    r = await client.get(f"/v1/admin/products/{product['id']}", headers=shop.admin)
    assert r.json()["stock"] == 60  # released exactly once per order
    r = await client.get("/v1/admin/orders?status=cancelled&limit=100", headers=shop.admin)
    assert len(r.json()["items"]) == 30


async def test_failed_refund_is_retried_until_done(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=5)
    member = await shop.member()
    order = await shop.paid_order(member, product["id"])
    sandbox = rt.gateways["sandbox"]
    sandbox.fail_next_refunds = 2
    r = await client.post(f"/v1/admin/orders/{order['id']}/refund", headers=shop.admin)
    assert r.status_code == 200
    assert r.json()["status"] == "paid"
    assert r.json()["refund"]["status"] == "pending"
    # Asking again while pending neither fails nor opens a second refund.
    r = await client.post(f"/v1/admin/orders/{order['id']}/refund", headers=shop.admin)
    assert r.json()["refund"]["refund_no"] == f"RO{order['id']}"
    assert (await rt.sweeper.run_once())["payments.refunds"] == 0  # not due yet
    clock.advance(minutes=1)
    assert (await rt.sweeper.run_once())["payments.refunds"] == 1  # fails again
    clock.advance(minutes=5)
    await rt.sweeper.run_once()
    r = await client.get(f"/v1/orders/{order['id']}", headers=member)
    assert r.json()["status"] == "refunded"
    assert r.json()["refund"]["status"] == "succeeded"
    assert sandbox.refunds == {f"RO{order['id']}": order["payable"]}
    r = await client.get(f"/v1/admin/products/{product['id']}", headers=shop.admin)
    assert r.json()["stock"] == 5
