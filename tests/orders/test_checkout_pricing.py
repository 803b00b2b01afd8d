"""The pricing engine end to end: tier discount -> coupon -> points, shown line by line,
held at checkout, given back on cancel and refund."""

from __future__ import annotations

import httpx

from growthloop.core.money import MAX_FEN
from growthloop.core.runtime import Runtime
from tests.helpers import Shop, assert_error, make_shop

PROGRAM = {
    "points_per_yuan": 1,
    "points_per_yuan_spent": 100,
    "max_points_percent": 50,
    "checkin_points": [300],
    "tiers": [
        {"name": "普通会员"},
        {"name": "白银会员", "min_login_days": 1, "discount_percent": 5},
    ],
}


async def _setup(shop: Shop) -> tuple[dict[str, str], dict[str, object], str]:
    r = await shop.client.put("/v1/admin/loyalty/program", json=PROGRAM, headers=shop.admin)
    assert r.status_code == 200, r.text
    product = await shop.product(price=2000, stock=10, category="奶茶")
    member = await shop.member()  # one login day: 白银会员, 95折
    assert (await shop.client.post("/v1/me/checkin", headers=member)).json()[
        "points_awarded"
    ] == 300
    template = await shop.client.post(
        "/v1/admin/coupons",
        json={"name": "满30减5", "kind": "amount_off", "value": 500, "min_spend": 3000},
        headers=shop.admin,
    )
    assert template.status_code == 201, template.text
    coupon = await shop.client.post(f"/v1/coupons/{template.json()['id']}/claim", headers=member)
    assert coupon.status_code == 201, coupon.text
    return member, product, coupon.json()["id"]


async def _state(shop: Shop, member: dict[str, str]) -> tuple[int, str]:
    points = (await shop.client.get("/v1/me/membership", headers=member)).json()["points"]
    coupons = (await shop.client.get("/v1/me/coupons", headers=member)).json()["items"]
    return points, coupons[0]["status"]


async def test_breakdown_and_refund_gives_everything_back(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    member, product, coupon_id = await _setup(shop)
    r = await client.post(
        "/v1/orders",
        json={
            "items": [{"product_id": product["id"], "quantity": 2}],
            "coupon_id": coupon_id,
            "points": 200,
        },
        headers=member,
    )
    assert r.status_code == 201, r.text
    order = r.json()
    # 4000 subtotal, 5% tier = 200, coupon 500 on the 3800 left, 200 points = 200 fen.
    assert (order["subtotal"], order["tier_discount"], order["coupon_discount"]) == (4000, 200, 500)
    assert (order["discount"], order["points_deduction"], order["payable"]) == (700, 200, 3100)
    assert [(b["code"], b["amount"]) for b in order["breakdown"]] == [
        ("subtotal", 4000),
        ("tier_discount", -200),
        ("coupon_discount", -500),
        ("points_deduction", -200),
        ("payable", 3100),
    ]
    assert sum(b["amount"] for b in order["breakdown"][:-1]) == order["payable"]
    assert await _state(shop, member) == (100, "locked")  # held until paid or cancelled

    await shop.pay(member, order["id"])
    assert await _state(shop, member) == (100, "used")
    await client.post(f"/v1/admin/orders/{order['id']}/complete", headers=shop.admin)
    assert (await _state(shop, member))[0] == 100 + 31  # 1 point per yuan actually paid

    r = await client.post(f"/v1/admin/orders/{order['id']}/refund", headers=shop.admin)
    assert r.json()["status"] == "refunded"
    assert await _state(shop, member) == (300, "available")  # points and coupon come back
    assert rt.gateways["sandbox"].refunds == {f"RO{order['id']}": 3100}


async def test_cancel_releases_coupon_and_points(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    member, product, coupon_id = await _setup(shop)
    order = (
        await client.post(
            "/v1/orders",
            json={
                "items": [{"product_id": product["id"], "quantity": 2}],
                "coupon_id": coupon_id,
                "points": 100,
            },
            headers=member,
        )
    ).json()
    # The held coupon cannot be used twice meanwhile.
    r = await client.post(
        "/v1/orders",
        json={"items": [{"product_id": product["id"], "quantity": 2}], "coupon_id": coupon_id},
        headers=member,
    )
    assert_error(r, 409, "coupon_not_available")
    await client.post(f"/v1/orders/{order['id']}/cancel", headers=member)
    assert await _state(shop, member) == (300, "available")


async def test_points_and_coupon_bad_input_writes_nothing(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    member, product, coupon_id = await _setup(shop)
    item = [{"product_id": product["id"], "quantity": 2}]
    cheap = await shop.product(price=400, stock=10, options=[])  # cap: 50% of 380 = 190 fen
    cases = [
        ({"items": item, "points": 301}, 409, "insufficient_points"),
        ({"items": item, "points": -1}, 422, "invalid_input"),
        (
            {"items": [{"product_id": cheap["id"], "quantity": 1}], "points": 200},
            409,
            "points_cap_exceeded",
        ),
        (
            {"items": [{"product_id": product["id"], "quantity": 1}], "coupon_id": coupon_id},
            409,
            "min_spend_not_met",
        ),
        ({"items": item, "coupon_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}, 404, "coupon_not_found"),
    ]
    for body, status, code in cases:
        assert_error(await client.post("/v1/orders", json=body, headers=member), status, code)
    assert await _state(shop, member) == (300, "available")
    r = await client.get(f"/v1/admin/products/{product['id']}", headers=shop.admin)
    assert r.json()["stock"] == 10
    # Another member cannot use this member's coupon.
    other = await shop.member()
    assert_error(
        await client.post(
            "/v1/orders", json={"items": item, "coupon_id": coupon_id}, headers=other
        ),
        404,
    )


async def test_largest_amounts_fit_every_backend(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=MAX_FEN, stock=99, options=[])
    member = await shop.member()
    order = await shop.paid_order(member, product["id"], quantity=99)
    assert order["payable"] == MAX_FEN * 99
    r = await client.post(f"/v1/admin/orders/{order['id']}/complete", headers=shop.admin)
    assert r.status_code == 200
    m = (await client.get("/v1/me/membership", headers=member)).json()
    assert m["growth"] == MAX_FEN * 99 and m["points"] == MAX_FEN * 99 // 100
