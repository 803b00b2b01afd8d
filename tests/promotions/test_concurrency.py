"""Coupon limits hold under concurrency, on every backend."""

from __future__ import annotations

import asyncio

import httpx

from growthloop.core.runtime import Runtime
from growthloop.promotions.errors import CouponNotAvailable
from tests.conftest import Stack
from tests.helpers import assert_error, make_shop, two_processes
from tests.promotions.support import claim, lock, my_coupons, template


async def test_fifty_members_race_for_ten_coupons(
    client: httpx.AsyncClient, rt: Runtime, stack: Stack
) -> None:
    shop = await make_shop(client, rt)
    t = await template(shop, total=10)
    members = [await shop.member() for _ in range(50)]

    async with two_processes(client, rt, stack.clock) as clients:
        responses = await asyncio.gather(
            *(
                clients[i % 2].post(f"/v1/coupons/{t['id']}/claim", headers=member)
                for i, member in enumerate(members)
            )
        )

    assert sum(r.status_code == 201 for r in responses) == 10
    for r in responses:
        if r.status_code != 201:
            assert_error(r, 409, "coupon_sold_out")
    r = await client.get(f"/v1/admin/coupons/{t['id']}", headers=shop.admin)
    assert (r.json()["claimed"], r.json()["remaining"]) == (10, 0)
    wallets = [len(await my_coupons(client, m)) for m in members]
    assert sorted(wallets) == [0] * 40 + [1] * 10


async def test_one_member_fires_ten_claims(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    t = await template(shop, per_member_limit=2)
    member = await shop.member()
    responses = await asyncio.gather(
        *(client.post(f"/v1/coupons/{t['id']}/claim", headers=member) for _ in range(10))
    )
    assert sum(r.status_code == 201 for r in responses) == 2
    for r in responses:
        if r.status_code != 201:
            assert_error(r, 409, "limit_reached")
    assert len(await my_coupons(client, member)) == 2
    r = await client.get(f"/v1/admin/coupons/{t['id']}", headers=shop.admin)
    assert r.json()["claimed"] == 2  # the refused claims gave their total back


async def test_claims_and_issues_race_for_the_same_limits(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    """Members claiming while an operator issues to them: no one gets past either limit."""
    shop = await make_shop(client, rt)
    t = await template(shop, total=15, per_member_limit=1)
    members = [await shop.member() for _ in range(20)]
    ids = [(await client.get("/v1/me", headers=m)).json()["id"] for m in members]
    claims = [client.post(f"/v1/coupons/{t['id']}/claim", headers=m) for m in members]
    issues = [
        client.post(
            f"/v1/admin/coupons/{t['id']}/issue", json={"member_ids": ids[i::4]}, headers=shop.admin
        )
        for i in range(4)
    ]
    responses = await asyncio.gather(*claims, *issues)
    assert all(r.status_code in (200, 201, 409) for r in responses), [r.text for r in responses]
    wallets = [len(await my_coupons(client, m)) for m in members]
    assert max(wallets) == 1
    assert sum(wallets) == 15
    r = await client.get(f"/v1/admin/coupons/{t['id']}", headers=shop.admin)
    assert r.json()["claimed"] == 15


async def test_two_orders_race_to_lock_one_coupon(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member()
    coupon = await claim(shop, member, (await template(shop))["id"])
    results = await asyncio.gather(
        *(lock(rt, coupon["id"]) for _ in range(10)), return_exceptions=True
    )
    locked = [r for r in results if isinstance(r, str)]
    assert len(locked) == 1
    assert all(isinstance(r, CouponNotAvailable) for r in results if not isinstance(r, str))
    (held,) = await my_coupons(client, member)
    assert (held["status"], held["order_id"]) == ("locked", locked[0])
