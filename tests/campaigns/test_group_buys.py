"""Group buys through the API: open, join, pay, succeed, fail and refund, 模拟成团."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest

from growthloop.campaigns.group_buys import privacy as group_buys_privacy
from growthloop.campaigns.group_buys import tasks as group_tasks
from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from growthloop.payments import tasks as payments_tasks
from tests.campaigns.support import (
    group,
    group_buy,
    join_group,
    open_group,
    order_status,
)
from tests.helpers import Shop, assert_error, make_shop


async def _stock(shop: Shop, product_id: str) -> int:
    r = await shop.client.get(f"/v1/admin/products/{product_id}", headers=shop.admin)
    return int(r.json()["stock"])


async def test_a_group_fills_and_succeeds(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=1500, stock=10)
    gb = await group_buy(shop, product["id"], group_price=990, group_size=3)
    assert gb["status"] == "running" and gb["regular_price"] == 1500
    leader, second, third, late = [await shop.member() for _ in range(4)]

    opened = await open_group(shop, gb["id"], leader)
    gid = opened["group_id"]
    assert opened["order"]["payable"] == 990
    line = opened["order"]["items"][0]
    assert (line["campaign_kind"], line["campaign_id"]) == ("group_buy", gb["id"])
    # Unpaid, the leader does not count and the group is not on the square yet.
    assert (opened["group"]["members"], opened["group"]["needed"]) == (0, 3)
    square = f"/v1/group-buys/{gb['id']}/groups"
    r = await client.get(square, params={"merchant_id": shop.merchant_id})
    assert r.json()["items"] == []
    await shop.pay(leader, opened["order"]["id"])
    g = await group(shop, gid)
    assert (g["status"], g["members"], g["needed"]) == ("forming", 1, 2)
    r = await client.get(square, headers=second)
    assert [x["id"] for x in r.json()["items"]] == [gid]

    joined = await join_group(shop, gid, second)
    assert_error(
        await client.post(f"/v1/groups/{gid}/join", headers=second), 409, "already_in_group"
    )
    await shop.pay(second, joined["order"]["id"])
    joined = await join_group(shop, gid, third)
    await shop.pay(third, joined["order"]["id"])
    g = await group(shop, gid)
    assert (g["status"], g["members"], g["needed"]) == ("succeeded", 3, 0)
    assert [m["role"] for m in g["member_list"]] == ["leader", "member", "member"]
    assert_error(
        await client.post(f"/v1/groups/{gid}/join", headers=late), 409, "group_not_forming"
    )
    assert await _stock(shop, product["id"]) == 7
    r = await client.get(f"/v1/admin/group-buys/{gb['id']}", headers=shop.admin)
    assert (r.json()["groups_succeeded"], r.json()["groups_forming"]) == (1, 0)


async def test_a_short_group_fails_and_every_paid_member_is_refunded(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=1500, stock=10)
    gb = await group_buy(shop, product["id"], group_size=4, duration_minutes=30)
    leader, paid, unpaid = [await shop.member() for _ in range(3)]
    opened = await open_group(shop, gb["id"], leader)
    gid = opened["group_id"]
    await shop.pay(leader, opened["order"]["id"])
    paid_order = (await join_group(shop, gid, paid))["order"]["id"]
    await shop.pay(paid, paid_order)
    pending_order = (await join_group(shop, gid, unpaid))["order"]["id"]
    assert await _stock(shop, product["id"]) == 7

    # The provider refuses the first refund attempt: it stays pending and is retried.
    sandbox = rt.gateways["sandbox"]
    sandbox.fail_next_refunds = 1
    clock.advance(minutes=31)
    assert await group_tasks.expire_due_groups(rt.db, clock, rt.gateways) == 1
    assert await group_tasks.expire_due_groups(rt.db, clock, rt.gateways) == 0
    g = await group(shop, gid)
    assert (g["status"], g["members"]) == ("failed", 2)
    statuses = {
        await order_status(shop, leader, opened["order"]["id"]),
        await order_status(shop, paid, paid_order),
    }
    assert statuses == {"paid", "refunded"}  # one refund failed, one went through
    assert await order_status(shop, unpaid, pending_order) == "cancelled"

    clock.advance(hours=2)
    assert await payments_tasks.retry_due_refunds(rt.db, clock, rt.gateways) == 1
    assert await order_status(shop, leader, opened["order"]["id"]) == "refunded"
    assert await order_status(shop, paid, paid_order) == "refunded"
    r = await client.get(f"/v1/orders/{paid_order}", headers=paid)
    assert r.json()["refund"]["refund_no"] == f"RO{paid_order}"
    assert sorted(sandbox.refunds) == sorted([f"RO{opened['order']['id']}", f"RO{paid_order}"])
    assert await _stock(shop, product["id"]) == 10  # every unit back on the shelf
    await shop.relogin()
    r = await client.get(f"/v1/admin/group-buys/{gb['id']}", headers=shop.admin)
    assert r.json()["groups_failed"] == 1


async def test_enough_members_succeed_at_expiry(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    """模拟成团: a group of 5 with auto_succeed_min 2 and two paid members succeeds when it
    expires; one with a single paid member fails."""
    shop = await make_shop(client, rt)
    product = await shop.product(stock=20)
    gb = await group_buy(shop, product["id"], group_size=5, auto_succeed_min=2)
    a, b, c = [await shop.member() for _ in range(3)]
    first = await open_group(shop, gb["id"], a)
    await shop.pay(a, first["order"]["id"])
    await shop.pay(b, (await join_group(shop, first["group_id"], b))["order"]["id"])
    second = await open_group(shop, gb["id"], c)
    await shop.pay(c, second["order"]["id"])
    clock.advance(minutes=61)
    assert await group_tasks.expire_due_groups(rt.db, clock, rt.gateways) == 2
    g = await group(shop, first["group_id"])
    assert (g["status"], g["simulated"], g["members"]) == ("succeeded", True, 2)
    assert await order_status(shop, a, first["order"]["id"]) == "paid"
    g = await group(shop, second["group_id"])
    assert g["status"] == "failed"
    assert await order_status(shop, c, second["order"]["id"]) == "refunded"


async def test_a_refunded_member_frees_the_seat(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=20)
    gb = await group_buy(shop, product["id"], group_size=3)
    leader, quitter = await shop.member(), await shop.member()
    opened = await open_group(shop, gb["id"], leader)
    await shop.pay(leader, opened["order"]["id"])
    order_id = (await join_group(shop, opened["group_id"], quitter))["order"]["id"]
    await shop.pay(quitter, order_id)
    assert (await group(shop, opened["group_id"]))["members"] == 2
    r = await client.post(f"/v1/orders/{order_id}/refund", headers=quitter)
    assert r.status_code == 200 and r.json()["status"] == "refunded", r.text
    assert (await group(shop, opened["group_id"]))["members"] == 1
    # They may come back to the same group with a new order.
    again = await join_group(shop, opened["group_id"], quitter)
    await shop.pay(quitter, again["order"]["id"])
    assert (await group(shop, opened["group_id"]))["members"] == 2


@pytest.mark.parametrize("overflow", ["refund", "new_group"])
async def test_twenty_members_pay_into_a_group_of_five_at_once(
    client: httpx.AsyncClient, rt: Runtime, overflow: str
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=50, options=[])
    gb = await group_buy(shop, product["id"], group_size=5, overflow=overflow)
    members = [await shop.member() for _ in range(20)]
    opened = await open_group(shop, gb["id"], members[0])
    gid = opened["group_id"]
    order_ids = [opened["order"]["id"]]
    for m in members[1:]:
        order_ids.append((await join_group(shop, gid, m))["order"]["id"])
    payments_ = []
    for m, oid in zip(members, order_ids, strict=True):
        r = await client.post(f"/v1/orders/{oid}/pay", json={"provider": "sandbox"}, headers=m)
        assert r.status_code == 200, r.text
        payments_.append(r.json()["payment_id"])
    results = await asyncio.gather(
        *(client.post(f"/v1/payments/sandbox/{pid}/succeed") for pid in payments_)
    )
    assert all(r.status_code == 200 for r in results), [r.text for r in results]

    g = await group(shop, gid)
    assert (g["status"], g["members"]) == ("succeeded", 5)
    statuses = [await order_status(shop, m, oid) for m, oid in zip(members, order_ids, strict=True)]
    if overflow == "refund":
        assert sorted(statuses) == ["paid"] * 5 + ["refunded"] * 15
        assert await _stock(shop, product["id"]) == 45
    else:
        assert statuses == ["paid"] * 20
        # The 15 who found it full filled three more groups of five.
        r = await client.get(f"/v1/admin/group-buys/{gb['id']}", headers=shop.admin)
        assert (r.json()["groups_succeeded"], r.json()["groups_forming"]) == (4, 0)
        assert await _stock(shop, product["id"]) == 30


async def test_bad_input_wrong_states_and_other_merchants(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=5, options=[])
    url = "/v1/admin/group-buys"
    base = {
        "product_id": product["id"],
        "group_price": 990,
        "group_size": 3,
        "duration_minutes": 60,
    }
    for bad in (
        {"group_price": 9.9},
        {"group_price": 0},
        {"group_size": 1},
        {"duration_minutes": 1},
        {"auto_succeed_min": 3},
        {"overflow": "wait"},
        {"ends_at": "2026-03-02T10:00:00"},
        {"nope": True},
    ):
        assert_error(await client.post(url, json={**base, **bad}, headers=shop.admin), 422)
    past = {**base, "ends_at": (clock.now() - timedelta(hours=1)).isoformat()}
    assert_error(await client.post(url, json=past, headers=shop.admin), 422, "invalid_campaign")
    r = await client.get(url, headers=shop.admin)
    assert r.json()["items"] == []

    later = await group_buy(
        shop, product["id"], starts_at=(clock.now() + timedelta(days=1)).isoformat()
    )
    member = await shop.member()
    r = await client.post(f"/v1/group-buys/{later['id']}/groups", headers=member)
    assert_error(r, 409, "not_started")
    gb = await group_buy(shop, product["id"])
    opened = await open_group(shop, gb["id"], member)
    r = await client.post(f"/v1/admin/group-buys/{gb['id']}/end", headers=shop.admin)
    assert r.status_code == 200 and r.json()["status"] == "ended"
    assert_error(
        await client.post(f"/v1/group-buys/{gb['id']}/groups", headers=member), 409, "ended"
    )
    assert_error(
        await client.post(f"/v1/admin/group-buys/{gb['id']}/end", headers=shop.admin),
        409,
        "group_buy_ended",
    )
    assert_error(
        await client.post("/v1/groups/01ARZ3NDEKTSV4RRFFQ69G5FAV/join", headers=member),
        404,
        "group_not_found",
    )
    assert_error(
        await client.post(f"/v1/groups/{opened['group_id']}/join", json={"x": 1}, headers=member),
        422,
    )

    other = await make_shop(client, rt, "别家")
    stranger = await other.member()
    assert_error(await client.post(f"/v1/groups/{opened['group_id']}/join", headers=stranger), 403)
    assert_error(await client.get(f"/v1/groups/{opened['group_id']}", headers=stranger), 403)
    assert_error(await client.get(f"/v1/admin/group-buys/{gb['id']}", headers=other.admin), 403)
    other_product = await other.product(stock=5)
    r = await client.post(url, json={**base, "product_id": other_product["id"]}, headers=shop.admin)
    assert_error(r, 422, "unknown_product")


# ---- issue 12 -------------------------------------------------------------------------


def _roles(g: dict[str, Any]) -> list[str]:
    return [m["role"] for m in g["member_list"]]


def _seats(g: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], m["status"]) for m in g["member_list"]]


async def test_members_and_the_member_list_agree_in_every_state(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    """Point 17: a failed group lists the members who had paid, each refunded, as many as
    `members`; a member refunded while it formed has left it."""
    shop = await make_shop(client, rt)
    product = await shop.product(price=1500, stock=10, options=[])
    gb = await group_buy(shop, product["id"], group_size=4, duration_minutes=30)
    leader, second, quitter, unpaid = [await shop.member() for _ in range(4)]
    start = clock.now()
    opened = await open_group(shop, gb["id"], leader)
    gid = opened["group_id"]
    await shop.pay(leader, opened["order"]["id"])
    second_order = (await join_group(shop, gid, second))["order"]["id"]
    await shop.pay(second, second_order)
    quitter_order = (await join_group(shop, gid, quitter))["order"]["id"]
    await shop.pay(quitter, quitter_order)
    g = await group(shop, gid)
    assert (g["members"], _roles(g)) == (3, ["leader", "member", "member"])
    clock.advance(minutes=5)
    r = await client.post(f"/v1/orders/{quitter_order}/refund", headers=quitter)
    assert r.status_code == 200 and r.json()["status"] == "refunded", r.text
    await join_group(shop, gid, unpaid)
    g = await group(shop, gid)
    assert (g["status"], g["members"], g["needed"]) == ("forming", 2, 2)
    assert _roles(g) == ["leader", "member"]

    clock.advance(minutes=26)
    assert await group_tasks.expire_due_groups(rt.db, clock, rt.gateways) == 1
    g = await group(shop, gid)
    assert (g["status"], g["members"], g["needed"]) == ("failed", 2, 2)
    assert _roles(g) == ["leader", "member"]
    assert _seats(g) == [("leader", "refunded"), ("member", "refunded")]
    assert [m["paid_at"] is not None for m in g["member_list"]] == [True, True]
    # The refund flow itself is unchanged: both paid orders refunded, the unpaid cancelled.
    assert await order_status(shop, leader, opened["order"]["id"]) == "refunded"
    assert await order_status(shop, second, second_order) == "refunded"
    assert await order_status(shop, quitter, quitter_order) == "refunded"
    assert await _stock(shop, product["id"]) == 10
    # The quitter's data export says when they left.
    quitter_id = (await client.get("/v1/me", headers=quitter)).json()["id"]
    async with rt.db.unit_of_work(write=False) as uow:
        [place] = await group_buys_privacy.export(uow.session, shop.merchant_id, quitter_id)
    assert (place["group_id"], place["status"], place["order_id"]) == (
        gid,
        "refunded",
        quitter_order,
    )
    left = start + timedelta(minutes=5)
    assert (place["paid_at"], place["left_at"]) == (start.isoformat(), left.isoformat())


async def test_a_refund_after_success_keeps_the_seat_marked_refunded(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=1500, stock=10, options=[])
    gb = await group_buy(shop, product["id"], group_size=2)
    leader, second = await shop.member(), await shop.member()
    opened = await open_group(shop, gb["id"], leader)
    await shop.pay(leader, opened["order"]["id"])
    order_id = (await join_group(shop, opened["group_id"], second))["order"]["id"]
    await shop.pay(second, order_id)
    r = await client.post(f"/v1/admin/orders/{order_id}/refund", headers=shop.admin)
    assert r.status_code == 200 and r.json()["status"] == "refunded", r.text
    g = await group(shop, opened["group_id"])
    assert (g["status"], g["members"], g["needed"]) == ("succeeded", 2, 0)
    assert _roles(g) == ["leader", "member"]
    assert _seats(g) == [("leader", "paid"), ("member", "refunded")]


async def test_an_order_names_its_group(client: httpx.AsyncClient, rt: Runtime) -> None:
    """Point 17: the order line carries its group (`campaign_ref`), and follows the payer
    who found the group full into the group they were seated in."""
    shop = await make_shop(client, rt)
    product = await shop.product(price=1500, stock=10, options=[])
    gb = await group_buy(shop, product["id"], group_size=2, overflow="new_group")
    leader, second, late = [await shop.member() for _ in range(3)]
    opened = await open_group(shop, gb["id"], leader)
    gid = opened["group_id"]
    line = opened["order"]["items"][0]
    assert (line["campaign_kind"], line["campaign_id"], line["campaign_ref"]) == (
        "group_buy",
        gb["id"],
        gid,
    )
    await shop.pay(leader, opened["order"]["id"])
    second_order = (await join_group(shop, gid, second))["order"]
    late_order = (await join_group(shop, gid, late))["order"]
    assert second_order["items"][0]["campaign_ref"] == gid
    assert late_order["items"][0]["campaign_ref"] == gid
    await shop.pay(second, second_order["id"])
    await shop.pay(late, late_order["id"])  # the group is full: late leads a new one

    r = await client.get(f"/v1/orders/{second_order['id']}", headers=second)
    assert r.json()["items"][0]["campaign_ref"] == gid
    r = await client.get("/v1/me/groups", headers=late)
    [mine] = r.json()["items"]
    assert mine["id"] != gid
    assert (mine["me"]["role"], mine["me"]["status"], mine["me"]["order_id"]) == (
        "leader",
        "paid",
        late_order["id"],
    )
    r = await client.get(f"/v1/orders/{late_order['id']}", headers=late)
    assert r.json()["status"] == "paid"
    assert r.json()["items"][0]["campaign_ref"] == mine["id"]
    r = await client.get(f"/v1/admin/orders/{late_order['id']}", headers=shop.admin)
    assert r.json()["items"][0]["campaign_ref"] == mine["id"]
    # An order at the regular price names no campaign.
    plain = await shop.paid_order(late, product["id"])
    assert (plain["items"][0]["campaign_id"], plain["items"][0]["campaign_ref"]) == (None, None)


async def test_members_and_operators_list_groups_finished_ones_too(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=1500, stock=20, options=[])
    gb = await group_buy(shop, product["id"], group_size=2, duration_minutes=30)
    x, y = await shop.member(), await shop.member()
    g1 = await open_group(shop, gb["id"], x)
    await shop.pay(x, g1["order"]["id"])
    await shop.pay(y, (await join_group(shop, g1["group_id"], y))["order"]["id"])
    g2 = await open_group(shop, gb["id"], x)
    await shop.pay(x, g2["order"]["id"])
    clock.advance(minutes=31)
    assert await group_tasks.expire_due_groups(rt.db, clock, rt.gateways) == 1
    g3 = await open_group(shop, gb["id"], x)  # not paid yet
    lapsed = await open_group(shop, gb["id"], x)
    r = await client.post(f"/v1/orders/{lapsed['order']['id']}/cancel", headers=x)
    assert r.status_code == 200, r.text
    ids = [g3["group_id"], g2["group_id"], g1["group_id"]]

    r = await client.get("/v1/me/groups", headers=x)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [g["id"] for g in items] == ids
    assert [(g["status"], g["members"], g["me"]["status"]) for g in items] == [
        ("forming", 0, "pending"),
        ("failed", 1, "refunded"),
        ("succeeded", 2, "paid"),
    ]
    assert [g["me"]["order_id"] for g in items] == [
        g3["order"]["id"],
        g2["order"]["id"],
        g1["order"]["id"],
    ]
    assert [[m["is_me"] for m in g["member_list"]] for g in items] == [[], [True], [True, False]]
    assert r.json()["next_cursor"] is None
    for status, expected in (("failed", ids[1:2]), ("succeeded", ids[2:]), ("forming", ids[:1])):
        r = await client.get("/v1/me/groups", params={"status": status}, headers=x)
        assert [g["id"] for g in r.json()["items"]] == expected
    r = await client.get("/v1/me/groups", params={"limit": 2}, headers=x)
    assert [g["id"] for g in r.json()["items"]] == ids[:2]
    cursor = r.json()["next_cursor"]
    r = await client.get("/v1/me/groups", params={"limit": 2, "cursor": cursor}, headers=x)
    assert ([g["id"] for g in r.json()["items"]], r.json()["next_cursor"]) == (ids[2:], None)
    r = await client.get("/v1/me/groups", headers=y)
    assert [(g["id"], g["me"]["role"]) for g in r.json()["items"]] == [(ids[2], "member")]

    await shop.relogin()
    url = f"/v1/admin/group-buys/{gb['id']}/groups"
    r = await client.get(url, headers=shop.admin)
    assert r.status_code == 200, r.text
    everyone = [lapsed["group_id"], *ids]
    assert [g["id"] for g in r.json()["items"]] == everyone
    r = await client.get(url, params={"status": "failed"}, headers=shop.admin)
    [failed] = r.json()["items"]
    assert (failed["id"], failed["members"], _seats(failed)) == (
        ids[1],
        1,
        [("leader", "refunded")],
    )
    r = await client.get(url, params={"status": "forming", "limit": 1}, headers=shop.admin)
    assert [g["id"] for g in r.json()["items"]] == [lapsed["group_id"]]
    r = await client.get(
        url, params={"status": "forming", "cursor": r.json()["next_cursor"]}, headers=shop.admin
    )
    assert ([g["id"] for g in r.json()["items"]], r.json()["next_cursor"]) == (ids[:1], None)

    assert_error(await client.get(url, params={"status": "done"}, headers=shop.admin), 422)
    assert_error(await client.get("/v1/me/groups", params={"status": "x"}, headers=x), 422)
    unknown = "/v1/admin/group-buys/01ARZ3NDEKTSV4RRFFQ69G5FAV/groups"
    assert_error(
        await client.get(unknown, headers=shop.admin),
        404,
        "group_buy_not_found",
    )
    other = await make_shop(client, rt, "别家")
    assert_error(await client.get(url, headers=other.admin), 403, "forbidden")
    stranger = await other.member()
    r = await client.get("/v1/me/groups", headers=stranger)
    assert r.json() == {"items": [], "next_cursor": None}


async def test_a_group_buy_names_a_product_of_the_shop_below_its_price(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    """Point 4: the body's product_id is the caller's (422 naming it otherwise, unknown or
    another merchant's alike), and the group price is below the regular price."""
    shop = await make_shop(client, rt)
    other = await make_shop(client, rt, "别家")
    product = await shop.product(price=1500, stock=5, options=[])
    theirs = await other.product(price=1500, stock=5, options=[])
    url = "/v1/admin/group-buys"
    base = {"product_id": product["id"], "group_size": 3, "duration_minutes": 60}
    for pid in (theirs["id"], "01ARZ3NDEKTSV4RRFFQ69G5FAV"):
        body = {**base, "product_id": pid, "group_price": 990}
        error = assert_error(
            await client.post(url, json=body, headers=shop.admin), 422, "unknown_product"
        )
        assert error["details"] == {"field": "product_id", "id": pid, "ids": [pid]}
        assert pid in error["message"]
    for price in (1500, 1501, 99999):
        body = {**base, "group_price": price}
        error = assert_error(
            await client.post(url, json=body, headers=shop.admin), 422, "price_not_below_regular"
        )
        assert error["details"] == {
            "field": "group_price",
            "group_price": price,
            "regular_price": 1500,
            "product_id": product["id"],
        }
    r = await client.get(url, headers=shop.admin)
    assert r.json()["items"] == []
    r = await client.post(url, json={**base, "group_price": 1499}, headers=shop.admin)
    assert r.status_code == 201 and r.json()["group_price"] == 1499, r.text
