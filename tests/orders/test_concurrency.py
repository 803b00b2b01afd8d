"""Stock is never oversold: 50 members order the last 10 units at once."""

from __future__ import annotations

import asyncio

import httpx

from growthloop.core.runtime import Runtime
from tests.conftest import Stack
from tests.helpers import assert_error, make_shop, two_processes


async def test_fifty_members_race_for_last_ten_units(
    client: httpx.AsyncClient, rt: Runtime, stack: Stack
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=10)
    members = [await shop.member() for _ in range(50)]

    async with two_processes(client, rt, stack.clock) as clients:
        responses = await asyncio.gather(
            *(
                clients[i % 2].post(
                    "/v1/orders",
                    json={"items": [{"product_id": product["id"], "quantity": 1}]},
                    headers=member,
                )
                for i, member in enumerate(members)
            )
        )

    created = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code != 201]
    assert len(created) == 10
    for r in refused:
        assert_error(r, 409, "sold_out")
    r = await client.get(f"/v1/admin/products/{product['id']}", headers=shop.admin)
    assert r.json()["stock"] == 0
    r = await client.get("/v1/admin/orders?limit=100", headers=shop.admin)
    assert len(r.json()["items"]) == 10


async def test_concurrent_multi_line_orders_never_go_negative(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    """Orders taking two products in opposite line order do not deadlock or oversell."""
    shop = await make_shop(client, rt)
    a = await shop.product(stock=7)
    b = await shop.product(stock=7)
    members = [await shop.member() for _ in range(20)]

    def body(i: int) -> dict[str, object]:
        lines = [{"product_id": a["id"], "quantity": 1}, {"product_id": b["id"], "quantity": 1}]
        return {"items": lines if i % 2 else list(reversed(lines))}

    responses = await asyncio.gather(
        *(client.post("/v1/orders", json=body(i), headers=m) for i, m in enumerate(members))
    )
    assert sum(r.status_code == 201 for r in responses) == 7
    assert all(r.status_code in (201, 409) for r in responses)
    for product in (a, b):
        r = await client.get(f"/v1/admin/products/{product['id']}", headers=shop.admin)
        assert r.json()["stock"] == 0


async def test_orders_paid_at_once_get_the_days_pickup_numbers_once_each(
    client: httpx.AsyncClient, rt: Runtime, stack: Stack
) -> None:
    """The number is taken last in the paying transaction (`before_commit`): concurrent
    payments, on two API processes, still get 0001..0020 without a gap or a repeat."""
    shop = await make_shop(client, rt)
    product = await shop.product(stock=100)
    members = [await shop.member() for _ in range(20)]
    payments = []
    for member in members:
        r = await shop.order(member, product["id"])
        r = await client.post(
            f"/v1/orders/{r.json()['id']}/pay", json={"provider": "sandbox"}, headers=member
        )
        payments.append(r.json()["payment_id"])

    async with two_processes(client, rt, stack.clock) as clients:
        responses = await asyncio.gather(
            *(
                clients[i % 2].post(f"/v1/payments/sandbox/{payment_id}/succeed")
                for i, payment_id in enumerate(payments)
            )
        )

    assert [r.status_code for r in responses] == [200] * 20
    r = await client.get("/v1/admin/orders?limit=100", headers=shop.admin)
    codes = sorted(o["pickup_code"] for o in r.json()["items"])
    assert codes == [f"{n:04d}" for n in range(1, 21)]
