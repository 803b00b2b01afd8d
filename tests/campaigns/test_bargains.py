"""Bargains through the API: start, friends cut, the owner buys; and thirty at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx

from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from tests.campaigns.support import bulk_members
from tests.helpers import Shop, assert_error, make_shop


async def _bargain(shop: Shop, product_id: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "product_id": product_id,
        "original_price": 5000,
        "floor_price": 100,
        "helpers_needed": 3,
        "duration_minutes": 60 * 24,
    }
    body.update(overrides)
    r = await shop.client.post("/v1/admin/bargains", json=body, headers=shop.admin)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def _start(shop: Shop, bargain_id: str, member: dict[str, str]) -> dict[str, Any]:
    r = await shop.client.post(f"/v1/bargains/{bargain_id}/start", headers=member)
    assert r.status_code in (200, 201), r.text
    return r.json()  # type: ignore[no-any-return]


def _help(shop: Shop, instance_id: str, member: dict[str, str]) -> Any:
    return shop.client.post(f"/v1/bargain-instances/{instance_id}/help", headers=member)


async def test_friends_cut_to_the_floor_and_the_owner_buys(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=5000, stock=5, options=[])
    bargain = await _bargain(shop, product["id"], helpers_needed=3)
    owner = await shop.member()
    friends = [await shop.member() for _ in range(4)]
    instance = await _start(shop, bargain["id"], owner)
    assert (instance["current_price"], instance["helpers_left"]) == (5000, 3)
    assert (await _start(shop, bargain["id"], owner))["id"] == instance["id"]  # one at a time
    iid = instance["id"]

    assert_error(await _help(shop, iid, owner), 409, "cannot_help_self")
    price, cuts = 5000, []
    for friend in friends[:3]:
        r = await _help(shop, iid, friend)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["cut"] >= 1 and body["current_price"] == price - body["cut"]
        price = body["current_price"]
        cuts.append(body["cut"])
        assert_error(await _help(shop, iid, friend), 409, "already_helped")
    assert price == 100 and sum(cuts) == 4900
    assert cuts[0] * 5 >= 4900 and cuts[0] * 2 <= 4900  # 20-50 % of what remained
    assert_error(await _help(shop, iid, friends[3]), 409, "floor_reached")

    r = await client.get(f"/v1/bargain-instances/{iid}", params={"merchant_id": shop.merchant_id})
    seen = r.json()
    assert (seen["status"], seen["helps"], [c["cut"] for c in seen["cuts"]]) == (
        "floor_reached",
        3,
        cuts,
    )
    # Others cannot buy the owner's bargain; the owner buys at the floor.
    assert_error(
        await client.post(f"/v1/bargain-instances/{iid}/purchase", headers=friends[0]),
        403,
        "not_the_owner",
    )
    r = await client.post(f"/v1/bargain-instances/{iid}/purchase", headers=owner)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["payable"] == 100 and order["items"][0]["campaign_kind"] == "bargain"
    assert_error(
        await client.post(f"/v1/bargain-instances/{iid}/purchase", headers=owner),
        409,
        "bargain_not_open",
    )
    # Cancelled unpaid: the owner may buy again.
    r = await client.post(f"/v1/orders/{order['id']}/cancel", headers=owner)
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/bargain-instances/{iid}/purchase", headers=owner)
    assert r.status_code == 201, r.text
    await shop.pay(owner, r.json()["id"])


async def test_buy_before_the_floor_daily_limits_and_expiry(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=3000, stock=10, options=[])
    bargain = await _bargain(
        shop,
        product["id"],
        original_price=3000,
        floor_price=1000,
        helpers_needed=5,
        helps_per_day=2,
        duration_minutes=24 * 60,
    )
    owners = [await shop.member() for _ in range(3)]
    instances = [(await _start(shop, bargain["id"], o))["id"] for o in owners]
    helper = await shop.member()
    assert (await _help(shop, instances[0], helper)).status_code == 200
    assert (await _help(shop, instances[1], helper)).status_code == 200
    err = assert_error(await _help(shop, instances[2], helper), 409, "daily_help_limit")
    assert err["details"]["helps_per_day"] == 2
    # A new day in Shanghai (16:00 UTC is midnight there): the helper may help again.
    clock.set(clock.now().replace(hour=16, minute=1))
    assert (await _help(shop, instances[2], helper)).status_code == 200

    # The owner buys at any point before the floor, at the price reached.
    r = await client.get(f"/v1/bargain-instances/{instances[0]}", headers=owners[0])
    price = r.json()["current_price"]
    assert 1000 < price < 3000 and r.json()["is_mine"]
    r = await client.post(f"/v1/bargain-instances/{instances[0]}/purchase", headers=owners[0])
    assert r.status_code == 201 and r.json()["payable"] == price, r.text

    clock.advance(days=1)  # past the instances' day
    assert_error(await _help(shop, instances[1], await shop.member()), 409, "bargain_expired")
    assert_error(
        await client.post(f"/v1/bargain-instances/{instances[1]}/purchase", headers=owners[1]),
        409,
        "bargain_expired",
    )
    # An expired instance is over: starting again opens a new one at the original price.
    again = await _start(shop, bargain["id"], owners[1])
    assert again["id"] != instances[1] and again["current_price"] == 3000


async def test_thirty_helpers_at_once(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=9900, stock=5, options=[])
    bargain = await _bargain(
        shop, product["id"], original_price=9900, floor_price=990, helpers_needed=20
    )
    owner = await shop.member()
    iid = (await _start(shop, bargain["id"], owner))["id"]
    helpers = await bulk_members(shop, 30)
    # Every helper at once, a third of them twice.
    responses = await asyncio.gather(
        *(_help(shop, iid, h) for i, h in enumerate(helpers) for _ in range(2 if i % 3 == 0 else 1))
    )
    ok = [r.json() for r in responses if r.status_code == 200]
    assert len(ok) == 20, Counter(r.status_code for r in responses)
    refused = Counter(r.json()["error"]["code"] for r in responses if r.status_code != 200)
    assert set(refused) <= {"floor_reached", "already_helped"}, refused
    assert sum(h["cut"] for h in ok) == 9900 - 990
    assert sorted(h["helps"] for h in ok) == list(range(1, 21))
    r = await client.get(f"/v1/bargain-instances/{iid}", headers=owner)
    body = r.json()
    assert (body["current_price"], body["helps"], body["status"]) == (990, 20, "floor_reached")
    assert len(body["cuts"]) == 20 and all(c["cut"] >= 1 for c in body["cuts"])
    prices = [c["price_after"] for c in body["cuts"]]
    assert prices == sorted(prices, reverse=True) and prices[-1] == 990


async def test_bad_input_and_other_merchants(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=5, options=[])
    base = {
        "product_id": product["id"],
        "original_price": 1000,
        "floor_price": 500,
        "helpers_needed": 3,
        "duration_minutes": 60,
    }
    for bad in (
        {"floor_price": 1000},
        {"floor_price": 0},
        {"original_price": 502},  # 2 fen for 3 helpers
        {"helpers_needed": 0},
        {"original_price": 10.5},
        {"duration_minutes": 0},
        {"helps_per_day": 0},
        {"extra": 1},
    ):
        r = await client.post("/v1/admin/bargains", json={**base, **bad}, headers=shop.admin)
        assert_error(r, 422)
    bargain = await _bargain(shop, product["id"], original_price=1500)
    other = await make_shop(client, rt, "别家")
    stranger = await other.member()
    # The product must be the shop's own: 422 naming it, whoever's it is.
    theirs = await other.product(stock=5, options=[])
    for wrong in (theirs["id"], "01ARZ3NDEKTSV4RRFFQ69G5FAV"):
        r = await client.post(
            "/v1/admin/bargains", json={**base, "product_id": wrong}, headers=shop.admin
        )
        error = assert_error(r, 422, "unknown_product")
        assert error["details"] == {"field": "product_id", "id": wrong, "ids": [wrong]}
    assert_error(await client.post(f"/v1/bargains/{bargain['id']}/start", headers=stranger), 403)
    owner = await shop.member()
    iid = (await _start(shop, bargain["id"], owner))["id"]
    assert_error(await _help(shop, iid, stranger), 403)
    assert_error(await client.get(f"/v1/admin/bargains/{bargain['id']}", headers=other.admin), 403)
    assert_error(
        await client.post("/v1/bargain-instances/01ARZ3NDEKTSV4RRFFQ69G5FAV/help", headers=owner),
        404,
        "bargain_instance_not_found",
    )
    r = await client.post(f"/v1/admin/bargains/{bargain['id']}/end", headers=shop.admin)
    assert r.status_code == 200 and r.json()["status"] == "ended"
    newcomer = await shop.member()
    assert_error(
        await client.post(f"/v1/bargains/{bargain['id']}/start", headers=newcomer), 409, "ended"
    )
    # An instance started before the end runs on to its own expiry.
    assert (await _help(shop, iid, newcomer)).status_code == 200
    r = await client.get(f"/v1/admin/bargains/{bargain['id']}", headers=shop.admin)
    assert (r.json()["instances"], r.json()["purchased"]) == (1, 0)


async def test_the_original_price_is_not_above_the_regular_price(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=1300, stock=5, options=[])
    base = {"product_id": product["id"], "helpers_needed": 3, "duration_minutes": 60}
    for original in (1301, 5000):
        body = {**base, "original_price": original, "floor_price": 100}
        r = await client.post("/v1/admin/bargains", json=body, headers=shop.admin)
        error = assert_error(r, 422, "original_price_above_regular")
        assert error["details"] == {
            "original_price": original,
            "regular_price": 1300,
            "product_id": product["id"],
        }
    assert (await client.get("/v1/admin/bargains", headers=shop.admin)).json()["items"] == []
    # From the regular price (or below) down to a floor below it.
    full = await _bargain(shop, product["id"], original_price=1300, floor_price=100)
    lower = await _bargain(shop, product["id"], original_price=990, floor_price=1)
    assert [(b["original_price"], b["floor_price"]) for b in (full, lower)] == [
        (1300, 100),
        (990, 1),
    ]
