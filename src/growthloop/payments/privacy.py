"""Payments' part of the data export and of account deletion (注销).

Kept: payments, refunds and the payment-notification inbox, whole. They are accounting
records (会计档案) and the reconciliation with the payment provider needs the provider's
transaction and refund ids. None of their columns holds personal data: no payer openid, no
account or card data, no raw provider payload (notifications keep only the provider's
notification id and the outcome; refund reasons are codes, `last_error` is the error's
class). `member_id` stays as the id of the member row the identity handler emptied.

Erased: nothing is left to strip; the receipt says how many rows were kept.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.privacy import Erasure, PrivacyHandler, count_rows, iso
from growthloop.payments.models import Payment, PaymentNotification, Refund


def _payment_ids(merchant_id: str, member_id: str) -> Any:
    return select(Payment.id).where(
        Payment.merchant_id == merchant_id, Payment.member_id == member_id
    )


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> dict[str, Any]:
    payments = await session.scalars(
        select(Payment)
        .where(Payment.merchant_id == merchant_id, Payment.member_id == member_id)
        .order_by(Payment.created_at, Payment.id)
    )
    refunds = await session.scalars(
        select(Refund)
        .where(
            Refund.merchant_id == merchant_id,
            Refund.payment_id.in_(_payment_ids(merchant_id, member_id)),
        )
        .order_by(Refund.created_at, Refund.id)
    )
    return {
        "payments": [
            {
                "id": p.id,
                "order_id": p.order_id,
                "provider": p.provider,
                "amount": p.amount,
                "status": p.status,
                "refunded_amount": p.refunded_amount,
                "provider_txn_id": p.provider_txn_id,
                "created_at": iso(p.created_at),
                "succeeded_at": iso(p.succeeded_at),
            }
            for p in payments
        ],
        "refunds": [
            {
                "refund_no": r.refund_no,
                "order_id": r.order_id,
                "amount": r.amount,
                "reason": r.reason,
                "status": r.status,
                "created_at": iso(r.created_at),
                "succeeded_at": iso(r.succeeded_at),
            }
            for r in refunds
        ],
    }


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    m, who = erasure.merchant_id, erasure.member_id
    ids = _payment_ids(m, who)
    return {
        "payments_kept": await count_rows(
            session, Payment, Payment.merchant_id == m, Payment.member_id == who
        ),
        "refunds_kept": await count_rows(
            session, Refund, Refund.merchant_id == m, Refund.payment_id.in_(ids)
        ),
        "notifications_kept": await count_rows(
            session,
            PaymentNotification,
            PaymentNotification.merchant_id == m,
            PaymentNotification.payment_id.in_(ids),
        ),
    }


HANDLER = PrivacyHandler(
    section="payments",
    tables=("payments", "refunds", "payment_notifications"),
    export=export,
    erase=erase,
    keeps=(
        "payments, refunds and provider notifications (amounts, status, provider ids) as "
        "accounting records (会计档案); they hold no personal field and refer only to the "
        "anonymous member row"
    ),
)
