"""What payments tell the other domains, in the transaction that verified it: a payment
succeeded (orders moves its order), a refund went through (orders moves its order back).

The fields are ids, amounts in fen and codes, never a payer's data.
"""

from __future__ import annotations

from typing import ClassVar

from growthloop.core.events import DomainEvent


class PaymentSucceeded(DomainEvent):
    name: ClassVar[str] = "payment.succeeded"
    payment_id: str
    order_id: str
    amount: int  # fen
    provider: str


class RefundSucceeded(DomainEvent):
    name: ClassVar[str] = "refund.succeeded"
    refund_id: str
    refund_no: str
    payment_id: str
    order_id: str
    amount: int  # fen
    reason: str  # a code: order_refund, order_not_payable
