"""Lotteries and draws as members and operators see them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns import windows
from growthloop.campaigns.kinds import shown
from growthloop.campaigns.lotteries import pool
from growthloop.campaigns.lotteries import repository as repo
from growthloop.campaigns.lotteries.models import Lottery, LotteryDraw, LotteryPrize
from growthloop.campaigns.lotteries.schemas import (
    AdminDrawOut,
    AdminLotteryOut,
    AdminPrizeOut,
    CannotDraw,
    DrawOut,
    DrawPrizeOut,
    LotteryOut,
    MyDrawsOut,
    PrizeKind,
    PrizeOut,
    VoucherOut,
)
from growthloop.core.context import merchant_today, now
from growthloop.core.presenting import from_row
from growthloop.loyalty import service as loyalty

# ---- lotteries ------------------------------------------------------------------------


def _prize_out(p: LotteryPrize, odds: float) -> PrizeOut:
    return from_row(PrizeOut, p, stock_left=pool.stock_left(p), odds=odds)


async def admin_lotteries_out(session: AsyncSession, rows: list[Lottery]) -> list[AdminLotteryOut]:
    ids = [lot.id for lot in rows]
    prizes = await repo.prizes_of(session, ids)
    totals = await repo.totals(session, ids) if ids else {}
    per_prize = await repo.draws_per_prize(session, ids) if ids else {}
    at = now(session)
    out = []
    for lot in rows:
        pool_ = prizes[lot.id]
        t = totals[lot.id]
        out.append(
            shown(
                AdminLotteryOut,
                lot,
                at,
                exhausted=pool.exhausted(pool_),
                prizes=[
                    AdminPrizeOut(
                        **_prize_out(p, odds).model_dump(),
                        weight=p.weight,
                        stock=p.stock,
                        given=per_prize.get(p.id, 0) if p.stock is None else p.given,
                    )
                    for p, odds in zip(pool_, pool.prize_odds(pool_), strict=True)
                ],
                draws=t.draws,
                free_draws=t.free_draws,
                points_collected=t.points_collected,
                participants=t.participants,
            )
        )
    return out


async def _my_standing(
    session: AsyncSession, lot: Lottery, prizes: Sequence[LotteryPrize], member_id: str
) -> MyDrawsOut:
    """The member's draws today and whether they can draw now (and if not, why: the
    refusal a draw would answer with)."""
    day = await merchant_today(session, lot.merchant_id)
    draws, free = await repo.draw_day(session, lot.id, member_id, day)
    wins = await repo.wins_of(session, lot.id, member_id)
    balance = await loyalty.points_balance(session, lot.merchant_id, member_id)
    free_left = max(0, lot.free_draws_per_day - free)
    draws_left = None if lot.max_draws_per_day is None else max(0, lot.max_draws_per_day - draws)
    if lot.max_draws_per_day is not None:
        free_left = min(free_left, lot.max_draws_per_day - draws)
    reason: CannotDraw | None = None
    status = windows.status(lot, now(session))
    if status == "scheduled":
        reason = "not_started"
    elif status == "ended":
        reason = "ended"
    elif lot.max_wins_per_member is not None and wins >= lot.max_wins_per_member:
        reason = "win_limit_reached"
    elif pool.exhausted(prizes) and not any(p.kind == "none" for p in prizes):
        reason = "prizes_exhausted"
    elif draws_left == 0:
        reason = "daily_draw_limit"
    elif free_left == 0 and lot.cost_points == 0:
        reason = "no_free_draws_left"
    elif free_left == 0 and balance < lot.cost_points:
        reason = "insufficient_points"
    return MyDrawsOut(
        day=day,
        draws_today=draws,
        free_draws_left=free_left,
        draws_left=draws_left,
        wins=wins,
        points_balance=balance,
        can_draw=reason is None,
        cannot_draw=reason,
    )


async def lottery_out(session: AsyncSession, lot: Lottery, viewer: str | None) -> LotteryOut:
    prizes = (await repo.prizes_of(session, [lot.id]))[lot.id]
    return shown(
        LotteryOut,
        lot,
        now(session),
        exhausted=pool.exhausted(prizes),
        prizes=[_prize_out(p, o) for p, o in zip(prizes, pool.prize_odds(prizes), strict=True)],
        mine=None if viewer is None else await _my_standing(session, lot, prizes, viewer),
    )


# ---- draws and vouchers ----------------------------------------------------------------


def draw_out(d: LotteryDraw, lotteries: dict[str, Lottery]) -> DrawOut:
    voucher = None
    if d.voucher_code is not None:
        assert d.product_id is not None and d.voucher_expires_at is not None
        voucher = VoucherOut(
            code=d.voucher_code,
            product_id=d.product_id,
            expires_at=d.voucher_expires_at,
            redeemed_at=d.voucher_redeemed_at,
        )
    lot = lotteries.get(d.lottery_id)
    return from_row(
        DrawOut,
        d,
        lottery_name=lot.name if lot is not None else "",
        prize=DrawPrizeOut(id=d.prize_id, name=d.prize_name, kind=cast(PrizeKind, d.prize_kind)),
        won=d.prize_kind != "none",
        voucher=voucher,
        day=d.draw_day,
    )


async def draws_out(session: AsyncSession, rows: list[LotteryDraw]) -> list[DrawOut]:
    lotteries = await repo.lotteries_by_ids(session, [d.lottery_id for d in rows])
    return [draw_out(d, lotteries) for d in rows]


async def admin_draws_out(session: AsyncSession, rows: list[LotteryDraw]) -> list[AdminDrawOut]:
    return [
        AdminDrawOut(**out.model_dump(), member_id=d.member_id)
        for d, out in zip(rows, await draws_out(session, rows), strict=True)
    ]
