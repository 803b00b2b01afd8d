from __future__ import annotations

from pydantic import BaseModel


class SandboxPaymentOut(BaseModel):
    payment_id: str
    order_id: str
    status: str
    amount: int
