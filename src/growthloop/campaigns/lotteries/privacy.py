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

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.lotteries.models import (
    Lottery,
    LotteryDraw,
    LotteryDrawDay,
    LotteryMember,
)
from growthloop.core.privacy import Erasure, PrivacyHandler, count_rows, execute_bulk, iso


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> dict[str, Any]:
    d = LotteryDraw
    draws = await session.execute(
        select(d, Lottery.name)
        .outerjoin(Lottery, Lottery.id == d.lottery_id)
        .where(d.merchant_id == merchant_id, d.member_id == member_id)
        .order_by(d.created_at, d.id)
    )
    lm = LotteryMember
    standing = await session.scalars(
        select(lm)
        .where(lm.merchant_id == merchant_id, lm.member_id == member_id)
        .order_by(lm.lottery_id)
    )
    dd = LotteryDrawDay
    days = await session.scalars(
        select(dd)
        .where(dd.merchant_id == merchant_id, dd.member_id == member_id)
        .order_by(dd.lottery_id, dd.draw_day)
    )
    return {
        "draws": [
            {
                "lottery_id": x.lottery_id,
                "lottery": name,
                "prize": x.prize_name,
                "prize_kind": x.prize_kind,
                "free_draw": x.free_draw,
                "paid_points": x.paid_points,
                "day": iso(x.draw_day),
                "coupon_id": x.coupon_id,
                "points": x.points,
                "product_id": x.product_id,
                "voucher_code": x.voucher_code,
                "voucher_expires_at": iso(x.voucher_expires_at),
                "voucher_redeemed_at": iso(x.voucher_redeemed_at),
                "created_at": iso(x.created_at),
            }
            for x, name in draws
        ],
        "lotteries": [
            {"lottery_id": x.lottery_id, "draws": x.draws, "wins": x.wins} for x in standing
        ],
        "days": [
            {
                "lottery_id": x.lottery_id,
                "day": iso(x.draw_day),
                "draws": x.draws,
                "free": x.free_draws,
            }
            for x in days
        ],
    }


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    m, who, now = erasure.merchant_id, erasure.member_id, erasure.now
    d = LotteryDraw
    voided = await execute_bulk(
        session,
        update(d)
        .where(
            d.merchant_id == m,
            d.member_id == who,
            d.voucher_code.is_not(None),
            d.voucher_redeemed_at.is_(None),
            d.voucher_expires_at > now,
        )
        .values(voucher_expires_at=now),
    )
    kept = await count_rows(session, d, d.merchant_id == m, d.member_id == who)
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
