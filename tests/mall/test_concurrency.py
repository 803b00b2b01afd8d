"""Redemption limits hold under concurrency, on every backend: stock, the per-member
limit and the points balance are each taken exactly as often as redemptions succeed."""

from __future__ import annotations

import asyncio

import httpx

from growthloop.core.runtime import Runtime
from tests.conftest import Stack
from tests.helpers import assert_error, make_shop, two_processes
from tests.mall.support import (
    SHIPPING,
    balance,
    earn,
    ledger_balanced,
    mall_spends,
    member_id,
    my_redemptions,
    program,
    redeem,
    reward,
)


async def test_thirty_members_race_for_ten_gifts(
    client: httpx.AsyncClient, rt: Runtime, stack: Stack
) -> None:
    shop = await make_shop(client, rt)
    await program(shop)
    product = await shop.product(price=15000, stock=100, options=[])
    members = [await shop.member() for _ in range(30)]
    for m in members:
        await earn(shop, m, 150, product)
    gift = await reward(shop, points_cost=120, stock=10)

    body = {"shipping": SHIPPING}
    async with two_processes(client, rt, stack.clock) as clients:
        responses = await asyncio.gather(
            *(
                clients[i % 2].post(
                    f"/v1/mall/rewards/{gift['id']}/redeem", json=body, headers=member
                )
                for i, member in enumerate(members)
            )
        )

    won = [m for m, r in zip(members, responses, strict=True) if r.status_code == 201]
    assert len(won) == 10
    for r in responses:
        if r.status_code != 201:
            assert_error(r, 409, "reward_sold_out")
    r = await client.get(f"/v1/admin/mall/rewards/{gift['id']}", headers=shop.admin)
    assert (r.json()["redeemed"], r.json()["stock_left"]) == (10, 0)

    spends = await mall_spends(shop)
    winners = {await member_id(client, m) for m in won}
    assert sorted(delta for _, delta in spends) == [-120] * 10
    assert {who for who, _ in spends} == winners
    for m in members:
        expected = 30 if m in won else 150
        assert await balance(client, m) == expected
        assert len(await my_redemptions(client, m)) == (1 if m in won else 0)
    r = await client.get("/v1/admin/mall/redemptions", params={"limit": 100}, headers=shop.admin)
    assert len(r.json()["items"]) == 10
    await ledger_balanced(shop)


async def test_one_member_fires_ten_redemptions(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    await program(shop)
    member = await shop.member()
    await earn(shop, member, 1000)
    voucher = await reward(
        shop, kind="product", product_id=(await shop.product())["id"], per_member_limit=2
    )
    responses = await asyncio.gather(*(redeem(shop, member, voucher["id"]) for _ in range(10)))
    assert sum(r.status_code == 201 for r in responses) == 2
    for r in responses:
        if r.status_code != 201:
            assert_error(r, 409, "redemption_limit_reached")
    spends = await mall_spends(shop)
    assert [delta for _, delta in spends] == [-100, -100]
    assert await balance(client, member) == 800
    r = await client.get(f"/v1/admin/mall/rewards/{voucher['id']}", headers=shop.admin)
    assert (r.json()["redeemed"], r.json()["stock_left"]) == (2, 8)
    r = await client.get(f"/v1/mall/rewards/{voucher['id']}", headers=member)
    assert (r.json()["my_redeemed"], r.json()["unavailable_reason"]) == (2, "limit_reached")
    codes = {x["code"] for x in await my_redemptions(client, member)}
    assert len(codes) == 2 and all(len(c) == 12 and c.isdigit() for c in codes)
    await ledger_balanced(shop)


async def test_members_points_race_between_the_mall_and_orders(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    """Redemptions and orders paying with points draw on one balance: never past it."""
    shop = await make_shop(client, rt)
    await program(shop)
    member = await shop.member()
    await earn(shop, member, 500)
    gift = await reward(shop, points_cost=100, stock=20)
    product = await shop.product(price=1000, stock=100, options=[])
    order_body = {"items": [{"product_id": product["id"], "quantity": 1}], "points": 100}
    redeems = [redeem(shop, member, gift["id"], shipping=SHIPPING) for _ in range(5)]
    orders = [client.post("/v1/orders", json=order_body, headers=member) for _ in range(5)]
    responses = await asyncio.gather(*redeems, *orders)
    assert sum(r.status_code == 201 for r in responses) == 5
    for r in responses:
        if r.status_code != 201:
            assert_error(r, 409, "insufficient_points")
    assert await balance(client, member) == 0
    await ledger_balanced(shop)


async def test_concurrent_cancels_return_everything_once(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    await program(shop)
    member = await shop.member()
    await earn(shop, member, 300)
    gift = await reward(shop, points_cost=100, stock=5, per_member_limit=3)
    r = await redeem(shop, member, gift["id"], quantity=3, shipping=SHIPPING)
    assert r.status_code == 201, r.text
    redemption = r.json()
    assert await balance(client, member) == 0
    path = f"/v1/admin/mall/redemptions/{redemption['id']}/cancel"
    responses = await asyncio.gather(*(client.post(path, headers=shop.admin) for _ in range(6)))
    assert sum(r.status_code == 200 for r in responses) == 1
    for r in responses:
        if r.status_code != 200:
            assert_error(r, 409, "invalid_redemption_state")
    assert await balance(client, member) == 300
    r = await client.get(f"/v1/admin/mall/rewards/{gift['id']}", headers=shop.admin)
    assert (r.json()["redeemed"], r.json()["stock_left"]) == (0, 5)
    r = await client.get(f"/v1/mall/rewards/{gift['id']}", headers=member)
    assert r.json()["my_redeemed"] == 0
    await ledger_balanced(shop)
