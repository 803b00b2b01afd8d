"""Today's orders first: `GET /v1/admin/orders` lists newest first by the time each order
was placed (imported history by its own `ordered_at`), filters by local date range, status,
pickup code, member and source, and pages stably through orders placed at the same time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from growthloop.core.clock import FrozenClock
from growthloop.core.pagination import encode_cursor
from growthloop.core.runtime import Runtime
from growthloop.identity import service as identity
from growthloop.orders.importer import import_orders_csv
from tests.helpers import Shop, assert_error, make_shop
from tests.identity.support import login

# START (conftest) is Monday 2026-03-02 02:00 UTC = 10:00 in Shanghai.
MONDAY_1000 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
MONDAY_2330 = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai, still Monday
TUESDAY_0030 = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)  # 00:30 Tuesday in Shanghai


async def _list(shop: Shop, **params: Any) -> httpx.Response:
    r = await shop.client.get("/v1/admin/orders", params=params, headers=shop.admin)
    if r.status_code == 401:  # the tests move the clock past an admin token's 12 hours
        await shop.relogin()
        r = await shop.client.get("/v1/admin/orders", params=params, headers=shop.admin)
    return r


def _ids(r: httpx.Response) -> list[str]:
    assert r.status_code == 200, r.text
    return [o["id"] for o in r.json()["items"]]


async def _paid_at(
    shop: Shop, clock: FrozenClock, member: dict[str, str], product_id: str, at: datetime
) -> dict[str, Any]:
    clock.set(at)
    return await shop.paid_order(member, product_id)


async def _history(rt: Runtime, shop: Shop, tmp_path: Path) -> None:
    csv = tmp_path / "history.csv"
    csv.write_text(
        "member_external_id,ordered_at,amount\n"
        "old-1,2025-12-30T12:00:00+08:00,1000\n"
        "old-2,2026-01-15T12:00:00+08:00,2000\n",
        encoding="utf-8",
    )
    await import_orders_csv(rt, shop.merchant_id, csv)


async def test_todays_orders_come_before_imported_history(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=50)
    member = await shop.member()
    morning = await _paid_at(shop, clock, member, product["id"], MONDAY_1000)
    late = await _paid_at(shop, clock, member, product["id"], MONDAY_2330)
    # The history is imported after today's orders were placed, as an operator would.
    clock.set(TUESDAY_0030)
    await _history(rt, shop, tmp_path)

    r = await _list(shop, limit=10)
    items = r.json()["items"]
    assert [o["payable"] for o in items] == [1500, 1500, 2000, 1000]
    assert [o["id"] for o in items[:2]] == [late["id"], morning["id"]]
    assert [o["source"] for o in items] == ["app", "app", "import", "import"]
    assert [o["created_at"] for o in items[2:]] == [
        "2026-01-15T04:00:00Z",
        "2025-12-30T04:00:00Z",
    ]
    # The member's own list is in the same order.
    r = await client.get("/v1/orders", headers=member)
    assert _ids(r) == [late["id"], morning["id"]]


async def test_local_date_range_status_pickup_code_member_and_source(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=50)
    ann, ben = await shop.member("ann"), await shop.member("ben")
    monday = await _paid_at(shop, clock, ann, product["id"], MONDAY_1000)
    monday_late = await _paid_at(shop, clock, ben, product["id"], MONDAY_2330)
    tuesday = await _paid_at(shop, clock, ann, product["id"], TUESDAY_0030)
    clock.set(TUESDAY_0030 + timedelta(minutes=5))
    r = await shop.order(ben, product["id"])  # awaiting payment
    pending = r.json()
    await shop.relogin()
    r = await client.post(f"/v1/admin/orders/{monday['id']}/complete", headers=shop.admin)
    assert r.status_code == 200, r.text
    await _history(rt, shop, tmp_path)

    # Local days in Asia/Shanghai: 23:30 on Monday is Monday, 00:30 is Tuesday.
    monday_only = await _list(shop, **{"from": "2026-03-02", "to": "2026-03-02"})
    assert _ids(monday_only) == [monday_late["id"], monday["id"]]
    r = await _list(shop, **{"from": "2026-03-03"})
    assert _ids(r) == [pending["id"], tuesday["id"]]
    r = await _list(shop, to="2026-03-01")
    assert [o["source"] for o in r.json()["items"]] == ["import", "import"]
    r = await _list(shop, **{"from": "2026-01-01", "to": "2026-01-31"})
    assert [o["payable"] for o in r.json()["items"]] == [2000]
    # Status and date together: today's orders still to hand over.
    r = await _list(shop, status="paid", **{"from": "2026-03-02", "to": "2026-03-03"})
    assert _ids(r) == [tuesday["id"], monday_late["id"]]
    r = await _list(shop, status="pending_payment")
    assert _ids(r) == [pending["id"]]
    # Pickup numbers restart every local day: Tuesday's first order is 0001 again.
    assert (monday["pickup_code"], monday_late["pickup_code"], tuesday["pickup_code"]) == (
        "0001",
        "0002",
        "0001",
    )
    r = await _list(shop, pickup_code="0001")
    assert _ids(r) == [tuesday["id"], monday["id"]]
    r = await _list(shop, pickup_code="1", **{"from": "2026-03-03", "to": "2026-03-03"})
    assert _ids(r) == [tuesday["id"]]
    r = await _list(shop, member_id=monday_late["member_id"])
    assert _ids(r) == [pending["id"], monday_late["id"]]
    r = await _list(shop, source="import")
    assert [o["payable"] for o in r.json()["items"]] == [2000, 1000]
    r = await _list(shop, source="app", status="completed")
    assert _ids(r) == [monday["id"]]


async def test_days_are_the_merchants_own(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    async with rt.db.unit_of_work() as uow:
        merchant, _ = await identity.create_merchant(
            uow.session,
            "纽约店",
            "ny@shop.test",
            "owner-password",
            rt.clock.now(),
            "America/New_York",
        )
        merchant_id = merchant.id
    r = await client.post(
        "/v1/admin/login", json={"email": "ny@shop.test", "password": "owner-password"}
    )
    shop = Shop(client, rt, merchant_id, r.json()["token"], "", owner_email="ny@shop.test")
    product = await shop.product(stock=10)
    member = await shop.member()
    # 2026-03-02 02:00 UTC is 21:00 on Sunday 1 March in New York.
    sunday = await _paid_at(shop, clock, member, product["id"], MONDAY_1000)
    r = await _list(shop, **{"from": "2026-03-01", "to": "2026-03-01"})
    assert _ids(r) == [sunday["id"]]
    r = await _list(shop, **{"from": "2026-03-02"})
    assert _ids(r) == []


async def test_pages_are_stable_when_orders_share_a_time(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=50)
    member = await shop.member()
    for _ in range(5):  # the clock stands still: five orders placed at the same instant
        r = await shop.order(member, product["id"])
        assert r.status_code == 201, r.text
    csv = tmp_path / "same.csv"
    csv.write_text(
        "member_external_id,ordered_at,amount\n" + "x,2026-01-05T10:00:00+08:00,100\n" * 4,
        encoding="utf-8",
    )
    await import_orders_csv(rt, shop.merchant_id, csv)
    everything = _ids(await _list(shop, limit=100))
    assert len(everything) == 9

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        r = await _list(shop, **params)
        seen += _ids(r)
        pages += 1
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
        # A new order placed meanwhile does not shift the pages still to come.
        if pages == 2:
            assert (await shop.order(member, product["id"])).status_code == 201
    assert seen == everything
    assert pages == 5


async def test_bad_filters_are_422(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    r = await _list(shop, **{"from": "2026-03-05", "to": "2026-03-01"})
    error = assert_error(r, 422, "invalid_date_range")
    assert error["details"] == {"from": "2026-03-05", "to": "2026-03-01"}
    assert_error(await _list(shop, **{"from": "2026-13-01"}), 422, "invalid_input")
    assert_error(await _list(shop, to="yesterday"), 422, "invalid_input")
    assert_error(await _list(shop, status="lost"), 422, "invalid_input")
    assert_error(await _list(shop, source="fax"), 422, "invalid_input")
    assert_error(await _list(shop, pickup_code="A12"), 422, "invalid_pickup_code")
    assert_error(await _list(shop, pickup_code="123456789"), 422, "invalid_input")
    assert_error(await _list(shop, cursor="not-a-cursor"), 422, "invalid_cursor")
    forged = encode_cursor("t99999999999999999999.01HZZZZZZZZZZZZZZZZZZZZZZZ")
    assert_error(await _list(shop, cursor=forged), 422, "invalid_cursor")


async def test_cursors_from_before_still_work(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    """A cursor that is a bare order id (what this list gave out before) continues after
    that order."""
    shop = await make_shop(client, rt)
    product = await shop.product(stock=50)
    member = await shop.member()
    first = await _paid_at(shop, clock, member, product["id"], MONDAY_1000)
    second = await _paid_at(shop, clock, member, product["id"], MONDAY_2330)
    r = await _list(shop, cursor=encode_cursor(second["id"]))
    assert _ids(r) == [first["id"]]
    other = await make_shop(client, rt)
    await other.relogin()
    r = await client.get(
        "/v1/admin/orders", params={"cursor": encode_cursor(second["id"])}, headers=other.admin
    )
    assert _ids(r) == []
    r = await client.get(
        "/v1/orders", params={"cursor": encode_cursor(second["id"])}, headers=member
    )
    assert _ids(r) == [first["id"]]


async def test_imported_member_sees_history_in_order(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=50)
    alice = await login(client, shop.merchant_id, "old-1")
    clock.set(MONDAY_1000)
    r = await shop.order(alice["headers"], product["id"])
    today = r.json()
    await _history(rt, shop, tmp_path)
    r = await client.get("/v1/orders", headers=alice["headers"])
    assert r.json()["items"][0]["id"] == today["id"]
    assert [o["payable"] for o in r.json()["items"]] == [1500, 1000]
