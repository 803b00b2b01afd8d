"""Lotteries' part of the data export and of account deletion (注销).

Erased: the member's product vouchers not redeemed yet expire at the erasure (as their
coupons and points are voided by promotions and loyalty): a code shown at the counter
after the account is gone gets `voucher_expired`.

Kept, unchanged: every draw of the member (prize, points paid, day, what it gave): a
prize's `given` counts them, the `none` prize's draws and a lottery's totals and
participants are counted from them, and the points paid are in the loyalty history; the
member's counters per lottery (`lottery_members`) and per day (`lottery_draw_days`), which
count those same draws. The member id in them stays as the id of the member row the
identity handler empties of the person (orders keep it the same way): it identifies
nobody. No column holds anything else about the person.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.lotteries.models import (
    Lottery,
    LotteryDraw,
    LotteryDrawDay,
    LotteryMember,
)
from growthloop.core.privacy import (
    Erasure,
    PrivacyHandler,
    count_member_rows,
    execute_bulk,
    member_rows,
    of_member,
)


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> dict[str, Any]:
    d, lm, dd = LotteryDraw, LotteryMember, LotteryDrawDay
    draws = await member_rows(
        session,
        d,
        merchant_id,
        member_id,
        "lottery_id",
        Lottery.name.label("lottery"),
        d.prize_name.label("prize"),
        "prize_kind",
        "free_draw",
        "paid_points",
        d.draw_day.label("day"),
        "coupon_id",
        "points",
        "product_id",
        "voucher_code",
        "voucher_expires_at",
        "voucher_redeemed_at",
        "created_at",
        outerjoin=(Lottery, Lottery.id == d.lottery_id),
        order_by=(d.created_at, d.id),
    )
    standing = await member_rows(
        session, lm, merchant_id, member_id, "lottery_id", "draws", "wins", order_by=lm.lottery_id
    )
    days = await member_rows(
        session,
        dd,
        merchant_id,
        member_id,
        "lottery_id",
        dd.draw_day.label("day"),
        "draws",
        dd.free_draws.label("free"),
        order_by=(dd.lottery_id, dd.draw_day),
    )
    return {"draws": draws, "lotteries": standing, "days": days}


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    m, who, now = erasure.merchant_id, erasure.member_id, erasure.now
    d = LotteryDraw
    voided = await execute_bulk(
        session,
        update(d)
        .where(
            of_member(d, m, who),
            d.voucher_code.is_not(None),
            d.voucher_redeemed_at.is_(None),
            d.voucher_expires_at > now,
        )
        .values(voucher_expires_at=now),
    )
    kept = await count_member_rows(session, d, m, who)
    return {"vouchers_voided": voided, "lottery_draws_kept": kept}


HANDLER = PrivacyHandler(
    section="lotteries",
    tables=(
        LotteryDraw.__tablename__,
        LotteryDrawDay.__tablename__,
        LotteryMember.__tablename__,
    ),
    export=export,
    erase=erase,
    keeps=(
        "the member's draws and their per-lottery and per-day counters: prize stock, "
        "lottery totals and participants are counted from them (unredeemed vouchers "
        "expired); they refer only to the anonymous member row"
    ),
)
