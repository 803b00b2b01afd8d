"""Payments: start a payment, verify notifications, refund. Never commits.

A verified notification moves a payment at most once (guarded update + an inbox keyed
by provider and notification id) and emits `payment.succeeded` in the same
transaction; `orders` reacts to it. Refunds carry stable numbers, are attempted at
once and retried by a sweep until the provider confirms.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.auth import ensure_same_merchant
from growthloop.core.clock import Clock
from growthloop.core.db import Database
from growthloop.core.events import NamedEvent, emit
from growthloop.payments import repository as repo
from growthloop.payments.errors import (
    AmountMismatch,
    DuplicateNotification,
    PaymentNotFound,
    PaymentNotPending,
    ProviderError,
    ProviderNotEnabled,
    RefundTooLarge,
    StaleNotification,
    UnknownProvider,
)
from growthloop.payments.gateway import PaymentGateway, PaymentRequest
from growthloop.payments.models import Payment, Refund

NOTIFICATION_MAX_AGE = timedelta(minutes=10)
NOTIFICATION_MAX_SKEW = timedelta(minutes=2)
__all__ = ["PaymentGateway"]  # the protocol, for other domains that hand gateways around

PAYMENT_SUCCEEDED = "payment.succeeded"
REFUND_SUCCEEDED = "refund.succeeded"


def _gateway(gateways: Mapping[str, PaymentGateway], provider: str) -> PaymentGateway:
    gateway = gateways.get(provider)
    if gateway is None:
        raise ProviderNotEnabled(provider=provider, enabled=sorted(gateways))
    return gateway


async def start_payment(
    session: AsyncSession,
    gateways: Mapping[str, PaymentGateway],
    *,
    merchant_id: str,
    order_id: str,
    member_id: str | None,
    amount: int,
    provider: str,
    description: str,
    now: datetime,
) -> tuple[Payment, dict[str, Any]]:
    gateway = _gateway(gateways, provider)
    payment = await repo.open_payment(session, order_id, provider, amount)
    if payment is None:
        payment = Payment(
            merchant_id=merchant_id,
            order_id=order_id,
            member_id=member_id,
            provider=provider,
            amount=amount,
            status="created",
            created_at=now,
        )
        session.add(payment)
        await session.flush()
    params = await gateway.create(
        PaymentRequest(payment.id, merchant_id, order_id, amount, description)
    )
    return payment, params


async def access_payment(session: AsyncSession, payment_id: str) -> Payment:
    payment = await repo.get_payment(session, payment_id)
    if payment is None:
        raise PaymentNotFound(payment_id=payment_id)
    return payment


async def process_notification(
    session: AsyncSession,
    gateways: Mapping[str, PaymentGateway],
    provider: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
) -> dict[str, Any]:
    gateway = gateways.get(provider)
    if gateway is None:
        raise UnknownProvider(provider=provider)
    note = gateway.verify_notification(headers, body)
    if not (now - NOTIFICATION_MAX_AGE <= note.sent_at <= now + NOTIFICATION_MAX_SKEW):
        raise StaleNotification()
    payment = await repo.get_payment(session, note.payment_id)
    if payment is None or payment.provider != provider:
        raise PaymentNotFound(payment_id=note.payment_id)
    # Inbox first: a duplicate (even a concurrent one) stops here. Any error below rolls
    # the whole transaction back, inbox row included.
    if not await repo.record_notification(
        session,
        merchant_id=payment.merchant_id,
        provider=provider,
        notification_id=note.notification_id,
        payment_id=payment.id,
        outcome="succeeded" if note.succeeded else "failed",
        now=now,
    ):
        raise DuplicateNotification()
    if note.amount != payment.amount:
        raise AmountMismatch(expected=payment.amount, notified=note.amount)
    if note.succeeded:
        try:
            moved = await repo.mark_succeeded(session, payment, note.transaction_id, now)
        except IntegrityError:  # this transaction id already paid another payment
            raise DuplicateNotification() from None
        if not moved:
            raise DuplicateNotification("This payment has already succeeded.")
        await emit(
            session,
            NamedEvent(
                PAYMENT_SUCCEEDED,
                payment.merchant_id,
                {
                    "payment_id": payment.id,
                    "order_id": payment.order_id,
                    "amount": payment.amount,
                    "provider": provider,
                },
                payment.member_id,
            ),
        )
    return gateway.acknowledge()


async def sandbox_succeed(
    session: AsyncSession, gateways: Mapping[str, Any], payment_id: str, now: datetime
) -> Payment:
    """What the sandbox 'platform' does when the user pays: send a signed notification."""
    sandbox = gateways["sandbox"]
    payment = await access_payment(session, payment_id)
    if payment.provider != "sandbox":
        raise PaymentNotFound(payment_id=payment_id)
    if payment.status != "created":
        raise PaymentNotPending(status=payment.status)
    body, headers = sandbox.notification(payment.id, payment.amount, now)
    await process_notification(session, gateways, "sandbox", headers, body, now)
    return payment


async def close_open_payments(
    session: AsyncSession, gateways: Mapping[str, PaymentGateway], order_id: str
) -> None:
    """Close unpaid payments of a cancelled order. A payment that still succeeds later
    (a race with the platform) is refunded automatically by `orders`."""
    for payment_id in await repo.close_open(session, order_id):
        payment = await repo.get_payment(session, payment_id)
        gateway = gateways.get(payment.provider) if payment else None
        if gateway is not None:
            # Closing is best effort: a payment that succeeds anyway is refunded.
            with contextlib.suppress(ProviderError):
                await gateway.close(payment_id)


async def paid_payment(session: AsyncSession, order_id: str) -> Payment | None:
    for payment in await repo.payments_of_order(session, order_id):
        if payment.status == "succeeded":
            return payment
    return None


async def refund(
    session: AsyncSession,
    gateways: Mapping[str, PaymentGateway],
    *,
    payment: Payment,
    merchant_id: str,
    refund_no: str,
    amount: int,
    reason: str,
    now: datetime,
) -> Refund:
    """Refund `amount` of `payment` under a stable `refund_no`: calling again with the
    same number returns the same refund and never pays out twice."""
    ensure_same_merchant(payment.merchant_id, merchant_id)
    existing = await repo.refund_by_no(session, refund_no)
    if existing is not None:
        return existing
    if not await repo.reserve_refund(session, payment.id, amount):
        raise RefundTooLarge(payment_id=payment.id, amount=amount)
    row = Refund(
        merchant_id=payment.merchant_id,
        payment_id=payment.id,
        order_id=payment.order_id,
        refund_no=refund_no,
        amount=amount,
        reason=reason,
        status="pending",
        attempts=0,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    await attempt_refund(session, gateways, row, now)
    return row


async def attempt_refund(
    session: AsyncSession, gateways: Mapping[str, PaymentGateway], row: Refund, now: datetime
) -> None:
    payment = await repo.get_payment(session, row.payment_id)
    assert payment is not None
    row.attempts += 1
    try:
        result = await _gateway(gateways, payment.provider).refund(
            payment.id, row.refund_no, row.amount, payment.amount
        )
    except (ProviderError, ProviderNotEnabled) as exc:
        row.last_error = str(exc)[:200]
        row.next_attempt_at = now + timedelta(seconds=min(3600, 15 * 2 ** min(row.attempts, 8)))
        return
    row.status = "succeeded"
    row.provider_refund_id = result.provider_refund_id
    row.succeeded_at = now
    row.next_attempt_at = None
    await emit(
        session,
        NamedEvent(
            REFUND_SUCCEEDED,
            row.merchant_id,
            {
                "refund_id": row.id,
                "refund_no": row.refund_no,
                "payment_id": row.payment_id,
                "order_id": row.order_id,
                "amount": row.amount,
                "reason": row.reason,
            },
            payment.member_id,
        ),
    )


async def retry_due_refunds(
    db: Database, gateways: Mapping[str, PaymentGateway], clock: Clock, limit: int = 100
) -> int:
    """Sweep: attempt pending refunds whose retry time has come (one per transaction)."""
    handled = 0
    for _ in range(limit):
        async with db.unit_of_work() as uow:
            row = await repo.claim_due_refund(uow.session, clock.now())
            if row is None:
                break
            await attempt_refund(uow.session, gateways, row, clock.now())
            handled += 1
    return handled


async def refunds_of_order(session: AsyncSession, order_id: str) -> list[Refund]:
    return await repo.refunds_of_order(session, order_id)
