"""Group buys through the API: open, join, pay, succeed, fail and refund, 模拟成团."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from growthloop.campaigns.group_buys import service as groups
from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from growthloop.payments import service as payments
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
    assert await groups.expire_due_groups(rt.db, rt.gateways, clock) == 1
    assert await groups.expire_due_groups(rt.db, rt.gateways, clock) == 0
    g = await group(shop, gid)
    assert (g["status"], g["members"]) == ("failed", 2)
    statuses = {
        await order_status(shop, leader, opened["order"]["id"]),
        await order_status(shop, paid, paid_order),
    }
    assert statuses == {"paid", "refunded"}  # one refund failed, one went through
    assert await order_status(shop, unpaid, pending_order) == "cancelled"

    clock.advance(hours=2)
    assert await payments.retry_due_refunds(rt.db, rt.gateways, clock) == 1
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
    assert await groups.expire_due_groups(rt.db, rt.gateways, clock) == 2
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
    assert_error(r, 403)
