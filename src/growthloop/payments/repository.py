from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.ids import new_id
from growthloop.core.sql import guarded, insert_unless_exists, sweep_batch
from growthloop.payments.models import Payment, PaymentNotification, Refund


async def get_payment(session: AsyncSession, payment_id: str) -> Payment | None:
    return await session.get(Payment, payment_id)


async def open_payment(
    session: AsyncSession, order_id: str, provider: str, amount: int
) -> Payment | None:
    params = {"order_id": order_id, "provider": provider, "amount": amount}
    return (await session.execute(_OPEN_PAYMENT, params)).scalars().first()


_OPEN_PAYMENT = select(Payment).where(
    Payment.order_id == bindparam("order_id"),
    Payment.provider == bindparam("provider"),
    Payment.amount == bindparam("amount"),
    Payment.status == "created",
)


async def payments_of_order(session: AsyncSession, order_id: str) -> list[Payment]:
    stmt = select(Payment).where(Payment.order_id == order_id).order_by(Payment.id)
    return list((await session.execute(stmt)).scalars())


async def record_notification(
    session: AsyncSession,
    *,
    merchant_id: str,
    provider: str,
    notification_id: str,
    payment_id: str,
    outcome: str,
    now: datetime,
) -> bool:
    """Insert into the inbox; False when this notification was already recorded."""
    values = {
        "id": new_id(),
        "merchant_id": merchant_id,
        "provider": provider,
        "notification_id": notification_id,
        "payment_id": payment_id,
        "outcome": outcome,
        "received_at": now,
    }
    return await insert_unless_exists(
        session, PaymentNotification, values, ("provider", "notification_id")
    )


async def close_open(session: AsyncSession, order_id: str) -> list[str]:
    ids = list(
        (
            await session.execute(
                select(Payment.id).where(Payment.order_id == order_id, Payment.status == "created")
            )
        ).scalars()
    )
    if ids:
        await session.execute(
            update(Payment)
            .where(Payment.id.in_(ids), Payment.status == "created")
            .values(status="closed")
            .execution_options(synchronize_session=False)
        )
    return ids


async def reserve_refund(session: AsyncSession, payment_id: str, amount: int) -> bool:
    """Guarded: the refunded total never exceeds the paid amount."""
    stmt = (
        update(Payment)
        .where(
            Payment.id == payment_id,
            Payment.status == "succeeded",
            Payment.refunded_amount + amount <= Payment.amount,
        )
        .values(refunded_amount=Payment.refunded_amount + amount)
    )
    return await guarded(session, stmt)


async def refund_by_no(session: AsyncSession, refund_no: str) -> Refund | None:
    stmt = select(Refund).where(Refund.refund_no == refund_no)
    return (await session.execute(stmt)).scalar_one_or_none()


async def claim_due_refund(session: AsyncSession, now: datetime) -> Refund | None:
    stmt = (
        select(Refund)
        .where(Refund.status == "pending")
        .where((Refund.next_attempt_at.is_(None)) | (Refund.next_attempt_at <= now))
    )
    return (await session.execute(sweep_batch(stmt, Refund.created_at, 1))).scalar_one_or_none()


async def refunds_of_order(session: AsyncSession, order_id: str) -> list[Refund]:
    stmt = select(Refund).where(Refund.order_id == order_id).order_by(Refund.id)
    return list((await session.execute(stmt)).scalars())
