"""Bad input gets a 4xx in the API.md error shape, and nothing is written."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from tests.helpers import Shop, assert_error, make_shop


async def _stock(shop: Shop, product_id: str) -> int:
    r = await shop.client.get(f"/v1/admin/products/{product_id}", headers=shop.admin)
    return int(r.json()["stock"])


async def _order_count(shop: Shop) -> int:
    r = await shop.client.get("/v1/admin/orders?limit=100", headers=shop.admin)
    return len(r.json()["items"])


BAD_ORDERS: list[tuple[str, Any, int, str]] = [
    ("no items", {"items": []}, 422, "invalid_input"),
    ("items missing", {}, 422, "invalid_input"),
    ("quantity zero", {"items": [{"product_id": "P", "quantity": 0}]}, 422, "invalid_input"),
    ("quantity negative", {"items": [{"product_id": "P", "quantity": -3}]}, 422, "invalid_input"),
    ("quantity huge", {"items": [{"product_id": "P", "quantity": 10**20}]}, 422, "invalid_input"),
    ("quantity float", {"items": [{"product_id": "P", "quantity": 1.5}]}, 422, "invalid_input"),
    ("quantity string", {"items": [{"product_id": "P", "quantity": "2"}]}, 422, "invalid_input"),
    (
        "client price",
        {"items": [{"product_id": "P", "quantity": 1, "price": 1}]},
        422,
        "invalid_input",
    ),
    (
        "points negative",
        {"items": [{"product_id": "P", "quantity": 1}], "points": -5},
        422,
        "invalid_input",
    ),
    ("items not a list", {"items": "P"}, 422, "invalid_input"),
    (
        "unknown product",
        {"items": [{"product_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV", "quantity": 1}]},
        404,
        "product_not_found",
    ),
    (
        "unknown option group",
        {"items": [{"product_id": "P", "quantity": 1, "options": {"辣度": "微辣"}}]},
        422,
        "unknown_option",
    ),
    (
        "unknown option value",
        {"items": [{"product_id": "P", "quantity": 1, "options": {"糖度": "十分糖"}}]},
        422,
        "unknown_option",
    ),
    ("too many of it", {"items": [{"product_id": "P", "quantity": 99}]}, 409, "sold_out"),
    (
        "a coupon that is not theirs",
        {"items": [{"product_id": "P", "quantity": 1}], "coupon_id": "nope"},
        404,
        "coupon_not_found",
    ),
    (
        "points they do not have",
        {"items": [{"product_id": "P", "quantity": 1}], "points": 100},
        409,
        "insufficient_points",
    ),
]


@pytest.mark.parametrize(
    ("case", "body", "status", "code"), BAD_ORDERS, ids=[c[0] for c in BAD_ORDERS]
)
async def test_bad_orders_write_nothing(
    client: httpx.AsyncClient, rt: Runtime, case: str, body: Any, status: int, code: str
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=5)
    member = await shop.member()
    raw = repr(body).replace("'P'", repr(product["id"]))
    payload = eval(raw)  # noqa: S307 - test table with the product id substituted
    r = await client.post("/v1/orders", json=payload, headers=member)
    error = assert_error(r, status, code)
    if code == "unknown_option":  # the 422 names what was unknown
        assert "辣度" in str(error) or "十分糖" in str(error)
    assert await _stock(shop, product["id"]) == 5
    assert await _order_count(shop) == 0


async def test_malformed_json_and_wrong_content(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member()
    r = await client.post(
        "/v1/orders", content=b'{"items": [', headers={**member, "content-type": "application/json"}
    )
    assert_error(r, 422, "malformed_json")
    r = await client.post(
        "/v1/orders", content=b"items=1", headers={**member, "content-type": "text/plain"}
    )
    assert r.status_code == 422
    r = await client.post(
        "/v1/admin/login", content=b"\xff\xfe", headers={"content-type": "application/json"}
    )
    assert r.status_code == 422
    assert await _order_count(shop) == 0


async def test_required_option_and_first_value_default(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(
        options=[
            {"name": "杯型", "values": ["中杯", "大杯"], "required": True},
            {"name": "糖度", "values": ["标准糖", "少糖"]},
        ]
    )
    member = await shop.member()
    r = await shop.order(member, product["id"])
    error = assert_error(r, 422, "option_required")
    assert error["details"]["group"] == "杯型"
    r = await client.post(
        "/v1/orders",
        json={"items": [{"product_id": product["id"], "quantity": 1, "options": {"杯型": "大杯"}}]},
        headers=member,
    )
    assert r.json()["items"][0]["options"] == {"杯型": "大杯", "糖度": "标准糖"}


BAD_PRODUCTS: list[tuple[str, dict[str, Any]]] = [
    ("price zero", {"name": "茶", "price": 0, "stock": 1}),
    ("price float", {"name": "茶", "price": 9.9, "stock": 1}),
    ("price string", {"name": "茶", "price": "990", "stock": 1}),
    ("price huge", {"name": "茶", "price": 10**15, "stock": 1}),
    ("stock negative", {"name": "茶", "price": 100, "stock": -1}),
    ("name empty", {"name": "  ", "price": 100, "stock": 1}),
    ("name missing", {"price": 100, "stock": 1}),
    (
        "duplicate option values",
        {
            "name": "茶",
            "price": 100,
            "stock": 1,
            "options": [{"name": "糖度", "values": ["无糖", "无糖"]}],
        },
    ),
    (
        "duplicate groups",
        {
            "name": "茶",
            "price": 100,
            "stock": 1,
            "options": [{"name": "a", "values": ["x"]}, {"name": "a", "values": ["y"]}],
        },
    ),
    (
        "empty option values",
        {"name": "茶", "price": 100, "stock": 1, "options": [{"name": "糖度", "values": []}]},
    ),
    (
        "delta for unknown value",
        {
            "name": "茶",
            "price": 100,
            "stock": 1,
            "options": [{"name": "杯型", "values": ["中杯"], "price_deltas": {"大杯": 300}}],
        },
    ),
    (
        "delta pushes price below 1 fen",
        {
            "name": "茶",
            "price": 100,
            "stock": 1,
            "options": [
                {"name": "杯型", "values": ["小杯", "中杯"], "price_deltas": {"小杯": -100}}
            ],
        },
    ),
    ("image not a url", {"name": "茶", "price": 100, "stock": 1, "image_urls": ["not a url"]}),
    ("unknown field", {"name": "茶", "price": 100, "stock": 1, "colour": "red"}),
]


@pytest.mark.parametrize(("case", "body"), BAD_PRODUCTS, ids=[c[0] for c in BAD_PRODUCTS])
async def test_bad_products_write_nothing(
    client: httpx.AsyncClient, rt: Runtime, case: str, body: dict[str, Any]
) -> None:
    shop = await make_shop(client, rt)
    r = await client.post("/v1/admin/products", json=body, headers=shop.admin)
    assert_error(r, 422)
    r = await client.get("/v1/admin/products", headers=shop.admin)
    assert r.json()["items"] == []
    r = await client.get("/v1/admin/categories", headers=shop.admin)
    assert r.json() == []


async def test_tokens(client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock) -> None:
    shop = await make_shop(client, rt)
    member = await shop.member()
    assert_error(await client.get("/v1/orders"), 401, "unauthenticated")
    bad = {"Authorization": "Bearer nonsense"}
    assert_error(await client.get("/v1/orders", headers=bad), 401)
    assert_error(
        await client.get("/v1/orders", headers=shop.admin), 401
    )  # admin token, member route
    assert_error(await client.get("/v1/admin/orders", headers=member), 401)  # and the reverse
    clock.advance(days=31)
    error = assert_error(await client.get("/v1/orders", headers=member), 401)
    assert error["details"] == {"reason": "expired"}


async def test_login_input(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    r = await client.post(
        "/v1/auth/login", json={"merchant_id": shop.merchant_id, "platform": "myspace", "code": "x"}
    )
    assert_error(r, 422, "invalid_input")
    r = await client.post(
        "/v1/auth/login", json={"merchant_id": shop.merchant_id, "platform": "wechat", "code": "x"}
    )
    assert_error(r, 422, "platform_not_enabled")
    r = await client.post(
        "/v1/auth/login", json={"merchant_id": "nope", "platform": "dev", "code": "x"}
    )
    assert_error(r, 404, "merchant_not_found")
    r = await client.post(
        "/v1/auth/login",
        json={"merchant_id": shop.merchant_id, "platform": "dev", "code": "\x00bad"},
    )
    assert_error(r, 422, "control_character")  # refused before any platform sees it
    r = await client.post("/v1/admin/login", json={"email": "owner@nowhere.test", "password": "x"})
    assert_error(r, 401, "invalid_credentials")


async def test_pagination_cursor(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    ids = [(await shop.product())["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        url = "/v1/admin/products?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await client.get(url, headers=shop.admin)).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert_error(
        await client.get("/v1/admin/products?cursor=garbage!", headers=shop.admin),
        422,
        "invalid_cursor",
    )
    assert_error(await client.get("/v1/admin/products?limit=0", headers=shop.admin), 422)
    assert_error(await client.get("/v1/admin/products?limit=1000", headers=shop.admin), 422)
