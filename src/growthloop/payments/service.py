"""Payments: start a payment, verify notifications, refund. Never commits.

A verified notification moves a payment at most once (guarded update + an inbox keyed
by provider and notification id) and emits `PaymentSucceeded` in the same transaction;
`orders` reacts to it. Refunds carry stable numbers, are attempted at once and retried
by a sweep (`tasks.retry_due_refunds`) until the provider confirms.

Logged for the operator: every refused notification with its reason, a notification
that fails unexpectedly, and a refund the provider failed (to be retried). Log lines
carry ids, amounts and codes, never the notification's body or headers.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.auth import ensure_same_merchant
from growthloop.core.context import now
from growthloop.core.errors import AppError
from growthloop.core.events import emit
from growthloop.core.sql import insert_now, move_status
from growthloop.payments import repository as repo
from growthloop.payments.errors import (
    AmountMismatch,
    DuplicateNotification,
    InvalidSignature,
    MalformedNotification,
    PaymentNotFound,
    PaymentNotPending,
    ProviderError,
    ProviderNotEnabled,
    RefundTooLarge,
    StaleNotification,
    UnknownProvider,
)
from growthloop.payments.events import PaymentSucceeded, RefundSucceeded
from growthloop.payments.gateway import (
    Gateways,
    PaymentGateway,
    PaymentRequest,
    VerifiedNotification,
)
from growthloop.payments.models import Payment, Refund

log = logging.getLogger("growthloop.payments")

NOTIFICATION_MAX_BYTES = 64 * 1024
NOTIFICATION_MAX_AGE = timedelta(minutes=10)
NOTIFICATION_MAX_SKEW = timedelta(minutes=2)
# For other domains that hand gateways around.
__all__ = ["Gateways", "PaymentGateway"]


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
            created_at=now(session),
        )
        await insert_now(session, [payment])
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
) -> dict[str, Any]:
    """Verify a provider's notification and move its payment; the body the provider
    expects back. A refused one is logged with its reason (and re-raised as its 4xx)."""
    with _logged(provider[:32]):  # the provider comes from the URL: any text
        if len(body) > NOTIFICATION_MAX_BYTES:
            raise MalformedNotification("The notification is too large.")
        gateway = gateways.get(provider)
        if gateway is None:
            raise UnknownProvider(provider=provider)
        note = gateway.verify_notification(headers, body)
        at = now(session)
        if not (at - NOTIFICATION_MAX_AGE <= note.sent_at <= at + NOTIFICATION_MAX_SKEW):
            _refused(note, provider, StaleNotification.code, sent_at=note.sent_at.isoformat())
            raise StaleNotification()
        payment = await repo.get_payment(session, note.payment_id)
        if payment is None or payment.provider != provider:
            _refused(note, provider, PaymentNotFound.code)
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
            now=at,
        ):
            raise DuplicateNotification()
        if note.amount != payment.amount:
            _refused(
                note,
                provider,
                AmountMismatch.code,
                order_id=payment.order_id,
                expected=payment.amount,
                notified=note.amount,
            )
            raise AmountMismatch(expected=payment.amount, notified=note.amount)
        if note.succeeded:
            try:  # only an unpaid (created or closed) payment succeeds, once
                moved = await move_status(
                    session,
                    payment,
                    ("created", "closed"),
                    "succeeded",
                    provider_txn_id=note.transaction_id,
                    succeeded_at=at,
                )
            except IntegrityError:  # this transaction id already paid another payment
                raise DuplicateNotification() from None
            if not moved:
                raise DuplicateNotification("This payment has already succeeded.")
            await emit(
                session,
                PaymentSucceeded(
                    merchant_id=payment.merchant_id,
                    member_id=payment.member_id,
                    payment_id=payment.id,
                    order_id=payment.order_id,
                    amount=payment.amount,
                    provider=provider,
                ),
            )
        return gateway.acknowledge()


@contextlib.contextmanager
def _logged(provider_label: str) -> Iterator[None]:
    """Logs a notification refused before it was verified, or one that fails unexpectedly;
    one refused after verification is logged where the reason is known (`_refused`)."""
    try:
        yield
    except DuplicateNotification:
        # The platform retries what it thinks was lost: expected, nothing moves twice.
        log.info("payment notification already processed", extra={"provider": provider_label})
        raise
    except (UnknownProvider, InvalidSignature, MalformedNotification) as exc:
        log.warning(
            "payment notification refused: %s",
            exc.code,
            extra={"provider": provider_label, "reason": exc.code},
        )
        raise
    except AppError:
        raise
    except Exception as exc:
        log.error(
            "payment notification failed",
            extra={"provider": provider_label, "error": type(exc).__name__},
        )
        raise


def _refused(note: VerifiedNotification, provider: str, reason: str, **fields: object) -> None:
    """A signed notification the service will not act on: why, for the operator."""
    log.warning(
        "payment notification refused: %s",
        reason,
        extra={"provider": provider, "payment_id": note.payment_id, "reason": reason, **fields},
    )


async def sandbox_succeed(
    session: AsyncSession, gateways: Mapping[str, Any], payment_id: str
) -> Payment:
    """What the sandbox 'platform' does when the user pays: send a signed notification."""
    sandbox = gateways["sandbox"]
    payment = await access_payment(session, payment_id)
    if payment.provider != "sandbox":
        raise PaymentNotFound(payment_id=payment_id)
    if payment.status != "created":
        raise PaymentNotPending(status=payment.status)
    body, headers = sandbox.notification(payment.id, payment.amount, now(session))
    await process_notification(session, gateways, "sandbox", headers, body)
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
        created_at=now(session),
    )
    session.add(row)
    await session.flush()
    await attempt_refund(session, gateways, row)
    return row


async def attempt_refund(
    session: AsyncSession, gateways: Mapping[str, PaymentGateway], row: Refund
) -> None:
    """Ask the provider for `row`'s money back; on failure, schedule the next attempt."""
    at = now(session)
    payment = await repo.get_payment(session, row.payment_id)
    assert payment is not None
    row.attempts += 1
    try:
        result = await _gateway(gateways, payment.provider).refund(
            payment.id, row.refund_no, row.amount, payment.amount
        )
    except (ProviderError, ProviderNotEnabled) as exc:
        row.last_error = str(exc)[:200]
        row.next_attempt_at = at + timedelta(seconds=min(3600, 15 * 2 ** min(row.attempts, 8)))
        log.warning(
            "refund failed, will retry",
            extra={
                "refund_id": row.id,
                "order_id": row.order_id,
                "payment_id": row.payment_id,
                "provider": payment.provider,
                "amount": row.amount,
                "attempts": row.attempts,
                "retry_at": row.next_attempt_at.isoformat(),
                "error": type(exc).__name__,
            },
        )
        return
    row.status = "succeeded"
    row.provider_refund_id = result.provider_refund_id
    row.succeeded_at = at
    row.next_attempt_at = None
    await emit(
        session,
        RefundSucceeded(
            merchant_id=row.merchant_id,
            member_id=payment.member_id,
            refund_id=row.id,
            refund_no=row.refund_no,
            payment_id=row.payment_id,
            order_id=row.order_id,
            amount=row.amount,
            reason=row.reason,
        ),
    )


async def refunds_of_order(session: AsyncSession, order_id: str) -> list[Refund]:
    return await repo.refunds_of_order(session, order_id)
