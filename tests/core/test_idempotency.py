"""Idempotency-Key: the same key and body return the first response and do nothing more."""

from __future__ import annotations

import asyncio

import httpx

from growthloop.core.runtime import Runtime
from tests.helpers import assert_error, make_shop


async def test_retry_with_same_key_replays_first_response(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=5)
    member = await shop.member()
    body = {"items": [{"product_id": product["id"], "quantity": 2}]}
    headers = {**member, "Idempotency-Key": "checkout-1"}
    first = await client.post("/v1/orders", json=body, headers=headers)
    again = await client.post("/v1/orders", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    r = await client.get(f"/v1/admin/products/{product['id']}", headers=shop.admin)
    assert r.json()["stock"] == 3  # taken once

    # Same key, different body: refused, nothing written.
    r = await client.post(
        "/v1/orders",
        json={"items": [{"product_id": product["id"], "quantity": 1}]},
        headers=headers,
    )
    assert_error(r, 422, "idempotency_key_reused")
    # Another member may use the same key string independently.
    other = await shop.member()
    r = await client.post(
        "/v1/orders", json=body, headers={**other, "Idempotency-Key": "checkout-1"}
    )
    assert r.status_code == 201 and r.json()["id"] != first.json()["id"]


async def test_concurrent_requests_with_one_key_create_one_order(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=50)
    member = await shop.member()
    body = {"items": [{"product_id": product["id"], "quantity": 1}]}
    headers = {**member, "Idempotency-Key": "double-tap"}
    responses = await asyncio.gather(
        *(client.post("/v1/orders", json=body, headers=headers) for _ in range(8))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    r = await client.get(f"/v1/admin/products/{product['id']}", headers=shop.admin)
    assert r.json()["stock"] == 49


async def test_failed_request_can_be_retried_with_its_key(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=0)
    member = await shop.member()
    body = {"items": [{"product_id": product["id"], "quantity": 1}]}
    headers = {**member, "Idempotency-Key": "after-restock"}
    assert_error(await client.post("/v1/orders", json=body, headers=headers), 409, "sold_out")
    r = await client.post(
        f"/v1/admin/products/{product['id']}/stock-adjustments",
        json={"delta": 1},
        headers=shop.admin,
    )
    assert r.json()["stock"] == 1
    assert (await client.post("/v1/orders", json=body, headers=headers)).status_code == 201


async def test_paying_is_idempotent(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product()
    member = await shop.member()
    order = (await shop.order(member, product["id"])).json()
    headers = {**member, "Idempotency-Key": "pay-1"}
    a = await client.post(
        f"/v1/orders/{order['id']}/pay", json={"provider": "sandbox"}, headers=headers
    )
    b = await client.post(
        f"/v1/orders/{order['id']}/pay", json={"provider": "sandbox"}, headers=headers
    )
    assert a.json() == b.json()
    # Without a key, asking again reuses the open payment rather than opening another.
    c = await client.post(
        f"/v1/orders/{order['id']}/pay", json={"provider": "sandbox"}, headers=member
    )
    assert c.json()["payment_id"] == a.json()["payment_id"]


async def test_invalid_key(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product()
    member = await shop.member()
    r = await client.post(
        "/v1/orders",
        json={"items": [{"product_id": product["id"], "quantity": 1}]},
        headers={**member, "Idempotency-Key": "x" * 201},
    )
    assert_error(r, 422, "invalid_idempotency_key")
