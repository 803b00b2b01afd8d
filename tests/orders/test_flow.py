"""The whole consumer flow through the API, as a mini-program drives it."""

from __future__ import annotations

import httpx

from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from tests.helpers import assert_error, make_shop


async def test_order_pay_complete_refund(client: httpx.AsyncClient, rt: Runtime) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(price=1500, stock=5)
    member = await shop.member()

    r = await client.post(
        "/v1/orders",
        json={
            "items": [
                {
                    "product_id": product["id"],
                    "quantity": 2,
                    "options": {"杯型": "大杯", "糖度": "无糖"},
                }
            ]
        },
        headers=member,
    )
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["status"] == "pending_payment"
    assert order["subtotal"] == 2 * (1500 + 300)
    assert order["discount"] == 0 and order["points_deduction"] == 0
    assert order["payable"] == 3600
    assert order["items"][0]["options"] == {"糖度": "无糖", "温度": "少冰", "杯型": "大杯"}
    assert order["expires_at"] is not None
    # The answer is made from the lines as written; read back, the order is the same.
    r = await client.get(f"/v1/orders/{order['id']}", headers=member)
    assert r.json() == order

    r = await client.get(f"/v1/admin/products/{product['id']}", headers=shop.admin)
    assert r.json()["stock"] == 3

    await shop.pay(member, order["id"])
    r = await client.get(f"/v1/orders/{order['id']}", headers=member)
    paid = r.json()
    assert paid["status"] == "paid"
    assert paid["pickup_code"] == "0001"
    assert len(paid["verify_code"]) == 12

    r = await client.post(
        "/v1/admin/orders/redeem", json={"code": paid["verify_code"]}, headers=shop.admin
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "completed"
    r = await client.post(
        "/v1/admin/orders/redeem", json={"code": paid["verify_code"]}, headers=shop.admin
    )
    assert_error(r, 409, "already_redeemed")

    # A completed order is refunded by the store, not by the member.
    r = await client.post(f"/v1/orders/{order['id']}/refund", headers=member)
    assert_error(r, 409, "refund_needs_operator")
    r = await client.post(f"/v1/admin/orders/{order['id']}/refund", headers=shop.admin)
    assert r.status_code == 200, r.text
    refunded = r.json()
    assert refunded["status"] == "refunded"
    assert refunded["refund"] == {
        "refund_no": f"RO{order['id']}",
        "amount": 3600,
        "status": "succeeded",
    }
    # Handed over: the stock does not come back.
    r = await client.get(f"/v1/admin/products/{product['id']}", headers=shop.admin)
    assert r.json()["stock"] == 3
    r = await client.post(f"/v1/admin/orders/{order['id']}/refund", headers=shop.admin)
    assert_error(r, 409, "invalid_state")


async def test_member_refund_of_paid_order_returns_stock(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=2)
    member = await shop.member()
    order = await shop.paid_order(member, product["id"])
    r = await client.post(f"/v1/orders/{order['id']}/refund", headers=member)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "refunded"
    r = await client.get(f"/v1/admin/products/{product['id']}", headers=shop.admin)
    assert r.json()["stock"] == 2
    sandbox = rt.gateways["sandbox"]
    assert sandbox.refunds[f"RO{order['id']}"] == order["payable"]


async def test_cancel_releases_stock_and_blocks_payment(
    client: httpx.AsyncClient, rt: Runtime
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=1)
    member = await shop.member()
    order = (await shop.order(member, product["id"])).json()
    r = await client.post(
        f"/v1/orders/{order['id']}/pay", json={"provider": "sandbox"}, headers=member
    )
    payment_id = r.json()["payment_id"]
    r = await client.post(f"/v1/orders/{order['id']}/cancel", headers=member)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    assert r.json()["cancel_reason"] == "cancelled_by_member"
    r = await client.get(f"/v1/admin/products/{product['id']}", headers=shop.admin)
    assert r.json()["stock"] == 1
    r = await client.post(f"/v1/payments/sandbox/{payment_id}/succeed")
    assert_error(r, 409, "payment_not_pending")
    r = await client.post(
        f"/v1/orders/{order['id']}/pay", json={"provider": "sandbox"}, headers=member
    )
    assert_error(r, 409, "order_not_payable")
    r = await client.post(f"/v1/orders/{order['id']}/cancel", headers=member)
    assert_error(r, 409, "invalid_state")


async def test_payment_window_sweep(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=3)
    member = await shop.member()
    order = (await shop.order(member, product["id"], 3)).json()
    r = await shop.order(member, product["id"])
    assert_error(r, 409, "sold_out")

    clock.advance(minutes=14, seconds=59)
    assert (await rt.sweeper.run_once())["orders.expire"] == 0
    clock.advance(seconds=1)
    r = await client.post(
        f"/v1/orders/{order['id']}/pay", json={"provider": "sandbox"}, headers=member
    )
    assert_error(r, 409, "order_expired")
    handled = await rt.sweeper.run_once()
    assert handled["orders.expire"] == 1
    assert (await rt.sweeper.run_once())["orders.expire"] == 0  # idempotent
    r = await client.get(f"/v1/orders/{order['id']}", headers=member)
    assert r.json()["status"] == "cancelled"
    assert r.json()["cancel_reason"] == "payment_window_ended"
    r = await client.get(f"/v1/admin/products/{product['id']}", headers=shop.admin)
    assert r.json()["stock"] == 3


async def test_late_payment_after_expiry_is_refunded(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=3)
    member = await shop.member()
    order = (await shop.order(member, product["id"])).json()
    r = await client.post(
        f"/v1/orders/{order['id']}/pay", json={"provider": "sandbox"}, headers=member
    )
    payment_id = r.json()["payment_id"]
    clock.advance(minutes=16)
    await rt.sweeper.run_once()
    # The platform's notification arrives anyway (the user paid at the last second).
    sandbox = rt.gateways["sandbox"]
    body, headers = sandbox.notification(payment_id, order["payable"], clock.now())
    r = await client.post("/v1/payments/notify/sandbox", content=body, headers=headers)
    assert r.status_code == 200, r.text
    r = await client.get(f"/v1/orders/{order['id']}", headers=member)
    assert r.json()["status"] == "cancelled"
    assert sandbox.refunds[f"RP{payment_id}"] == order["payable"]


async def test_pickup_numbers_count_per_local_day(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    product = await shop.product(stock=10)
    member = await shop.member()
    first = await shop.paid_order(member, product["id"])
    second = await shop.paid_order(member, product["id"])
    assert (first["pickup_code"], second["pickup_code"]) == ("0001", "0002")
    # 2026-03-02 16:00 UTC is already 3 March 00:00 in Shanghai: a new day, numbering restarts.
    clock.advance(hours=14)
    third = await shop.paid_order(member, product["id"])
    assert third["pickup_code"] == "0001"
