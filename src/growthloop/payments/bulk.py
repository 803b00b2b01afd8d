"""Payments carried over from history in bulk, beside the orders they paid (see
`orders/bulk.py`): each one succeeded, and what was refunded of it is at most its amount."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.ids import new_id
from growthloop.core.sql import insert_chunked
from growthloop.payments.models import Payment


@dataclass(frozen=True)
class SettledPayment:
    order_id: str
    member_id: str | None
    provider: str
    amount: int  # fen
    started_at: datetime
    paid_at: datetime
    provider_txn_id: str | None = None
    refunded_amount: int = 0


async def import_settled(
    session: AsyncSession, merchant_id: str, settled: Sequence[SettledPayment]
) -> int:
    """Write the payments; a payment of nothing, or refunded beyond its amount, is refused
    before anything is written."""
    for p in settled:
        if p.amount < 1 or not 0 <= p.refunded_amount <= p.amount or p.paid_at < p.started_at:
            raise ValueError(f"payment of order {p.order_id}: amounts or times do not add up")
    rows = [
        {
            "id": new_id(p.started_at),
            "merchant_id": merchant_id,
            "order_id": p.order_id,
            "member_id": p.member_id,
            "provider": p.provider,
            "amount": p.amount,
            "status": "succeeded",
            "provider_txn_id": p.provider_txn_id,
            "refunded_amount": p.refunded_amount,
            "created_at": p.started_at,
            "succeeded_at": p.paid_at,
        }
        for p in settled
    ]
    return await insert_chunked(session, Payment, rows)
