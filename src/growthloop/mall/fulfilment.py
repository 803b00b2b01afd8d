"""The operator's follow-up of a pending redemption: a voucher handed over at the counter
or a gift shipped (fulfil, verify), or the redemption undone (cancel); and the audit of
staff shown a shipping contact unmasked. Never commits.

A cancellation takes the reward's row, then the member's counter, then the member's
points account: the order a redemption locks them in (see `service`), so the two cannot
deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core import audit
from growthloop.core.audit import Action
from growthloop.core.context import now
from growthloop.core.ownership import get_owned
from growthloop.core.sql import move_status
from growthloop.loyalty import service as loyalty
from growthloop.mall import repository as repo
from growthloop.mall.errors import (
    InvalidRedemptionState,
    RedemptionNotFound,
    TrackingNotAccepted,
    VoucherNotFound,
)
from growthloop.mall.events import MallCancelled, MallFulfilled
from growthloop.mall.models import Redemption
from growthloop.mall.service import emit_redemption, return_key, spend_key


async def _redemption(session: AsyncSession, merchant_id: str, redemption_id: str) -> Redemption:
    missing = RedemptionNotFound(redemption_id=redemption_id)
    return await get_owned(session, Redemption, redemption_id, merchant_id, missing)


async def _fulfil(
    session: AsyncSession, redemption: Redemption, admin_id: str, tracking_no: str | None
) -> Redemption:
    if tracking_no is not None and redemption.kind != "physical":
        raise TrackingNotAccepted(kind=redemption.kind)
    await _move(
        session,
        redemption,
        "fulfilled",
        "Only a pending redemption can be fulfilled.",
        fulfilled_at=now(session),
        tracking_no=tracking_no,
    )
    await _audit(
        session,
        redemption.merchant_id,
        admin_id,
        Action.MALL_REDEMPTION_FULFIL,
        redemption,
        tracked=tracking_no is not None,
    )
    await emit_redemption(session, MallFulfilled, redemption)
    return redemption


async def fulfil(
    session: AsyncSession,
    *,
    merchant_id: str,
    admin_id: str,
    redemption_id: str,
    tracking_no: str | None,
) -> Redemption:
    """pending -> fulfilled: the voucher was used at the counter, or the gift shipped."""
    redemption = await _redemption(session, merchant_id, redemption_id)
    return await _fulfil(session, redemption, admin_id, tracking_no)


async def verify(
    session: AsyncSession, *, merchant_id: str, admin_id: str, code: str
) -> Redemption:
    """核销 at the counter: the member shows the voucher code; it works once."""
    redemption = await repo.redemption_by_code(session, merchant_id, code)
    if redemption is None:
        raise VoucherNotFound()
    return await _fulfil(session, redemption, admin_id, None)


async def cancel(
    session: AsyncSession,
    *,
    merchant_id: str,
    admin_id: str,
    redemption_id: str,
    reason: str | None,
) -> Redemption:
    """pending -> cancelled: the stock, the member's count and the points (to the same
    batches, with their original expiry) all come back. Issued coupons are not taken back:
    a coupon redemption is final."""
    redemption = await _redemption(session, merchant_id, redemption_id)
    await _move(
        session,
        redemption,
        "cancelled",
        "Only a pending redemption can be cancelled.",
        cancelled_at=now(session),
    )
    quantity, member_id = redemption.quantity, redemption.member_id
    # Both held these units since the redemption; a failed guard would be a broken invariant.
    if not await repo.return_stock(session, redemption.reward_id, quantity):
        raise RuntimeError(f"reward {redemption.reward_id} holds fewer units than redeemed")
    if not await repo.return_member_count(session, redemption.reward_id, member_id, quantity):
        raise RuntimeError(f"member count of {redemption.reward_id} below a redemption")
    await loyalty.give_back_points(
        session,
        merchant_id,
        member_id,
        spend_key=spend_key(redemption.id),
        key=return_key(redemption.id),
        reason="mall_cancel",
    )
    await _audit(
        session,
        merchant_id,
        admin_id,
        Action.MALL_REDEMPTION_CANCEL,
        redemption,
        points=redemption.points,
        quantity=quantity,
        reason=reason,
    )
    await emit_redemption(session, MallCancelled, redemption)
    return redemption


SHIPPING_FIELDS = ("ship_name", "ship_phone", "ship_address")


async def record_reveal(
    session: AsyncSession, merchant_id: str, admin_id: str, role: str, rows: Sequence[Redemption]
) -> None:
    """`pii.reveal` for each redemption whose shipping contact an admin is shown unmasked:
    who, whose, which fields; never the values."""
    for r in rows:
        if r.ship_name is None and r.ship_phone is None and r.ship_address is None:
            continue
        await _audit(
            session,
            merchant_id,
            admin_id,
            Action.PII_REVEAL,
            r,
            fields=list(SHIPPING_FIELDS),
            role=role,
            purpose="ship the redeemed gift",
        )


async def _audit(
    session: AsyncSession,
    merchant_id: str,
    admin_id: str,
    action: Action,
    redemption: Redemption,
    **details: Any,
) -> None:
    """A staff member's audit entry about a member's redemption."""
    await audit.by_admin(
        session,
        merchant_id,
        admin_id,
        action,
        subject_type="mall_redemption",
        subject_id=redemption.id,
        member_id=redemption.member_id,
        **details,
    )


async def _move(
    session: AsyncSession, redemption: Redemption, status: str, refusal: str, **values: object
) -> None:
    """pending -> `status`, guarded: a concurrent or repeated change finds it moved on."""
    if not await move_status(session, redemption, "pending", status, **values):
        await session.refresh(redemption)
        raise InvalidRedemptionState(refusal, status=redemption.status)
