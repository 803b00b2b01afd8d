"""Redeeming rewards as a member does, and the operator's follow-up: vouchers at the counter,
gifts shipped, pending redemptions cancelled with everything given back exactly."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.audit import AuditEntry
from growthloop.core.clock import FrozenClock
from growthloop.core.events import DomainEvent
from growthloop.core.runtime import Runtime
from growthloop.loyalty.models import LedgerEntry, PointsBatch
from growthloop.mall.events import MallCancelled, MallFulfilled, MallRedeemed
from tests.helpers import Shop, assert_error, make_shop
from tests.mall.support import (
    SHIPPING,
    balance,
    db_state,
    earn,
    ledger,
    ledger_balanced,
    member_id,
    my_redemptions,
    program,
    redeem,
    reward,
)


async def _shop_with_points(
    client: httpx.AsyncClient, rt: Runtime, points: int = 500
) -> tuple[Shop, dict[str, str]]:
    shop = await make_shop(client, rt)
    await program(shop)
    member = await shop.member()
    await earn(shop, member, points)
    return shop, member


async def test_product_voucher_redeemed_at_the_counter(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop, member = await _shop_with_points(client, rt)
    product = await shop.product(name="招牌奶茶")
    voucher = await reward(
        shop, kind="product", product_id=product["id"], name="奶茶兑换券", points_cost=200
    )
    r = await redeem(shop, member, voucher["id"])
    assert r.status_code == 201, r.text
    redemption = r.json()
    assert redemption["status"] == "pending" and redemption["kind"] == "product"
    assert (redemption["points"], redemption["quantity"]) == (200, 1)
    assert redemption["reward_name"] == "奶茶兑换券" and redemption["shipping"] is None
    code = redemption["code"]
    assert len(code) == 12 and code.isdigit()
    assert await balance(client, member) == 300
    entry = (await ledger(client, member))[0]
    assert (entry["reason"], entry["delta"], entry["ref"]) == (
        "mall_redeem",
        -200,
        redemption["id"],
    )
    assert [x["id"] for x in await my_redemptions(client, member)] == [redemption["id"]]

    # Another merchant's staff cannot use the code; this store's staff can, once.
    other = await make_shop(client, rt, "别家")
    r = await client.post(
        "/v1/admin/mall/redemptions/verify", json={"code": code}, headers=other.admin
    )
    assert_error(r, 404, "voucher_not_found")
    staff = await shop.staff("support")
    r = await client.post("/v1/admin/mall/redemptions/verify", json={"code": code}, headers=staff)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "fulfilled" and r.json()["fulfilled_at"] is not None
    assert r.json()["member_id"] == await member_id(client, member)
    r = await client.post("/v1/admin/mall/redemptions/verify", json={"code": code}, headers=staff)
    assert_error(r, 409, "invalid_redemption_state")
    r = await client.post(
        f"/v1/admin/mall/redemptions/{redemption['id']}/cancel", headers=shop.admin
    )
    assert_error(r, 409, "invalid_redemption_state")
    assert await balance(client, member) == 300
    r = await client.get(
        "/v1/admin/mall/redemptions", params={"status": "fulfilled"}, headers=shop.admin
    )
    assert [x["id"] for x in r.json()["items"]] == [redemption["id"]]


async def test_physical_gift_shipped_with_tracking(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop, member = await _shop_with_points(client, rt)
    gift = await reward(shop, name="定制帆布袋", points_cost=150, stock=3)
    before = await db_state(shop)
    assert_error(await redeem(shop, member, gift["id"]), 422, "shipping_required")
    assert await db_state(shop) == before

    r = await redeem(shop, member, gift["id"], quantity=2, shipping=SHIPPING)
    assert r.status_code == 201, r.text
    redemption = r.json()
    assert (redemption["status"], redemption["points"], redemption["code"]) == (
        "pending",
        300,
        None,
    )
    assert redemption["shipping"] == SHIPPING
    assert await balance(client, member) == 200

    path = f"/v1/admin/mall/redemptions/{redemption['id']}/fulfil"
    analyst = await shop.staff("analyst")
    assert_error(await client.post(path, json={}, headers=analyst), 403, "forbidden")
    r = await client.post(path, json={"tracking_no": "SF1234567890"}, headers=shop.admin)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["tracking_no"]) == ("fulfilled", "SF1234567890")
    assert_error(await client.post(path, headers=shop.admin), 409, "invalid_redemption_state")
    mine = await my_redemptions(client, member)
    assert (mine[0]["status"], mine[0]["tracking_no"]) == ("fulfilled", "SF1234567890")


async def test_tracking_number_is_for_shipped_gifts_only(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop, member = await _shop_with_points(client, rt)
    voucher = await reward(shop, kind="product", product_id=(await shop.product())["id"])
    redemption = (await redeem(shop, member, voucher["id"])).json()
    path = f"/v1/admin/mall/redemptions/{redemption['id']}/fulfil"
    r = await client.post(path, json={"tracking_no": "SF1"}, headers=shop.admin)
    assert_error(r, 422, "tracking_not_accepted")
    r = await client.post(path, headers=shop.admin)
    assert r.status_code == 200 and r.json()["tracking_no"] is None


async def test_coupon_reward_lands_in_the_wallet(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop, member = await _shop_with_points(client, rt)
    body = {
        "name": "满30减5",
        "kind": "amount_off",
        "value": 500,
        "min_spend": 3000,
        "per_member_limit": 5,
        "obtain": "grant",
    }
    r = await client.post("/v1/admin/coupons", json=body, headers=shop.admin)
    template = r.json()
    offer = await reward(
        shop, kind="coupon", template_id=template["id"], stock=None, points_cost=100
    )
    r = await redeem(shop, member, offer["id"], quantity=2)
    assert r.status_code == 201, r.text
    redemption = r.json()
    assert (redemption["status"], redemption["points"]) == ("issued", 200)
    assert len(redemption["coupon_ids"]) == 2
    wallet = (await client.get("/v1/me/coupons", headers=member)).json()["items"]
    assert {c["id"] for c in wallet} == set(redemption["coupon_ids"])
    assert {c["template_id"] for c in wallet} == {template["id"]}
    assert all(c["status"] == "available" for c in wallet)
    # Coupons given are final: the redemption cannot be cancelled.
    r = await client.post(
        f"/v1/admin/mall/redemptions/{redemption['id']}/cancel", headers=shop.admin
    )
    assert_error(r, 409, "invalid_redemption_state")
    assert await balance(client, member) == 300


async def test_coupon_template_limits_refuse_the_whole_redemption(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop, member = await _shop_with_points(client, rt)
    body = {"name": "免单券", "kind": "amount_off", "value": 1500, "total": 1, "obtain": "grant"}
    template = (await client.post("/v1/admin/coupons", json=body, headers=shop.admin)).json()
    offer = await reward(shop, kind="coupon", template_id=template["id"], stock=None)
    before = await db_state(shop)
    # Two coupons asked for, one left: nothing is given, nothing is charged.
    assert_error(await redeem(shop, member, offer["id"], quantity=2), 409)
    assert await db_state(shop) == before
    assert (await client.get("/v1/me/coupons", headers=member)).json()["items"] == []
    assert (await redeem(shop, member, offer["id"])).status_code == 201


async def test_cancel_returns_points_to_the_same_batches(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    await program(shop)
    member = await shop.member()
    await earn(shop, member, 100)  # expires first
    clock.advance(days=10)
    await shop.relogin()
    await earn(shop, member, 200)
    gift = await reward(shop, points_cost=80, stock=4, per_member_limit=2)
    r = await redeem(shop, member, gift["id"], quantity=2, shipping=SHIPPING)
    assert r.status_code == 201, r.text
    redemption = r.json()
    assert await balance(client, member) == 140

    async with rt.db.unit_of_work(write=False) as uow:
        spend = await _entry(uow.session, f"mall:{redemption['id']}:spend")
        batches_spent = await _batches(uow.session, shop.merchant_id)
    # 160 points: the 100 that expire first, then 60 of the later batch.
    assert sorted(spend.allocations.values()) == [60, 100]
    assert sorted(batches_spent.values()) == [0, 140]
    assert_error(await redeem(shop, member, gift["id"], shipping=SHIPPING), 409)

    r = await client.post(
        f"/v1/admin/mall/redemptions/{redemption['id']}/cancel",
        json={"reason": "缺货"},
        headers=shop.admin,
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["cancelled_at"] is not None
    assert await balance(client, member) == 300
    async with rt.db.unit_of_work(write=False) as uow:
        back = await _entry(uow.session, f"mall:{redemption['id']}:return")
        batches_back = await _batches(uow.session, shop.merchant_id)
        audit = (
            await uow.session.execute(
                select(AuditEntry.action).where(AuditEntry.subject_id == redemption["id"])
            )
        ).scalars()
        assert list(audit) == ["mall.redemption.cancel"]
    assert back.allocations == spend.allocations and back.delta == 160
    assert sorted(batches_back.values()) == [100, 200]
    entry = (await ledger(client, member))[0]
    assert (entry["reason"], entry["delta"], entry["ref"]) == ("mall_cancel", 160, redemption["id"])
    await ledger_balanced(shop)

    r = await client.get(f"/v1/admin/mall/rewards/{gift['id']}", headers=shop.admin)
    assert (r.json()["redeemed"], r.json()["stock_left"]) == (0, 4)
    r = await client.get(f"/v1/mall/rewards/{gift['id']}", headers=member)
    assert (r.json()["my_redeemed"], r.json()["redeemable"]) == (0, True)
    # The member's limit came back too: two more may be redeemed.
    r = await redeem(shop, member, gift["id"], quantity=2, shipping=SHIPPING)
    assert r.status_code == 201, r.text


async def _entry(session: AsyncSession, key: str) -> LedgerEntry:
    stmt = select(LedgerEntry).where(LedgerEntry.idempotency_key == key)
    return (await session.execute(stmt)).scalar_one()


async def _batches(session: AsyncSession, merchant_id: str) -> dict[str, int]:
    stmt = select(PointsBatch.id, PointsBatch.remaining).where(
        PointsBatch.merchant_id == merchant_id
    )
    return {row.id: row.remaining for row in await session.execute(stmt)}


async def test_idempotency_key_replay_redeems_once(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop, member = await _shop_with_points(client, rt)
    gift = await reward(shop, points_cost=100)
    headers = {**member, "Idempotency-Key": "redeem-once-1"}
    path = f"/v1/mall/rewards/{gift['id']}/redeem"
    first = await client.post(path, json={"shipping": SHIPPING}, headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post(path, json={"shipping": SHIPPING}, headers=headers)
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    assert len(await my_redemptions(client, member)) == 1
    assert [e["reason"] for e in await ledger(client, member)].count("mall_redeem") == 1
    assert await balance(client, member) == 400
    r = await client.get(f"/v1/admin/mall/rewards/{gift['id']}", headers=shop.admin)
    assert r.json()["redeemed"] == 1


async def test_events_for_analytics(client: httpx.AsyncClient, rt: Runtime) -> None:
    seen: list[DomainEvent] = []

    async def record(session: AsyncSession, event: DomainEvent) -> None:
        seen.append(event)

    for kind in (MallRedeemed, MallFulfilled, MallCancelled):
        rt.bus.on(kind, record)
    try:
        shop, member = await _shop_with_points(client, rt)
        gift = await reward(shop, points_cost=100)
        first = (await redeem(shop, member, gift["id"], shipping=SHIPPING)).json()
        second = (await redeem(shop, member, gift["id"], shipping=SHIPPING)).json()
        assert_error(await redeem(shop, member, gift["id"]), 422)  # rolled back: no event
        await client.post(f"/v1/admin/mall/redemptions/{first['id']}/fulfil", headers=shop.admin)
        await client.post(f"/v1/admin/mall/redemptions/{second['id']}/cancel", headers=shop.admin)
    finally:
        for kind in (MallRedeemed, MallFulfilled, MallCancelled):
            rt.bus.off(kind, record)
    mid = await member_id(client, member)
    assert [(e.name, e.payload["redemption_id"]) for e in seen] == [
        ("mall.redeemed", first["id"]),
        ("mall.redeemed", second["id"]),
        ("mall.fulfilled", first["id"]),
        ("mall.cancelled", second["id"]),
    ]
    assert all(e.member_id == mid and e.merchant_id == shop.merchant_id for e in seen)
    assert seen[0].payload == {
        "redemption_id": first["id"],
        "reward_id": gift["id"],
        "kind": "physical",
        "quantity": 1,
        "points": 100,
        "status": "pending",
    }


# ---- refusals: 4xx and nothing written ------------------------------------------------


async def _refused(
    shop: Shop,
    member: dict[str, str],
    reward_id: str,
    status: int,
    code: str,
    body: Any = None,
    content: bytes | None = None,
) -> None:
    before = await db_state(shop)
    path = f"/v1/mall/rewards/{reward_id}/redeem"
    if content is not None:
        headers = {**member, "Content-Type": "application/json"}
        r = await shop.client.post(path, content=content, headers=headers)
    else:
        r = await shop.client.post(path, json=body, headers=member)
    assert_error(r, status, code)
    assert await db_state(shop) == before


async def test_not_enough_points(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop, member = await _shop_with_points(client, rt, 150)
    gift = await reward(shop, points_cost=100)
    await _refused(
        shop, member, gift["id"], 409, "insufficient_points", {"quantity": 2, "shipping": SHIPPING}
    )
    newcomer = await shop.member()  # no points account at all yet
    await _refused(shop, newcomer, gift["id"], 409, "insufficient_points", {"shipping": SHIPPING})


async def test_negative_balance_blocks_redemption(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    await program(shop)
    member = await shop.member()
    order = await earn(shop, member, 300)
    gift = await reward(shop, points_cost=100, stock=5)
    r = await redeem(shop, member, gift["id"], quantity=2, shipping=SHIPPING)
    assert r.status_code == 201, r.text
    # The order that earned the points is refunded: 200 of them were spent already.
    r = await client.post(f"/v1/admin/orders/{order['id']}/refund", headers=shop.admin)
    assert r.status_code == 200, r.text
    assert await balance(client, member) == -200
    await earn(shop, member, 150)
    assert await balance(client, member) == -50
    await _refused(shop, member, gift["id"], 409, "points_locked", {"shipping": SHIPPING})
    await ledger_balanced(shop)


async def test_outside_the_redemption_window(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop, member = await _shop_with_points(client, rt)
    now = clock.now()
    window = {
        "shown_from": (now - timedelta(days=1)).isoformat(),
        "shown_until": (now + timedelta(days=10)).isoformat(),
        "redeem_from": (now + timedelta(days=2)).isoformat(),
        "redeem_until": (now + timedelta(days=5)).isoformat(),
    }
    gift = await reward(shop, **window)
    r = await client.get("/v1/mall/rewards", headers=member)
    (shown,) = r.json()["items"]
    assert (shown["id"], shown["redeemable"], shown["unavailable_reason"]) == (
        gift["id"],
        False,
        "not_started",
    )
    body = {"shipping": SHIPPING}
    await _refused(shop, member, gift["id"], 409, "redemption_not_started", body)
    clock.advance(days=2)
    r = await client.get(f"/v1/mall/rewards/{gift['id']}", headers=member)
    assert r.json()["redeemable"] is True
    assert (await redeem(shop, member, gift["id"], **body)).status_code == 201
    clock.advance(days=3)  # redemption ended; still on show
    r = await client.get(f"/v1/mall/rewards/{gift['id']}", headers=member)
    assert (r.json()["redeemable"], r.json()["unavailable_reason"]) == (False, "ended")
    await _refused(shop, member, gift["id"], 409, "redemption_ended", body)
    clock.advance(days=5)  # off show: members no longer find it
    assert (await client.get("/v1/mall/rewards", headers=member)).json()["items"] == []
    await _refused(shop, member, gift["id"], 404, "reward_not_found", body)


async def test_sold_out_inactive_and_other_merchants_rewards(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop, member = await _shop_with_points(client, rt)
    body = {"shipping": SHIPPING}
    empty = await reward(shop, stock=0)
    await _refused(shop, member, empty["id"], 409, "reward_sold_out", body)
    hidden = await reward(shop, active=False)
    await _refused(shop, member, hidden["id"], 404, "reward_not_found", body)
    await _refused(shop, member, "01ARZ3NDEKTSV4RRFFQ69G5FAV", 404, "reward_not_found", body)
    other = await make_shop(client, rt, "别家")
    theirs = await reward(other)
    await _refused(shop, member, theirs["id"], 403, "forbidden", body)
    assert_error(await client.get(f"/v1/mall/rewards/{theirs['id']}", headers=member), 403)
    r = await client.get(f"/v1/admin/mall/rewards/{theirs['id']}", headers=shop.admin)
    assert_error(r, 403, "forbidden")
    assert (await client.get(f"/v1/admin/mall/rewards/{theirs['id']}", headers=other.admin)).json()[
        "redeemed"
    ] == 0


async def test_bad_bodies(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop, member = await _shop_with_points(client, rt)
    gift = await reward(shop)
    voucher = await reward(shop, kind="product", product_id=(await shop.product())["id"])
    rid = gift["id"]
    bodies: tuple[Any, ...] = (
        {"quantity": 0, "shipping": SHIPPING},
        {"quantity": 11, "shipping": SHIPPING},
        {"quantity": "1", "shipping": SHIPPING},
        {"quantity": 1.0, "shipping": SHIPPING},
        {"quantity": -1, "shipping": SHIPPING},
        {"shipping": SHIPPING, "points": 1},
        {"shipping": {**SHIPPING, "phone": "call me"}},
        {"shipping": {**SHIPPING, "address": ""}},
        {"shipping": {"name": "张三", "phone": "13800138000"}},
        {"shipping": {**SHIPPING, "email": "a@b.c"}},
        [],
        "gift",
    )
    for body in bodies:
        await _refused(shop, member, rid, 422, "invalid_input", body)
    await _refused(shop, member, rid, 422, "malformed_json", content=b"{")
    await _refused(
        shop, member, voucher["id"], 422, "shipping_not_accepted", {"shipping": SHIPPING}
    )
    assert await my_redemptions(client, member) == []


async def test_the_shelf_says_why_a_reward_cannot_be_redeemed(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop, member = await _shop_with_points(client, rt, points=150)
    other = await shop.member()
    await earn(shop, other, 100)
    now = clock.now()
    exact = await reward(shop, name="正好", points_cost=150, stock=5, per_member_limit=1)
    dear = await reward(shop, name="太贵", points_cost=151, stock=5)
    gone = await reward(shop, name="抢光", points_cost=100, stock=1)
    await reward(
        shop,
        name="后天",
        points_cost=1000,
        redeem_from=(now + timedelta(days=2)).isoformat(),
    )
    assert (await redeem(shop, other, gone["id"], shipping=SHIPPING)).status_code == 201

    async def shelf(headers: dict[str, str]) -> dict[str, tuple[bool, str | None]]:
        r = await client.get("/v1/mall/rewards", headers=headers)
        assert r.status_code == 200, r.text
        return {x["name"]: (x["redeemable"], x["unavailable_reason"]) for x in r.json()["items"]}

    assert await shelf(member) == {
        "正好": (True, None),
        "太贵": (False, "insufficient_points"),
        "抢光": (False, "sold_out"),
        "后天": (False, "not_started"),
    }
    # The one marked redeemable is; the one marked short of points is refused.
    await _refused(shop, member, dear["id"], 409, "insufficient_points", {"shipping": SHIPPING})
    assert (await redeem(shop, member, exact["id"], shipping=SHIPPING)).status_code == 201
    assert await shelf(member) == {
        "正好": (False, "limit_reached"),
        "太贵": (False, "insufficient_points"),
        "抢光": (False, "sold_out"),
        "后天": (False, "not_started"),
    }
    r = await client.get(f"/v1/mall/rewards/{dear['id']}", headers=member)
    assert (r.json()["redeemable"], r.json()["unavailable_reason"]) == (
        False,
        "insufficient_points",
    )
    # A member outside the programme has no points at all.
    stranger = await shop.member(join=False)
    assert (await shelf(stranger))["正好"] == (False, "insufficient_points")
