"""Drawing (抽奖). Never commits.

A draw is one transaction, in this order:

1. the lottery is running and some prize can still be given (a real prize with stock
   left, or the `none` prize);
2. the member's row in the lottery counts the draw (an upsert that locks it: the member's
   other draws in this lottery wait here, whatever their day), and the member has not
   reached `max_wins_per_member`; then their day (the merchant's local day) counts it
   under `max_draws_per_day` (a guarded upsert of the member's row for the day);
3. the draw is free if a free draw is left today (a guarded update of that row), else it
   costs `cost_points`, spent through the loyalty ledger under the key
   `lottery:<draw id>:spend` (409 `insufficient_points` / `points_locked` from loyalty;
   409 `no_free_draws_left` when the lottery has no points price);
4. a prize is chosen by weight (`pool.pick`, the OS's RNG) among the prizes the member can
   receive: real prizes with stock left, and the `none` prize. A real prize takes one unit
   by `UPDATE ... given = given + 1 WHERE given < stock`; if that finds the prize sold out
   (another draw took the last unit since the pool was read), the prize leaves the pool and
   the choice is made again among the rest. A coupon prize whose coupon cannot be granted
   now (template inactive or expired, its total or this member's limit reached) is treated
   the same way: its unit and the grant are rolled back together in a savepoint. A points
   prize is only for members in the membership programme (consent "membership", as
   everywhere in loyalty); for the others it is left out of their pool. When nothing is
   left, the draw gives the `none` prize, or, if the lottery has none, answers 409
   `prizes_exhausted` and writes nothing;
5. the prize is granted: a coupon through `promotions.grant_coupon` (key
   `lottery:<draw id>:coupon`), points through `loyalty.grant_points` (key
   `lottery:<draw id>:points`, a new batch with the programme's expiry), a product as a
   12-digit voucher code the member shows at the counter, redeemed once by staff within
   `voucher_valid_days` (the catalog's own stock is not touched: the prize's stock is
   the campaign's allotment); a won prize counts towards `max_wins_per_member`;
6. the draw row, then the `lottery.drew` event.

Locks are taken in that order: the member's own rows (lottery, day, loyalty account), then
one prize row at a time, then the coupon template's counters. Draws of one member queue
on their lottery row before anything else, and draws of different members share only
prize and template rows, always in that order, so concurrent draws cannot deadlock.

Any refusal raises, and the request's unit of work rolls it all back: no draw counted, no
points spent, no unit taken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns import windows
from growthloop.campaigns.lotteries import pool, presenters, service, vouchers
from growthloop.campaigns.lotteries import repository as repo
from growthloop.campaigns.lotteries.errors import (
    DailyDrawLimit,
    NoFreeDrawsLeft,
    PrizesExhausted,
    WinLimitReached,
)
from growthloop.campaigns.lotteries.events import LotteryDrew
from growthloop.campaigns.lotteries.models import Lottery, LotteryDraw, LotteryPrize
from growthloop.campaigns.lotteries.schemas import DrawResultOut
from growthloop.compliance import service as consent
from growthloop.core.context import merchant_today, now
from growthloop.core.errors import AppError
from growthloop.core.events import emit
from growthloop.core.ids import new_id
from growthloop.loyalty import service as loyalty
from growthloop.promotions import service as promotions


def spend_key(draw_id: str) -> str:
    return f"lottery:{draw_id}:spend"


@dataclass
class _Granted:
    prize: LotteryPrize
    coupon_id: str | None = None
    points: int | None = None


async def _try_coupon(
    session: AsyncSession, prize: LotteryPrize, member_id: str, draw_id: str
) -> str | None:
    """The prize's unit and its coupon together, or neither (None)."""
    assert prize.template_id is not None  # PrizeIn requires it
    try:
        async with session.begin_nested():
            if not await repo.take_prize(session, prize.id):
                return None
            coupon = await promotions.grant_coupon(
                session,
                prize.merchant_id,
                prize.template_id,
                member_id,
                source="campaign",
                key=f"lottery:{draw_id}:coupon",
            )
            return coupon.id
    except AppError:  # grant_coupon's refusals: the savepoint took the unit back too
        return None


async def _choose_and_take(
    session: AsyncSession,
    lot: Lottery,
    prizes: Sequence[LotteryPrize],
    member_id: str,
    draw_id: str,
) -> _Granted:
    points_for_them = any(p.kind == "points" for p in prizes) and await consent.has_consent(
        session, lot.merchant_id, member_id, "membership"
    )
    candidates = [
        p for p in prizes if pool.available(p) and (p.kind != "points" or points_for_them)
    ]
    while candidates:
        prize = pool.pick([(p, p.weight) for p in candidates])
        if prize.kind == "none":
            return _Granted(prize)
        if prize.kind == "coupon":
            coupon_id = await _try_coupon(session, prize, member_id, draw_id)
            if coupon_id is not None:
                return _Granted(prize, coupon_id=coupon_id)
        elif await repo.take_prize(session, prize.id):
            return _Granted(prize, points=prize.points if prize.kind == "points" else None)
        # Sold out since the pool was read, or its coupon cannot be granted: draw again.
        candidates.remove(prize)
    raise PrizesExhausted(lottery_id=lot.id)


@dataclass(frozen=True)
class _Charge:
    draws: int  # the member's draws today, this one included
    free_left: int  # free draws left today after this one
    paid: int  # points this draw cost (0: a free draw)


async def _charge(
    session: AsyncSession, lot: Lottery, member_id: str, day: date, draw_id: str
) -> _Charge:
    """The end of step 2 and step 3: count the draw under the daily cap, then take a free
    draw or spend the points."""
    draws = await repo.count_draw(
        session,
        merchant_id=lot.merchant_id,
        lottery_id=lot.id,
        member_id=member_id,
        day=day,
        max_draws=lot.max_draws_per_day,
    )
    if draws is None:
        raise DailyDrawLimit(max_draws_per_day=lot.max_draws_per_day, day=day.isoformat())
    cap_left = None if lot.max_draws_per_day is None else lot.max_draws_per_day - draws
    free_used = None
    if lot.free_draws_per_day > 0:
        free_used = await repo.take_free_draw(
            session,
            lottery_id=lot.id,
            member_id=member_id,
            day=day,
            free_per_day=lot.free_draws_per_day,
        )
    if free_used is not None:
        free_left = lot.free_draws_per_day - free_used
        return _Charge(draws, free_left if cap_left is None else min(free_left, cap_left), 0)
    if lot.cost_points == 0:
        raise NoFreeDrawsLeft(free_draws_per_day=lot.free_draws_per_day, day=day.isoformat())
    await loyalty.spend_points(
        session,
        lot.merchant_id,
        member_id,
        lot.cost_points,
        reason="lottery_draw",
        key=spend_key(draw_id),
        ref=draw_id,
    )
    return _Charge(draws, 0, lot.cost_points)


async def draw(
    session: AsyncSession, merchant_id: str, member_id: str, lottery_id: str
) -> DrawResultOut:
    """One draw by the member, steps 1-6 of the module's docstring."""
    lot = await service.get_lottery(session, merchant_id, lottery_id)
    at = now(session)
    windows.ensure_running(lot, at)
    prizes = (await repo.prizes_of(session, [lot.id]))[lot.id]
    if not any(pool.available(p) for p in prizes):
        raise PrizesExhausted(lottery_id=lot.id)
    wins = await repo.enter(
        session, merchant_id=merchant_id, lottery_id=lot.id, member_id=member_id
    )
    if lot.max_wins_per_member is not None and wins >= lot.max_wins_per_member:
        raise WinLimitReached(max_wins_per_member=lot.max_wins_per_member)

    day = await merchant_today(session, merchant_id)
    draw_id = new_id()
    charge = await _charge(session, lot, member_id, day, draw_id)
    paid = charge.paid
    granted = await _choose_and_take(session, lot, prizes, member_id, draw_id)
    prize = granted.prize
    if prize.kind != "none" and not await repo.count_win(
        session, lottery_id=lot.id, member_id=member_id, max_wins=lot.max_wins_per_member
    ):
        raise AssertionError("the member's row is held by this draw and was under the cap")
    if prize.kind == "points":
        assert prize.points is not None
        await loyalty.grant_points(
            session,
            merchant_id,
            member_id,
            prize.points,
            reason="lottery_prize",
            key=f"lottery:{draw_id}:points",
            ref=draw_id,
        )
    is_product = prize.kind == "product"
    row = LotteryDraw(
        id=draw_id,
        merchant_id=merchant_id,
        lottery_id=lot.id,
        member_id=member_id,
        prize_id=prize.id,
        prize_kind=prize.kind,
        prize_name=prize.name,
        free_draw=paid == 0,
        paid_points=paid,
        draw_day=day,
        coupon_id=granted.coupon_id,
        points=granted.points,
        product_id=prize.product_id,
        voucher_code=await vouchers.new_code(session, merchant_id) if is_product else None,
        voucher_expires_at=at + timedelta(days=lot.voucher_valid_days) if is_product else None,
        created_at=at,
    )
    session.add(row)
    await session.flush()
    await emit(
        session,
        LotteryDrew(
            **service.draw_ids(row),
            prize_id=prize.id,
            prize_kind=prize.kind,
            prize_name=prize.name,
            won=prize.kind != "none",
            free_draw=row.free_draw,
            paid_points=paid,
            coupon_id=row.coupon_id,
            points=row.points,
        ),
    )
    out = presenters.draw_out(row, {lot.id: lot})
    return DrawResultOut(
        **out.model_dump(),
        free_draws_left=charge.free_left,
        draws_left=None if lot.max_draws_per_day is None else lot.max_draws_per_day - charge.draws,
    )
