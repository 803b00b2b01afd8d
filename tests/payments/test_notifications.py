"""A payment notification changes an order at most once; forged, replayed, stale and
wrong-amount notifications change nothing and are answered with an error."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import httpx
import pytest

from growthloop.core.clock import FrozenClock
from growthloop.core.runtime import Runtime
from growthloop.payments.backends.sandbox import SandboxGateway
from tests.helpers import Shop, assert_error, make_shop


async def _pending(shop: Shop) -> tuple[dict[str, str], dict[str, object], str]:
    product = await shop.product(stock=10)
    member = await shop.member()
    order = (await shop.order(member, product["id"])).json()
    r = await shop.client.post(
        f"/v1/orders/{order['id']}/pay", json={"provider": "sandbox"}, headers=member
    )
    return member, order, r.json()["payment_id"]


async def _status(shop: Shop, member: dict[str, str], order_id: object) -> dict[str, object]:
    r = await shop.client.get(f"/v1/orders/{order_id}", headers=member)
    return r.json()  # type: ignore[no-any-return]


async def test_duplicate_notification_changes_order_once(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    member, order, payment_id = await _pending(shop)
    sandbox: SandboxGateway = rt.gateways["sandbox"]
    body, headers = sandbox.notification(payment_id, int(order["payable"]), clock.now())  # type: ignore[call-overload]

    r = await client.post("/v1/payments/notify/sandbox", content=body, headers=headers)
    assert r.status_code == 200 and r.json() == {"code": "SUCCESS", "message": "OK"}
    first = await _status(shop, member, order["id"])
    assert first["status"] == "paid"

    clock.advance(seconds=30)
    r = await client.post("/v1/payments/notify/sandbox", content=body, headers=headers)
    assert_error(r, 409, "notification_already_processed")
    # A second, different notification for the same payment does not move it again either.
    body2, headers2 = sandbox.notification(payment_id, int(order["payable"]), clock.now())  # type: ignore[call-overload]
    r = await client.post("/v1/payments/notify/sandbox", content=body2, headers=headers2)
    assert_error(r, 409, "notification_already_processed")
    again = await _status(shop, member, order["id"])
    assert again == first  # same paid_at, same pickup and verification codes
    assert sandbox.refunds == {}


async def test_concurrent_identical_notifications(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    shop = await make_shop(client, rt)
    member, order, payment_id = await _pending(shop)
    sandbox: SandboxGateway = rt.gateways["sandbox"]
    body, headers = sandbox.notification(payment_id, int(order["payable"]), clock.now())  # type: ignore[call-overload]
    responses = await asyncio.gather(
        *(
            client.post("/v1/payments/notify/sandbox", content=body, headers=headers)
            for _ in range(10)
        )
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 9
    assert (await _status(shop, member, order["id"]))["pickup_code"] == "0001"


@pytest.mark.parametrize(
    "tamper",
    ["forged_signature", "altered_amount", "wrong_amount_signed", "stale", "future", "malformed"],
)
async def test_bad_notifications_change_nothing(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock, tamper: str
) -> None:
    shop = await make_shop(client, rt)
    member, order, payment_id = await _pending(shop)
    sandbox: SandboxGateway = rt.gateways["sandbox"]
    amount = int(order["payable"])  # type: ignore[call-overload]
    body, headers = sandbox.notification(payment_id, amount, clock.now())
    expected = (401, "invalid_signature")
    if tamper == "forged_signature":
        headers = {"x-sandbox-signature": "0" * 64}
    elif tamper == "altered_amount":  # an attacker edits the signed body
        body = body.replace(f'"amount":{amount}'.encode(), b'"amount":1')
    elif tamper == "wrong_amount_signed":  # correctly signed, but not what was charged
        body, headers = sandbox.notification(payment_id, amount - 1, clock.now())
        expected = (400, "amount_mismatch")
    elif tamper == "stale":  # a genuine notification replayed an hour later
        body, headers = sandbox.notification(payment_id, amount, clock.now() - timedelta(hours=1))
        expected = (400, "stale_notification")
    elif tamper == "future":
        body, headers = sandbox.notification(payment_id, amount, clock.now() + timedelta(hours=1))
        expected = (400, "stale_notification")
    elif tamper == "malformed":
        body = b'{"id": 1}'
        headers = {"x-sandbox-signature": sandbox.sign(body)}
        expected = (400, "malformed_notification")
    r = await client.post("/v1/payments/notify/sandbox", content=body, headers=headers)
    assert_error(r, *expected)
    assert (await _status(shop, member, order["id"]))["status"] == "pending_payment"
    # The genuine notification still works afterwards: nothing was recorded by the bad one.
    body, headers = sandbox.notification(payment_id, amount, clock.now())
    r = await client.post("/v1/payments/notify/sandbox", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert (await _status(shop, member, order["id"]))["status"] == "paid"


async def test_unknown_provider_and_payment(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    r = await client.post("/v1/payments/notify/nosuch", content=b"{}")
    assert_error(r, 404, "unknown_provider")
    sandbox: SandboxGateway = rt.gateways["sandbox"]
    body, headers = sandbox.notification("01ARZ3NDEKTSV4RRFFQ69G5FAV", 100, clock.now())
    r = await client.post("/v1/payments/notify/sandbox", content=body, headers=headers)
    assert_error(r, 404, "payment_not_found")


async def test_reordered_notifications_of_two_payments(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    """The member opened two payments (two providers) and both succeeded, the second
    one's notification arriving first: the order is paid once, the other payment refunded."""
    alt = SandboxGateway(rt.settings.secret_key)
    rt.gateways["alipay"] = alt
    try:
        shop = await make_shop(client, rt)
        member, order, first_payment = await _pending(shop)
        r = await client.post(
            f"/v1/orders/{order['id']}/pay", json={"provider": "alipay"}, headers=member
        )
        second_payment = r.json()["payment_id"]
        amount = int(order["payable"])  # type: ignore[call-overload]
        n2, h2 = alt.notification(second_payment, amount, clock.now())
        n1, h1 = rt.gateways["sandbox"].notification(first_payment, amount, clock.now())
        assert (
            await client.post("/v1/payments/notify/alipay", content=n2, headers=h2)
        ).status_code == 200
        assert (
            await client.post("/v1/payments/notify/sandbox", content=n1, headers=h1)
        ).status_code == 200
        state = await _status(shop, member, order["id"])
        assert state["status"] == "paid"
        # The payment that lost the race is given back in full, exactly once.
        assert rt.gateways["sandbox"].refunds == {f"RP{first_payment}": amount}
        assert alt.refunds == {}
    finally:
        del rt.gateways["alipay"]


async def test_notification_body_is_verified_not_trusted(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock
) -> None:
    """A signed notification for another provider's payment does not move it."""
    shop = await make_shop(client, rt)
    member, order, _payment_id = await _pending(shop)
    raw = json.dumps({"not": "a notification"}).encode()
    r = await client.post("/v1/payments/notify/sandbox", content=raw)
    assert_error(r, 401, "invalid_signature")
    assert (await _status(shop, member, order["id"]))["status"] == "pending_payment"
