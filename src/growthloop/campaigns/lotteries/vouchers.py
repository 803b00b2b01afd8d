"""A product prize's voucher: a 12-digit code the winner shows at the counter, redeemed
once by staff (核销) before it expires."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.lotteries import repository as repo
from growthloop.campaigns.lotteries import service
from growthloop.campaigns.lotteries.errors import (
    VoucherAlreadyUsed,
    VoucherExpired,
    VoucherNotFound,
)
from growthloop.campaigns.lotteries.events import LotteryVoucherRedeemed
from growthloop.campaigns.lotteries.models import LotteryDraw
from growthloop.core import audit
from growthloop.core.audit import Action
from growthloop.core.context import now
from growthloop.core.events import emit
from growthloop.core.sql import unused_code


async def new_code(session: AsyncSession, merchant_id: str) -> str:
    """A 12-digit voucher code not used by this merchant's lottery vouchers yet."""
    return await unused_code(session, LotteryDraw.voucher_code, merchant_id)


async def verify_voucher(
    session: AsyncSession, *, merchant_id: str, admin_id: str, code: str
) -> LotteryDraw:
    """核销 at the counter: the member shows a product prize's code; it works once, before
    it expires. A code is looked up among this merchant's vouchers only."""
    voucher = await repo.draw_by_code(session, merchant_id, code)
    if voucher is None:
        raise VoucherNotFound()
    at = now(session)
    if voucher.voucher_redeemed_at is not None:
        raise VoucherAlreadyUsed(redeemed_at=voucher.voucher_redeemed_at.isoformat())
    assert voucher.voucher_expires_at is not None
    if at >= voucher.voucher_expires_at:
        raise VoucherExpired(expired_at=voucher.voucher_expires_at.isoformat())
    if not await repo.redeem_voucher(session, voucher, at):
        await session.refresh(voucher)
        raise VoucherAlreadyUsed(
            redeemed_at=voucher.voucher_redeemed_at.isoformat()
            if voucher.voucher_redeemed_at
            else None
        )
    await audit.by_admin(
        session,
        merchant_id,
        admin_id,
        Action.LOTTERY_VOUCHER_REDEEM,
        subject_type="lottery_draw",
        subject_id=voucher.id,
        member_id=voucher.member_id,
        product_id=voucher.product_id,
    )
    await emit(
        session,
        LotteryVoucherRedeemed(**service.draw_ids(voucher), product_id=voucher.product_id),
    )
    return voucher
