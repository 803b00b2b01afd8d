"""Flash sales end to end through the API: set up, buy, pay, cancel, expire, close."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from growthloop.campaigns.flash_sales import pool
from growthloop.campaigns.flash_sales import tasks as flash
from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from growthloop.orders import tasks as orders
from tests.campaigns.support import flash_sale, purchases, sale_body
from tests.helpers import Shop, assert_error, make_shop, statements_run


async def _product_stock(client: httpx.AsyncClient, shop: Shop, product_id: str) -> int:
    r = await client.get(f"/v1/admin/products/{product_id}", headers=shop.admin)
    assert r.status_code == 200, r.text
    return int(r.json()["stock"])


async def _sale(client: httpx.AsyncClient, shop: Shop, sale_id: str) -> dict[str, Any]:
    """The sale as a visitor sees it before logging in."""
    r = await client.get(f"/v1/flash-sales/{sale_id}", params={"merchant_id": shop.merchant_id})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_a_sale_from_setup_to_close(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock, stock_backend: str
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=1800, stock=30)
    sale = await flash_sale(shop, product["id"], price=990, stock=5, per_member_limit=2)
    # The sale's units left the product's stock.
    assert await _product_stock(client, shop, product["id"]) == 25
    assert sale["stock_left"] == 5 and sale["status"] == "running"
    assert sale["regular_price"] == 1800

    alice, bob = await shop.member(), await shop.member()
    r = await client.post(
        f"/v1/flash-sales/{sale['id']}/purchase",
        json={"quantity": 2, "options": {"杯型": "大杯"}},
        headers=alice,
    )
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "pending_payment"
    line = order["items"][0]
    # The sale's price, plus the option's delta; the regular price is shown beside it.
    assert (line["unit_price"], line["regular_unit_price"]) == (990 + 300, 1800 + 300)
    assert line["campaign_kind"] == "flash_sale" and line["campaign_id"] == sale["id"]
    assert order["payable"] == 2 * 1290
    assert order["campaign_discount"] == 2 * 810
    assert (await _sale(client, shop, sale["id"]))["stock_left"] == 3
    # Regular stock is untouched by the purchase.
    assert await _product_stock(client, shop, product["id"]) == 25

    await shop.pay(alice, order["id"])
    assert_error(
        await client.post(f"/v1/flash-sales/{sale['id']}/purchase", json={}, headers=alice),
        409,
        "limit_reached",
    )
    r = await client.post(f"/v1/flash-sales/{sale['id']}/purchase", json={}, headers=bob)
    assert r.status_code == 201, r.text
    bobs = r.json()
    # Cancelled: bob's unit is back on sale, and he may buy again.
    r = await client.post(f"/v1/orders/{bobs['id']}/cancel", headers=bob)
    assert r.status_code == 200, r.text
    assert (await _sale(client, shop, sale["id"]))["stock_left"] == 3
    r = await client.post(f"/v1/flash-sales/{sale['id']}/purchase", json={}, headers=bob)
    assert r.status_code == 201, r.text
    # Left unpaid past the payment window: the sweeper cancels it and the unit returns.
    clock.advance(minutes=rt.settings.payment_window_minutes + 1)
    assert await orders.expire_due_orders(rt.db, clock, rt.gateways) == 1
    assert (await _sale(client, shop, sale["id"]))["stock_left"] == 3
    assert sorted((q, s) for _, q, s in await purchases(rt, sale["id"])) == [
        (1, "released"),
        (1, "released"),
        (2, "paid"),
    ]

    await shop.relogin()
    r = await client.get(f"/v1/admin/flash-sales/{sale['id']}", headers=shop.admin)
    assert r.status_code == 200, r.text
    admin_view = r.json()
    assert (admin_view["held"], admin_view["sold"], admin_view["buyers"]) == (0, 2, 1)

    # Over: after the grace period the 3 unsold units go back to the product.
    clock.set(clock.now() + timedelta(hours=3))
    assert await flash.close_due_sales(rt.db, clock) == 1
    assert await flash.close_due_sales(rt.db, clock) == 0
    assert await _product_stock(client, shop, product["id"]) == 28
    r = await client.get(f"/v1/admin/flash-sales/{sale['id']}", headers=shop.admin)
    assert r.json()["returned_units"] == 3 and r.json()["closed_at"] is not None
    assert r.json()["status"] == "ended" and r.json()["stock_left"] == 0
    assert_error(
        await client.post(f"/v1/flash-sales/{sale['id']}/purchase", json={}, headers=bob),
        409,
        "ended",
    )


async def test_window_slots_and_early_end(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=50, options=[])
    member = await shop.member()
    now = clock.now()  # 10:00 in Shanghai
    later = await flash_sale(shop, product["id"], starts_at=(now + timedelta(hours=1)).isoformat())
    assert later["status"] == "scheduled"
    err = assert_error(
        await client.post(f"/v1/flash-sales/{later['id']}/purchase", json={}, headers=member),
        409,
        "not_started",
    )
    assert err["details"]["next_open_at"].startswith("2026-03-02T03:00:00")

    # Daily slots 12:00-12:30 and 20:00-20:30 Shanghai time, over three days.
    slotted = await flash_sale(
        shop,
        product["id"],
        starts_at=now.isoformat(),
        ends_at=(now + timedelta(days=3)).isoformat(),
        slots=[{"start": "20:00", "end": "20:30"}, {"start": "12:00", "end": "12:30"}],
    )
    assert slotted["status"] == "between_slots"
    assert slotted["next_open_at"].startswith("2026-03-02T04:00:00")
    url = f"/v1/flash-sales/{slotted['id']}/purchase"
    assert_error(await client.post(url, json={}, headers=member), 409, "not_started")
    clock.set(now + timedelta(hours=2, minutes=10))  # 12:10
    r = await client.post(url, json={}, headers=member)
    assert r.status_code == 201, r.text
    clock.set(now + timedelta(hours=2, minutes=30))  # 12:30, the slot's end
    other = await shop.member()
    err = assert_error(await client.post(url, json={}, headers=other), 409, "not_started")
    assert err["details"]["next_open_at"].startswith("2026-03-02T12:00:00")

    # Ended early by the operator: no more sales, and a second end is refused.
    await shop.relogin()
    r = await client.post(f"/v1/admin/flash-sales/{slotted['id']}/end", headers=shop.admin)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ended"
    clock.set(now + timedelta(hours=10, minutes=5))  # 20:05, inside a slot
    assert_error(await client.post(url, json={}, headers=other), 409, "ended")
    assert_error(
        await client.post(f"/v1/admin/flash-sales/{slotted['id']}/end", headers=shop.admin),
        409,
        "flash_sale_ended",
    )


async def test_sold_out_and_limits(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=10, options=[])
    sale = await flash_sale(shop, product["id"], stock=3, per_member_limit=3, per_order_limit=2)
    url = f"/v1/flash-sales/{sale['id']}/purchase"
    a, b = await shop.member(), await shop.member()
    err = assert_error(await client.post(url, json={"quantity": 3}, headers=a), 422)
    assert err["code"] == "per_order_limit_exceeded"
    assert (await client.post(url, json={"quantity": 2}, headers=a)).status_code == 201
    err = assert_error(await client.post(url, json={"quantity": 2}, headers=b), 409, "sold_out")
    assert err["details"]["left"] == 1
    assert (await client.post(url, json={"quantity": 1}, headers=b)).status_code == 201
    assert_error(await client.post(url, json={}, headers=b), 409, "sold_out")
    assert (await _sale(client, shop, sale["id"]))["status"] == "sold_out"
    assert len(await purchases(rt, sale["id"])) == 2


async def test_sold_out_is_answered_without_the_database(
    client: httpx.AsyncClient, rt: Runtime, stock_backend: str
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=10, options=[])
    sale = await flash_sale(shop, product["id"], stock=1)
    url = f"/v1/flash-sales/{sale['id']}/purchase"
    first, late = await shop.member(), await shop.member()
    assert (await client.post(url, json={}, headers=first)).status_code == 201
    assert_error(await client.post(url, json={}, headers=late), 409, "sold_out")

    with statements_run(rt.db) as statements:
        for _ in range(3):
            assert_error(await client.post(url, json={}, headers=late), 409, "sold_out")
        # Every backend remembers "sold out" for a moment and answers that first, before
        # the member's count: on Redis the count is a round trip.
        assert_error(await client.post(url, json={}, headers=first), 409, "sold_out")
    assert statements == []


async def test_idempotent_purchase_takes_once(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=10, options=[])
    sale = await flash_sale(shop, product["id"], stock=2, per_member_limit=2)
    member = await shop.member()
    url = f"/v1/flash-sales/{sale['id']}/purchase"
    headers = {**member, "Idempotency-Key": "tap-1"}
    first = await client.post(url, json={}, headers=headers)
    again = await client.post(url, json={}, headers=headers)
    assert first.status_code == again.status_code == 201, (first.text, again.text)
    assert first.json()["id"] == again.json()["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert (await _sale(client, shop, sale["id"]))["stock_left"] == 1


async def test_rate_limited_per_member(
    client: httpx.AsyncClient, rt: Runtime, monkeypatch: pytest.MonkeyPatch, stock_backend: str
) -> None:
    """Each attempt counts once, on every stock backend: on SQL the lane counts it and
    the route, which takes the units in its transaction, does not count it again."""
    shop = await make_shop(client, rt)
    product = await shop.product(stock=10, options=[])
    sale = await flash_sale(shop, product["id"], stock=10, per_member_limit=5)
    monkeypatch.setattr(rt.settings, "flash_sale_attempts_per_member", 3)
    member = await shop.member()
    url = f"/v1/flash-sales/{sale['id']}/purchase"
    codes = [(await client.post(url, json={}, headers=member)).status_code for _ in range(5)]
    assert codes == [201, 201, 201, 429, 429]
    assert (await _sale(client, shop, sale["id"]))["stock_left"] == 7


async def test_bad_input_and_other_merchants(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=5, options=[])
    now = rt.clock.now()
    url = "/v1/admin/flash-sales"
    for bad in (
        {"price": 9.9},
        {"price": 0},
        {"stock": 0},
        {"per_member_limit": 0},
        {"ends_at": (now - timedelta(hours=2)).isoformat()},
        {"starts_at": "2026-03-02T10:00:00"},  # no offset
        {"slots": [{"start": "12:00", "end": "11:00"}]},
        {"slots": [{"start": "12:00", "end": "13:00"}, {"start": "12:30", "end": "14:00"}]},
        {"slots": [{"start": "25:00", "end": "26:00"}]},
        {"unknown": 1},
    ):
        r = await client.post(url, json=sale_body(product["id"], now, **bad), headers=shop.admin)
        assert_error(r, 422)
    past = sale_body(
        product["id"],
        now,
        starts_at=(now - timedelta(hours=3)).isoformat(),
        ends_at=(now - timedelta(hours=1)).isoformat(),
    )
    assert_error(await client.post(url, json=past, headers=shop.admin), 422, "invalid_campaign")
    # More units than the product has: nothing is written, the product keeps its stock.
    too_many = sale_body(product["id"], now, stock=6)
    assert_error(await client.post(url, json=too_many, headers=shop.admin), 409, "sold_out")
    assert await _product_stock(client, shop, product["id"]) == 5
    r = await client.get(url, headers=shop.admin)
    assert r.status_code == 200 and r.json()["items"] == []

    sale = await flash_sale(shop, product["id"], stock=2)
    member = await shop.member()
    purchase = f"/v1/flash-sales/{sale['id']}/purchase"
    for bad_body in ({"quantity": 0}, {"quantity": 1.5}, {"quantity": "1"}, {"x": 1}):
        assert_error(await client.post(purchase, json=bad_body, headers=member), 422)
    assert_error(
        await client.post(purchase, json={"options": {"甜度": "全糖"}}, headers=member), 422
    )
    assert_error(await client.post(purchase, json={}), 401)
    assert_error(await client.post(purchase, json={}, headers={"Authorization": "Bearer x"}), 401)
    assert_error(
        await client.post(
            "/v1/flash-sales/01ARZ3NDEKTSV4RRFFQ69G5FAV/purchase", json={}, headers=member
        ),
        404,
        "flash_sale_not_found",
    )
    assert (await _sale(client, shop, sale["id"]))["stock_left"] == 2

    other = await make_shop(client, rt, "别家")
    stranger = await other.member()
    assert_error(await client.post(purchase, json={}, headers=stranger), 403)
    assert_error(await client.get(f"/v1/flash-sales/{sale['id']}", headers=stranger), 403)
    assert_error(await client.get(f"/v1/admin/flash-sales/{sale['id']}", headers=other.admin), 403)
    assert_error(
        await client.post(f"/v1/admin/flash-sales/{sale['id']}/end", headers=other.admin), 403
    )
    # An id in the body that is not the shop's own: 422 naming it, whoever's it is.
    other_product = await other.product(stock=5)
    for wrong in (other_product["id"], "01ARZ3NDEKTSV4RRFFQ69G5FAV"):
        r = await client.post(url, json=sale_body(wrong, now), headers=shop.admin)
        error = assert_error(r, 422, "unknown_product")
        assert error["details"] == {"field": "product_id", "id": wrong, "ids": [wrong]}
    assert await _product_stock(client, other, other_product["id"]) == 5
    assert (await _sale(client, shop, sale["id"]))["stock_left"] == 2


async def test_a_refund_puts_sold_units_back_on_the_shelf(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=10, options=[])
    sale = await flash_sale(shop, product["id"], stock=4)
    member = await shop.member()
    r = await client.post(f"/v1/flash-sales/{sale['id']}/purchase", json={}, headers=member)
    order = r.json()
    await shop.pay(member, order["id"])
    r = await client.post(f"/v1/orders/{order['id']}/refund", headers=member)
    assert r.status_code == 200 and r.json()["status"] == "refunded", r.text
    assert await _product_stock(client, shop, product["id"]) == 7
    clock.set(clock.now() + timedelta(hours=3))
    await shop.relogin()
    assert await flash.close_due_sales(rt.db, clock) == 1
    # 4 units: 1 sold and refunded (back on the shelf), 3 never sold (back at close).
    assert await _product_stock(client, shop, product["id"]) == 10


async def test_the_price_is_below_the_regular_price(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=1500, stock=10, options=[])
    now = rt.clock.now()
    for price in (1500, 1501, 99_000):
        body = sale_body(product["id"], now, price=price)
        r = await client.post("/v1/admin/flash-sales", json=body, headers=shop.admin)
        error = assert_error(r, 422, "price_not_below_regular")
        assert error["details"] == {
            "price": price,
            "regular_price": 1500,
            "product_id": product["id"],
        }
    # Nothing was written: no sale, the product keeps its stock.
    assert (await client.get("/v1/admin/flash-sales", headers=shop.admin)).json()["items"] == []
    assert await _product_stock(client, shop, product["id"]) == 10
    sale = await flash_sale(shop, product["id"], price=1499)
    assert (sale["price"], sale["regular_price"]) == (1499, 1500)


async def test_a_stale_snapshot_is_read_again_once_in_a_rush(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    """When the sale's snapshot goes stale mid-rush, one request reads it again and the
    others answer from the one they have: no herd of connections at once."""
    shop = await make_shop(client, rt)
    product = await shop.product(stock=10, options=[])
    sale = await flash_sale(shop, product["id"], stock=1)
    url = f"/v1/flash-sales/{sale['id']}/purchase"
    assert (await client.post(url, json={}, headers=await shop.member())).status_code == 201
    members = [await shop.member() for _ in range(20)]
    read_at, snap = pool._snapshots[sale["id"]]
    pool._snapshots[sale["id"]] = (read_at - pool.SNAPSHOT_SECONDS - 1, snap)

    with statements_run(rt.db) as statements:
        answers = await asyncio.gather(*(client.post(url, json={}, headers=m) for m in members))
        reading = pool._reading.get(sale["id"])
        if reading is not None:  # the one read, finishing after the answers
            await reading
    assert {r.status_code for r in answers} == {409}
    reads = [s for s in statements if "FROM flash_sales" in s]
    assert len(reads) == 1, reads
    assert pool._snapshots[sale["id"]][0] > read_at  # the snapshot was read again
