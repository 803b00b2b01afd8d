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

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.privacy import (
    Erasure,
    PrivacyHandler,
    count_member_rows,
    count_rows,
    member_rows,
    of_member,
    rows,
)
from growthloop.payments.models import Payment, PaymentNotification, Refund


def _of_payments(model: Any, merchant_id: str, member_id: str) -> ColumnElement[bool]:
    """The rows of `model` (refunds, notifications) that belong to the member's payments."""
    ids = select(Payment.id).where(of_member(Payment, merchant_id, member_id))
    return and_(model.merchant_id == merchant_id, model.payment_id.in_(ids))


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> dict[str, Any]:
    payments = await member_rows(
        session,
        Payment,
        merchant_id,
        member_id,
        "id",
        "order_id",
        "provider",
        "amount",
        "status",
        "refunded_amount",
        "provider_txn_id",
        "created_at",
        "succeeded_at",
        order_by=(Payment.created_at, Payment.id),
    )
    refunds = await rows(
        session,
        Refund,
        "refund_no",
        "order_id",
        "amount",
        "reason",
        "status",
        "created_at",
        "succeeded_at",
        where=_of_payments(Refund, merchant_id, member_id),
        order_by=(Refund.created_at, Refund.id),
    )
    return {"payments": payments, "refunds": refunds}


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    m, who = erasure.merchant_id, erasure.member_id
    n = PaymentNotification
    return {
        "payments_kept": await count_member_rows(session, Payment, m, who),
        "refunds_kept": await count_rows(session, Refund, _of_payments(Refund, m, who)),
        "notifications_kept": await count_rows(session, n, _of_payments(n, m, who)),
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
