"""A member's whole loyalty journey through the public API, as a mini-program drives it:
join, check in, claim a coupon, order with the coupon and points, read the breakdown, earn
on completion, climb a tier, redeem a reward in the points mall, and get the coupon,
points and stock back when an order is refunded. Every balance is checked against the
ledger along the way."""

from __future__ import annotations

from typing import Any

import httpx

from growthloop.core.runtime import Runtime
from tests.helpers import Shop, make_shop

PROGRAM = {
    "points_per_yuan": 1,
    "points_per_yuan_spent": 100,  # 1 point = 1 fen
    "max_points_percent": 50,
    "welcome_points": 100,
    "checkin_points": [5, 5, 5, 5, 5, 5, 20],
    "points_expire_days": 365,
    "tiers": [
        {"name": "普通会员"},
        {"name": "白银会员", "min_spend": 20000, "discount_percent": 5},
        {"name": "黄金会员", "min_spend": 100000, "discount_percent": 10},
    ],
}


async def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


async def _ledger_sum(shop: Shop, member: dict[str, str]) -> int:
    items = (await _ok(await shop.client.get("/v1/me/points/ledger?limit=100", headers=member)))[
        "items"
    ]
    return sum(int(e["delta"]) for e in items)


async def _membership(shop: Shop, member: dict[str, str]) -> dict[str, Any]:
    m: dict[str, Any] = await _ok(await shop.client.get("/v1/me/membership", headers=member))
    assert m["points"] == await _ledger_sum(shop, member)  # the balance is the ledger's sum
    return m


async def test_a_members_journey(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    admin = shop.admin
    # The operator sets up the programme, a coupon, a product and a reward.
    await _ok(await client.put("/v1/admin/loyalty/program", json=PROGRAM, headers=admin))
    template = await _ok(
        await client.post(
            "/v1/admin/coupons",
            json={"name": "满20减5", "kind": "amount_off", "value": 500, "min_spend": 2000},
            headers=admin,
        ),
        201,
    )
    tea = await shop.product(name="杨枝甘露", price=12000, stock=10, options=[])
    gift_template = await _ok(
        await client.post(
            "/v1/admin/coupons",
            json={
                "name": "积分兑换券",
                "kind": "amount_off",
                "value": 300,
                "valid_days": 30,
                "obtain": "grant",
            },
            headers=admin,
        ),
        201,
    )
    reward = await _ok(
        await client.post(
            "/v1/admin/mall/rewards",
            json={
                "kind": "coupon",
                "name": "3元券",
                "template_id": gift_template["id"],
                "points_cost": 300,
                "stock": 5,
                "per_member_limit": 1,
            },
            headers=admin,
        ),
        201,
    )

    # A new member agrees to join and checks in.
    member = await shop.member("journey", join=False)
    await _ok(await client.put("/v1/me/consents", json={"membership": True}, headers=member))
    checkin = await _ok(await client.post("/v1/me/checkin", headers=member))
    assert (checkin["streak"], checkin["points_awarded"]) == (1, 5)
    coupon = await _ok(
        await client.post(f"/v1/coupons/{template['id']}/claim", headers=member), 201
    )

    # Orders two teas with the coupon and the 5 points, and reads the breakdown.
    order = await _ok(
        await client.post(
            "/v1/orders",
            json={
                "items": [{"product_id": tea["id"], "quantity": 2}],
                "coupon_id": coupon["id"],
                "points": 5,
            },
            headers=member,
        ),
        201,
    )
    assert (order["subtotal"], order["discount"], order["points_deduction"]) == (24000, 500, 5)
    assert order["payable"] == 24000 - 500 - 5
    steps = {line["code"]: line["amount"] for line in order["breakdown"]}
    assert steps["coupon_discount"] == -500 and steps["points_deduction"] == -5
    payable = steps.pop("payable")
    assert payable == order["payable"] == sum(steps.values())  # the lines add up exactly
    await shop.pay(member, order["id"])  # 支付即会员: enrolled, welcome gift
    m = await _membership(shop, member)
    assert m["enrolled_at"] is not None and m["points"] == 100  # 5 spent, 100 given

    # The store hands it over: points are earned and the member climbs to 白银.
    await _ok(await client.post(f"/v1/admin/orders/{order['id']}/complete", headers=admin))
    m = await _membership(shop, member)
    assert m["points"] == 100 + 234  # 234.95 yuan paid -> 234 points
    assert (m["tier"], m["growth"]) == ("白银会员", 23495)
    assert m["benefits"]["discount_percent"] == 5

    # Redeems a reward in the points mall.
    shelf = await _ok(await client.get("/v1/mall/rewards", headers=member))
    assert [r["id"] for r in shelf["items"]] == [reward["id"]]
    redemption = await _ok(
        await client.post(f"/v1/mall/rewards/{reward['id']}/redeem", json={}, headers=member), 201
    )
    assert redemption["points"] == 300
    m = await _membership(shop, member)
    assert m["points"] == 34
    wallet = (await _ok(await client.get("/v1/me/coupons", headers=member)))["items"]
    gift = next(c for c in wallet if c["template_id"] == gift_template["id"])
    assert gift["status"] == "available"

    # Orders again as 白银 (5% off) with the gift coupon and 30 points, pays, asks a refund.
    second = await _ok(
        await client.post(
            "/v1/orders",
            json={
                "items": [{"product_id": tea["id"], "quantity": 1}],
                "coupon_id": gift["id"],
                "points": 30,
            },
            headers=member,
        ),
        201,
    )
    assert second["payable"] == 12000 - 600 - 300 - 30  # tier 5% -> coupon -> points
    await shop.pay(member, second["id"])
    assert (await _membership(shop, member))["points"] == 4
    refunded = await _ok(await client.post(f"/v1/orders/{second['id']}/refund", headers=member))
    assert refunded["status"] == "refunded"

    # Everything comes back: the points to their batches, the coupon, the stock.
    m = await _membership(shop, member)
    assert m["points"] == 34
    wallet = (await _ok(await client.get("/v1/me/coupons", headers=member)))["items"]
    assert next(c for c in wallet if c["id"] == gift["id"])["status"] == "available"
    product = await _ok(await client.get(f"/v1/products/{tea['id']}", headers=member))
    assert product["stock"] == 10 - 2  # the first order's two teas stay sold
    ledger = (await _ok(await client.get("/v1/me/points/ledger", headers=member)))["items"]
    assert [e["reason"] for e in ledger][:2] == ["order_refunded", "order_spend"]
