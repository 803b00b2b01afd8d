"""The sandbox provider: a local stand-in with real signatures.

Notifications are JSON signed with HMAC-SHA256 (header `X-Sandbox-Signature`) under a
key derived from the service secret, carry a timestamp, and are verified exactly like a
platform's: a forged, altered or stale one is rejected. `fail_next_refunds` lets tests
make the provider fail, to prove refunds are retried.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from growthloop.core.ids import new_id
from growthloop.payments.errors import InvalidSignature, MalformedNotification, ProviderError
from growthloop.payments.gateway import PaymentRequest, RefundResult, VerifiedNotification

SIGNATURE_HEADER = "x-sandbox-signature"


class SandboxGateway:
    name = "sandbox"

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"growthloop-sandbox:" + secret.encode()).digest()
        self.fail_next_refunds = 0
        self.refunds: dict[str, int] = {}  # refund_no -> amount, for tests to inspect

    def sign(self, body: bytes) -> str:
        return hmac.new(self._key, body, hashlib.sha256).hexdigest()

    def notification(
        self, payment_id: str, amount: int, now: datetime, *, succeeded: bool = True
    ) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(
            {
                "id": "ntf_" + new_id(),
                "payment_id": payment_id,
                "transaction_id": "sbx_" + new_id(),
                "amount": amount,
                "status": "SUCCESS" if succeeded else "FAILED",
                "sent_at": now.isoformat(),
            },
            separators=(",", ":"),
        ).encode()
        return body, {SIGNATURE_HEADER: self.sign(body)}

    async def create(self, request: PaymentRequest) -> dict[str, Any]:
        return {
            "sandbox": True,
            "payment_id": request.payment_id,
            "amount": request.amount,
            "succeed_url": f"/v1/payments/sandbox/{request.payment_id}/succeed",
        }

    def verify_notification(self, headers: Mapping[str, str], body: bytes) -> VerifiedNotification:
        signature = headers.get(SIGNATURE_HEADER, "")
        if not hmac.compare_digest(signature.encode(), self.sign(body).encode()):
            raise InvalidSignature()
        try:
            data = json.loads(body)
            sent_at = datetime.fromisoformat(data["sent_at"])
            if sent_at.tzinfo is None:
                sent_at = sent_at.replace(tzinfo=UTC)
            amount = data["amount"]
            if not isinstance(amount, int) or isinstance(amount, bool):
                raise TypeError("amount")
            return VerifiedNotification(
                notification_id=str(data["id"])[:64],
                payment_id=str(data["payment_id"])[:26],
                transaction_id=str(data["transaction_id"])[:64],
                amount=amount,
                succeeded=data["status"] == "SUCCESS",
                sent_at=sent_at,
            )
        except (ValueError, KeyError, TypeError):
            raise MalformedNotification() from None

    def acknowledge(self) -> dict[str, Any]:
        return {"code": "SUCCESS", "message": "OK"}

    async def close(self, payment_id: str) -> None:
        return None

    async def refund(
        self, payment_id: str, refund_no: str, amount: int, total: int
    ) -> RefundResult:
        if self.fail_next_refunds > 0:
            self.fail_next_refunds -= 1
            raise ProviderError("sandbox refund failure (injected)")
        self.refunds.setdefault(refund_no, amount)  # idempotent by refund number
        return RefundResult(provider_refund_id="sbr_" + refund_no, succeeded=True)
