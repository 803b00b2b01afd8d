"""The pricing engine end to end: campaign price -> tier discount -> coupon -> points, shown
line by line, held at checkout, given back on cancel and refund."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from growthloop.core.money import MAX_FEN
from growthloop.core.runtime import Runtime
from growthloop.orders import service as orders
from growthloop.orders.pricing import PricingError
from growthloop.orders.schemas import OrderIn
from growthloop.orders.service import CampaignPrice
from growthloop.promotions.errors import CouponNotApplicable
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


# ---- campaign prices (the entry point campaigns create their orders through) ----------


async def _campaign_order(
    shop: Shop,
    member: dict[str, str],
    items: list[dict[str, Any]],
    campaigns: list[CampaignPrice | None],
    **extra: Any,
) -> dict[str, Any]:
    mid = (await shop.client.get("/v1/me", headers=member)).json()["id"]
    async with shop.rt.db.unit_of_work() as uow:
        placed = await orders.create_order(
            uow.session,
            merchant_id=shop.merchant_id,
            member_id=mid,
            data=OrderIn.model_validate({"items": items, **extra}),
            payment_window=timedelta(minutes=15),
            campaigns=campaigns,
        )
        order_id = placed.order.id
    r = await shop.client.get(f"/v1/orders/{order_id}", headers=member)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_campaign_line_keeps_its_price_and_skips_tier_and_coupon(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    member, product, coupon_id = await _setup(shop)  # 白银会员 95折, 满30减5, 300 points
    other = await shop.product(price=2000, stock=10, category="奶茶")
    order = await _campaign_order(
        shop,
        member,
        [{"product_id": product["id"], "quantity": 2}, {"product_id": other["id"], "quantity": 2}],
        [CampaignPrice("flash_sale", 990), None],
        coupon_id=coupon_id,
        points=200,
    )
    # Flash sale 2 x 9.90 (regular 2 x 20.00); the regular line 4000 gets 5% = 200 off; the
    # coupon counts only the regular line (3800 >= 3000): 500; 200 points = 200 fen.
    assert (order["subtotal"], order["campaign_discount"]) == (1980 + 4000, 2020)
    assert (order["tier_discount"], order["coupon_discount"], order["discount"]) == (200, 500, 700)
    assert (order["points_deduction"], order["payable"]) == (200, 5080)
    assert [(b["code"], b["amount"]) for b in order["breakdown"]] == [
        ("regular_subtotal", 8000),
        ("campaign_discount", -2020),
        ("tier_discount", -200),
        ("coupon_discount", -500),
        ("points_deduction", -200),
        ("payable", 5080),
    ]
    assert sum(b["amount"] for b in order["breakdown"][:-1]) == order["payable"]
    assert order["subtotal"] == sum(i["line_total"] for i in order["items"])
    sale, regular = order["items"]
    assert (sale["unit_price"], sale["line_total"], sale["campaign_kind"]) == (
        990,
        1980,
        "flash_sale",
    )
    assert sale["regular_unit_price"] == 2000
    assert (regular["campaign_kind"], regular["regular_unit_price"]) == (None, None)

    # The order lives like any other: paid, completed, refunded with everything given back.
    await shop.pay(member, order["id"])
    r = await client.post(f"/v1/admin/orders/{order['id']}/complete", headers=shop.admin)
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/admin/orders/{order['id']}/refund", headers=shop.admin)
    assert r.json()["status"] == "refunded"
    assert await _state(shop, member) == (300, "available")
    assert rt.gateways["sandbox"].refunds == {f"RO{order['id']}": 5080}


async def test_coupon_on_campaign_lines_only_when_the_template_stacks(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    member, product, coupon_id = await _setup(shop)
    items = [{"product_id": product["id"], "quantity": 4}]  # 4 x 15.00 at the group price
    with pytest.raises(CouponNotApplicable):
        await _campaign_order(
            shop, member, items, [CampaignPrice("group_buy", 1500)], coupon_id=coupon_id
        )
    # Refused before anything was held: stock, coupon and points untouched, no order.
    assert await _state(shop, member) == (300, "available")
    r = await client.get(f"/v1/admin/products/{product['id']}", headers=shop.admin)
    assert r.json()["stock"] == 10
    assert (await client.get("/v1/orders", headers=member)).json()["items"] == []

    r = await client.post(
        "/v1/admin/coupons",
        json={
            "name": "活动可用",
            "kind": "percent_off",
            "value": 10,
            "stacks_with_campaigns": True,
        },
        headers=shop.admin,
    )
    assert r.status_code == 201, r.text
    stacking = (await client.post(f"/v1/coupons/{r.json()['id']}/claim", headers=member)).json()
    order = await _campaign_order(
        shop, member, items, [CampaignPrice("group_buy", 1500)], coupon_id=stacking["id"]
    )
    # No tier discount on the group price; 10% of 6000 = 600 off.
    assert (order["subtotal"], order["campaign_discount"], order["tier_discount"]) == (
        6000,
        2000,
        0,
    )
    assert (order["coupon_discount"], order["payable"]) == (600, 5400)


async def test_campaign_price_with_options_and_above_the_regular_price(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    member, product, _ = await _setup(shop)  # 2000, 大杯 +300
    order = await _campaign_order(
        shop,
        member,
        [
            {"product_id": product["id"], "quantity": 1, "options": {"杯型": "大杯"}},
            {"product_id": product["id"], "quantity": 1},
        ],
        [CampaignPrice("bargain", 1), CampaignPrice("flash_sale", 3000)],
    )
    bargained, above = order["items"]
    # Options add to the campaign price; the regular unit price includes them too.
    assert (bargained["unit_price"], bargained["regular_unit_price"]) == (301, 2300)
    # Never charged more than the regular price; the line stays a campaign line.
    assert (above["unit_price"], above["regular_unit_price"], above["campaign_kind"]) == (
        2000,
        2000,
        "flash_sale",
    )
    assert (order["subtotal"], order["campaign_discount"], order["tier_discount"]) == (
        2301,
        1999,
        0,
    )
    assert order["payable"] == 2301

    only_above = await _campaign_order(
        shop,
        member,
        [{"product_id": product["id"], "quantity": 1}],
        [CampaignPrice("flash_sale", 2500)],
    )
    # Nothing taken off: the breakdown starts from the subtotal as for any order.
    assert [(b["code"], b["amount"]) for b in only_above["breakdown"]] == [
        ("subtotal", 2000),
        ("payable", 2000),
    ]


async def test_campaign_entry_point_misuse(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    member, product, _ = await _setup(shop)
    items = [{"product_id": product["id"], "quantity": 1}]
    with pytest.raises(ValueError, match="one entry per order item"):
        await _campaign_order(shop, member, items, [])
    with pytest.raises(PricingError):
        await _campaign_order(shop, member, items, [CampaignPrice("flash_sale", 0)])
    # A client cannot name a campaign price: the API takes products and quantities only.
    r = await client.post(
        "/v1/orders",
        json={"items": [{**items[0], "campaign": {"kind": "flash_sale", "price": 1}}]},
        headers=member,
    )
    assert_error(r, 422)
    r = await client.get(f"/v1/admin/products/{product['id']}", headers=shop.admin)
    assert r.json()["stock"] == 10
