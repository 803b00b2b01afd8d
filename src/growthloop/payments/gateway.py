"""The payment gateway protocol every provider implements (sandbox, WeChat Pay v3,
Alipay, Douyin). Refunds carry a stable refund number so a retry never refunds twice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class PaymentRequest:
    payment_id: str
    merchant_id: str
    order_id: str
    amount: int
    description: str


@dataclass(frozen=True)
class VerifiedNotification:
    notification_id: str
    payment_id: str
    transaction_id: str
    amount: int
    succeeded: bool
    sent_at: datetime


@dataclass(frozen=True)
class RefundResult:
    provider_refund_id: str
    succeeded: bool


class PaymentGateway(Protocol):
    name: str

    async def create(self, request: PaymentRequest) -> dict[str, Any]:
        """Params the mini-program passes to the platform's pay call."""
        ...

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> VerifiedNotification:
        """Verify the provider's signature; raise InvalidSignature / MalformedNotification."""
        ...

    def acknowledge(self) -> dict[str, Any]:
        """The body the provider expects when a notification was handled."""
        ...

    async def close(self, payment_id: str) -> None:
        """Close an unpaid payment so it can no longer succeed."""
        ...

    async def refund(
        self, payment_id: str, refund_no: str, amount: int, total: int
    ) -> RefundResult:
        """Idempotent by `refund_no`; raise ProviderError on a retryable failure."""
        ...


class Gateways(dict[str, PaymentGateway]):
    """The payment providers this runtime takes, by name (`sandbox`, `wechat`, ...)."""
