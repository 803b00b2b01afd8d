"""Orders carried over from history in bulk (the demo shop, a shop moving in): thousands of
past orders in a few statements. Each order's totals are the sum of its lines, as checkout
computes them, and its times agree with its status; an order that does not is refused
before anything is written. (The CSV importer, `importer.py`, is the per-row path with
member matching and events; this one writes history as it was.)"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.ids import new_id
from growthloop.core.sql import insert_chunked
from growthloop.orders.models import Order, OrderItem

ENDED = ("completed", "refunded", "cancelled")


@dataclass(frozen=True)
class PastLine:
    product_id: str | None
    name: str
    unit_price: int  # fen, options included
    quantity: int
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PastOrder:
    """An order that ended: completed, refunded (after payment) or cancelled (unpaid)."""

    order_id: str
    member_id: str | None
    status: str
    created_at: datetime
    lines: Sequence[PastLine]
    source: str = "app"
    expires_at: datetime | None = None
    paid_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    refunded_at: datetime | None = None
    pickup_code: str | None = None
    verify_code: str | None = None

    def payable(self) -> int:
        return sum(line.unit_price * line.quantity for line in self.lines)


def _check(o: PastOrder) -> None:
    problem = None
    if o.status not in ENDED:
        problem = f"status {o.status!r} is not one of {ENDED}"
    elif not o.lines or any(x.quantity < 1 or x.unit_price < 0 for x in o.lines):
        problem = "no lines, or a line with no quantity or a negative price"
    elif (o.paid_at is None) != (o.status == "cancelled"):
        problem = "only a cancelled order is unpaid"
    elif (o.refunded_at is None) == (o.status == "refunded"):
        problem = "a refunded order, and only that, has refunded_at"
    elif (o.cancelled_at is None) == (o.status == "cancelled"):
        problem = "a cancelled order, and only that, has cancelled_at"
    if problem:
        raise ValueError(f"order {o.order_id}: {problem}")


async def import_history(
    session: AsyncSession, merchant_id: str, history: Sequence[PastOrder]
) -> int:
    """Write the orders and their lines; how many orders."""
    for o in history:
        _check(o)
    orders, items = [], []
    for o in history:
        total = o.payable()
        orders.append(
            {
                "id": o.order_id,
                "merchant_id": merchant_id,
                "member_id": o.member_id,
                "status": o.status,
                "source": o.source,
                "subtotal": total,
                "discount": 0,
                "points_deduction": 0,
                "payable": total,
                "points_used": 0,
                "expires_at": o.expires_at,
                "pickup_code": o.pickup_code,
                "verify_code": o.verify_code,
                "created_at": o.created_at,
                "paid_at": o.paid_at,
                "completed_at": o.completed_at,
                "cancelled_at": o.cancelled_at,
                "cancel_reason": o.cancel_reason,
                "refunded_at": o.refunded_at,
            }
        )
        items += [
            {
                "id": new_id(o.created_at),
                "merchant_id": merchant_id,
                "order_id": o.order_id,
                "product_id": line.product_id,
                "name": line.name,
                "unit_price": line.unit_price,
                "quantity": line.quantity,
                "options": dict(line.options),
                "line_total": line.unit_price * line.quantity,
            }
            for line in o.lines
        ]
    await insert_chunked(session, Order, orders)
    await insert_chunked(session, OrderItem, items)
    return len(orders)
