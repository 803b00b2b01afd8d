"""What an operator reads at 3 a.m.: a refused payment notification says why, a refund the
provider failed says it will be retried, the retry sweep says what it did. Log lines carry
ids, amounts and reasons, never the notification's body or headers."""

from __future__ import annotations

import logging

import httpx
import pytest

from growthloop.core.clock import FrozenClock
from growthloop.core.logs import extra_fields
from growthloop.core.runtime import Runtime
from growthloop.payments.backends.sandbox import SandboxGateway
from tests.helpers import Shop, make_shop


def _records(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "growthloop.payments" and message in r.message]


async def _pending(shop: Shop) -> tuple[dict[str, object], str]:
    product = await shop.product(stock=10)
    member = await shop.member()
    order = (await shop.order(member, product["id"])).json()
    r = await shop.client.post(
        f"/v1/orders/{order['id']}/pay", json={"provider": "sandbox"}, headers=member
    )
    return order, r.json()["payment_id"]


async def test_a_notification_for_the_wrong_amount_is_logged_with_both_amounts(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="growthloop")
    shop = await make_shop(client, rt)
    order, payment_id = await _pending(shop)
    sandbox: SandboxGateway = rt.gateways["sandbox"]
    payable = int(order["payable"])  # type: ignore[call-overload]
    body, headers = sandbox.notification(payment_id, payable - 1, clock.now())
    r = await client.post("/v1/payments/notify/sandbox", content=body, headers=headers)
    assert r.status_code == 400
    [record] = _records(caplog, "payment notification refused")
    assert record.levelno == logging.WARNING
    assert extra_fields(record) == {
        "expected": payable,
        "notified": payable - 1,
        "order_id": order["id"],
        "payment_id": payment_id,
        "provider": "sandbox",
        "reason": "amount_mismatch",
    }


async def test_a_forged_notification_is_logged_by_reason_without_its_body(
    client: httpx.AsyncClient, rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="growthloop")
    body = b'{"payment_id": "x", "phone": "13912345678"}'
    r = await client.post(
        "/v1/payments/notify/sandbox", content=body, headers={"X-Sandbox-Signature": "forged"}
    )
    assert r.status_code == 401
    [record] = _records(caplog, "payment notification refused")
    assert extra_fields(record) == {"provider": "sandbox", "reason": "invalid_signature"}
    assert "13912345678" not in caplog.text


async def test_a_failed_refund_and_its_retry_are_logged(
    client: httpx.AsyncClient, rt: Runtime, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="growthloop")
    shop = await make_shop(client, rt)
    product = await shop.product(stock=5)
    member = await shop.member()
    order = await shop.paid_order(member, product["id"])
    rt.gateways["sandbox"].fail_next_refunds = 1
    r = await client.post(f"/v1/admin/orders/{order['id']}/refund", headers=shop.admin)
    assert r.json()["refund"]["status"] == "pending"
    [failed] = _records(caplog, "refund failed, will retry")
    fields = extra_fields(failed)
    assert failed.levelno == logging.WARNING
    assert (fields["order_id"], fields["amount"], fields["attempts"]) == (
        order["id"],
        order["payable"],
        1,
    )
    assert fields["provider"] == "sandbox" and fields["error"] == "ProviderError"
    assert (await rt.sweeper.run_once())["payments.refunds"] == 0
    assert not _records(caplog, "refunds retried")  # a sweep that did nothing says nothing
    clock.advance(minutes=1)
    assert (await rt.sweeper.run_once())["payments.refunds"] == 1
    [retried] = _records(caplog, "refunds retried")
    assert extra_fields(retried) == {"retried": 1, "succeeded": 1}
