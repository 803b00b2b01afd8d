"""Orders' decisions an operator looks for in the logs: orders the sweep expired, and a
payment that came for an order that could no longer be paid (and was refunded)."""

from __future__ import annotations

import logging

import httpx
import pytest

from growthloop.core.clock import FrozenClock
from growthloop.core.logs import extra_fields
from growthloop.core.runtime import Runtime
from tests.helpers import make_shop


def _records(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "growthloop.orders" and message in r.message]


async def test_expired_orders_and_a_late_payment_are_logged(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="growthloop")
    shop = await make_shop(client, rt)
    product = await shop.product(stock=3)
    member = await shop.member()
    order = (await shop.order(member, product["id"])).json()
    r = await client.post(
        f"/v1/orders/{order['id']}/pay", json={"provider": "sandbox"}, headers=member
    )
    payment_id = r.json()["payment_id"]
    assert (await rt.sweeper.run_once())["orders.expire"] == 0
    assert not _records(caplog, "orders expired")  # a sweep that did nothing says nothing
    clock.advance(minutes=16)
    await rt.sweeper.run_once()
    [expired] = _records(caplog, "orders expired")
    assert extra_fields(expired) == {"expired": 1}

    sandbox = rt.gateways["sandbox"]
    body, headers = sandbox.notification(payment_id, order["payable"], clock.now())
    r = await client.post("/v1/payments/notify/sandbox", content=body, headers=headers)
    assert r.status_code == 200, r.text
    [late] = _records(caplog, "payment for an order that cannot be paid")
    assert late.levelno == logging.WARNING
    assert extra_fields(late) == {
        "amount": order["payable"],
        "order_id": order["id"],
        "order_status": "cancelled",
        "payment_id": payment_id,
    }
