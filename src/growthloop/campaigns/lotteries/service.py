"""Lottery rules (抽奖). Never commits.

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

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.errors import Ended, InvalidCampaign, NotStarted
from growthloop.campaigns.lotteries import pool
from growthloop.campaigns.lotteries import repository as repo
from growthloop.campaigns.lotteries.errors import (
    AlreadyEnded,
    DailyDrawLimit,
    LotteryNotFound,
    NoFreeDrawsLeft,
    PrizesExhausted,
    VoucherAlreadyUsed,
    VoucherExpired,
    VoucherNotFound,
    WinLimitReached,
)
from growthloop.campaigns.lotteries.models import Lottery, LotteryDraw, LotteryPrize
from growthloop.campaigns.lotteries.schemas import (
    AdminDrawOut,
    AdminLotteryOut,
    AdminPrizeOut,
    CannotDraw,
    DrawOut,
    DrawPrizeOut,
    DrawResultOut,
    LotteryIn,
    LotteryOut,
    LotteryStatus,
    MyDrawsOut,
    PrizeKind,
    PrizeOut,
    VoucherOut,
)
from growthloop.compliance import service as consent
from growthloop.core import audit, references
from growthloop.core.auth import ensure_same_merchant
from growthloop.core.clock import Clock
from growthloop.core.context import context_of, merchant_today
from growthloop.core.errors import AppError
from growthloop.core.events import NamedEvent, emit
from growthloop.core.ids import new_id
from growthloop.core.pagination import PageParams, make_page
from growthloop.loyalty import service as loyalty
from growthloop.promotions import service as promotions

DREW = "lottery.drew"
VOUCHER_REDEEMED = "lottery.voucher_redeemed"


def spend_key(draw_id: str) -> str:
    return f"lottery:{draw_id}:spend"


def _now(session: AsyncSession) -> datetime:
    clock = context_of(session).clock
    assert isinstance(clock, Clock)
    return clock.now()


# ---- lotteries (operators) ------------------------------------------------------------


def lottery_status(lot: Lottery, now: datetime) -> LotteryStatus:
    if lot.ended_early_at is not None or (lot.ends_at is not None and now >= lot.ends_at):
        return "ended"
    return "scheduled" if now < lot.starts_at else "running"


async def create_lottery(
    session: AsyncSession, merchant_id: str, admin_id: str, data: LotteryIn
) -> Lottery:
    """The lottery and its pool. What a prize gives must be this merchant's (422
    `unknown_coupon_template` or `unknown_product`, naming `prizes[i].template_id` or
    `prizes[i].product_id`); a coupon template must be granted-only (422
    `coupon_template_claimable`: a prize members could claim for free is none) and able to
    issue coupons now."""
    now = _now(session)
    if data.ends_at is not None and data.ends_at <= now:
        raise InvalidCampaign("ends_at is in the past.", ends_at=data.ends_at.isoformat())
    for i, p in enumerate(data.prizes):
        if p.template_id is not None:
            template = await promotions.reward_template(
                session, merchant_id, p.template_id, field=f"prizes[{i}].template_id"
            )
            if not template.active or (
                template.valid_until is not None and template.valid_until <= now
            ):
                raise InvalidCampaign(
                    "The coupon template of a prize cannot issue coupons.",
                    prize=i,
                    template_id=template.id,
                )
        if p.product_id is not None:
            field = f"prizes[{i}].product_id"
            await references.check(
                session, merchant_id, table="products", field=field, ids=[p.product_id]
            )
    lottery = Lottery(
        merchant_id=merchant_id,
        name=data.name,
        rules=data.rules or None,
        starts_at=data.starts_at or now,
        ends_at=data.ends_at,
        cost_points=data.cost_points,
        free_draws_per_day=data.free_draws_per_day,
        max_draws_per_day=data.max_draws_per_day,
        max_wins_per_member=data.max_wins_per_member,
        voucher_valid_days=data.voucher_valid_days,
        created_at=now,
    )
    session.add(lottery)
    await session.flush()
    session.add_all(
        LotteryPrize(
            merchant_id=merchant_id,
            lottery_id=lottery.id,
            seq=i,
            name=p.name,
            kind=p.kind,
            weight=p.weight,
            stock=p.stock,
            given=0,
            template_id=p.template_id,
            points=p.points,
            product_id=p.product_id,
        )
        for i, p in enumerate(data.prizes, start=1)
    )
    await session.flush()
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="admin",
        actor_id=admin_id,
        action="lottery.create",
        subject_type="lottery",
        subject_id=lottery.id,
        cost_points=lottery.cost_points,
        free_draws_per_day=lottery.free_draws_per_day,
        prizes=[{"kind": p.kind, "weight": p.weight, "stock": p.stock} for p in data.prizes],
    )
    return lottery


async def access_lottery(session: AsyncSession, merchant_id: str, lottery_id: str) -> Lottery:
    lottery = await repo.get_lottery(session, lottery_id)
    if lottery is None:
        raise LotteryNotFound(lottery_id=lottery_id)
    ensure_same_merchant(lottery.merchant_id, merchant_id)
    return lottery


async def end_lottery(
    session: AsyncSession, merchant_id: str, admin_id: str, lottery_id: str
) -> Lottery:
    """No draws from now on; vouchers already won stay redeemable until they expire."""
    lottery = await access_lottery(session, merchant_id, lottery_id)
    now = _now(session)
    if lottery_status(lottery, now) == "ended":
        raise AlreadyEnded(lottery_id=lottery.id)
    lottery.ended_early_at = now
    await session.flush()
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="admin",
        actor_id=admin_id,
        action="lottery.end",
        subject_type="lottery",
        subject_id=lottery.id,
    )
    return lottery


async def list_lotteries(
    session: AsyncSession, merchant_id: str, page: PageParams
) -> tuple[list[Lottery], str | None]:
    rows = await repo.list_lotteries(
        session, merchant_id, limit=page.limit, before_id=page.after_id
    )
    return make_page(rows, page)


def _stock_left(p: LotteryPrize) -> int | None:
    return None if p.stock is None else p.stock - p.given


def _available(p: LotteryPrize) -> bool:
    left = _stock_left(p)
    return left is None or left > 0


def _exhausted(prizes: Sequence[LotteryPrize]) -> bool:
    return not any(p.kind != "none" and _available(p) for p in prizes)


def _odds(prizes: Sequence[LotteryPrize]) -> list[float]:
    return pool.odds([p.weight if _available(p) else 0 for p in prizes])


def _prize_out(p: LotteryPrize, odds: float) -> PrizeOut:
    return PrizeOut(
        id=p.id,
        name=p.name,
        kind=cast(PrizeKind, p.kind),
        points=p.points,
        template_id=p.template_id,
        product_id=p.product_id,
        stock_left=_stock_left(p),
        odds=odds,
    )


async def admin_lotteries_out(session: AsyncSession, rows: list[Lottery]) -> list[AdminLotteryOut]:
    ids = [lot.id for lot in rows]
    prizes = await repo.prizes_of(session, ids)
    totals = await repo.totals(session, ids) if ids else {}
    per_prize = await repo.draws_per_prize(session, ids) if ids else {}
    now = _now(session)
    out = []
    for lot in rows:
        pool_ = prizes[lot.id]
        t = totals[lot.id]
        out.append(
            AdminLotteryOut(
                id=lot.id,
                name=lot.name,
                rules=lot.rules,
                starts_at=lot.starts_at,
                ends_at=lot.ends_at,
                status=lottery_status(lot, now),
                cost_points=lot.cost_points,
                free_draws_per_day=lot.free_draws_per_day,
                max_draws_per_day=lot.max_draws_per_day,
                max_wins_per_member=lot.max_wins_per_member,
                voucher_valid_days=lot.voucher_valid_days,
                exhausted=_exhausted(pool_),
                prizes=[
                    AdminPrizeOut(
                        **_prize_out(p, odds).model_dump(),
                        weight=p.weight,
                        stock=p.stock,
                        given=per_prize.get(p.id, 0) if p.stock is None else p.given,
                    )
                    for p, odds in zip(pool_, _odds(pool_), strict=True)
                ],
                draws=t.draws,
                free_draws=t.free_draws,
                points_collected=t.points_collected,
                participants=t.participants,
                ended_early_at=lot.ended_early_at,
                created_at=lot.created_at,
            )
        )
    return out


# ---- what a member sees ----------------------------------------------------------------


async def _my_standing(
    session: AsyncSession, lot: Lottery, prizes: Sequence[LotteryPrize], member_id: str
) -> MyDrawsOut:
    day = await merchant_today(session, lot.merchant_id)
    draws, free = await repo.draw_day(session, lot.id, member_id, day)
    wins = await repo.wins_of(session, lot.id, member_id)
    balance = await loyalty.points_balance(session, lot.merchant_id, member_id)
    free_left = max(0, lot.free_draws_per_day - free)
    draws_left = None if lot.max_draws_per_day is None else max(0, lot.max_draws_per_day - draws)
    if lot.max_draws_per_day is not None:
        free_left = min(free_left, lot.max_draws_per_day - draws)
    reason: CannotDraw | None = None
    status = lottery_status(lot, _now(session))
    if status == "scheduled":
        reason = "not_started"
    elif status == "ended":
        reason = "ended"
    elif lot.max_wins_per_member is not None and wins >= lot.max_wins_per_member:
        reason = "win_limit_reached"
    elif _exhausted(prizes) and not any(p.kind == "none" for p in prizes):
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
    return LotteryOut(
        id=lot.id,
        name=lot.name,
        rules=lot.rules,
        starts_at=lot.starts_at,
        ends_at=lot.ends_at,
        status=lottery_status(lot, _now(session)),
        cost_points=lot.cost_points,
        free_draws_per_day=lot.free_draws_per_day,
        max_draws_per_day=lot.max_draws_per_day,
        max_wins_per_member=lot.max_wins_per_member,
        voucher_valid_days=lot.voucher_valid_days,
        exhausted=_exhausted(prizes),
        prizes=[_prize_out(p, o) for p, o in zip(prizes, _odds(prizes), strict=True)],
        mine=None if viewer is None else await _my_standing(session, lot, prizes, viewer),
    )


# ---- drawing ---------------------------------------------------------------------------


@dataclass
class _Granted:
    prize: LotteryPrize
    coupon_id: str | None = None
    points: int | None = None


def _ensure_running(lot: Lottery, now: datetime) -> None:
    status = lottery_status(lot, now)
    if status == "scheduled":
        raise NotStarted(next_open_at=lot.starts_at.isoformat())
    if status == "ended":
        raise Ended()


async def _new_code(session: AsyncSession, merchant_id: str) -> str:
    """A 12-digit voucher code not used by this merchant's lottery vouchers yet."""
    while True:
        code = f"{secrets.randbelow(10**12):012d}"
        if not await repo.code_taken(session, merchant_id, code):
            return code


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
    candidates = [p for p in prizes if _available(p) and (p.kind != "points" or points_for_them)]
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
    lot = await access_lottery(session, merchant_id, lottery_id)
    now = _now(session)
    _ensure_running(lot, now)
    prizes = (await repo.prizes_of(session, [lot.id]))[lot.id]
    if not any(_available(p) for p in prizes):
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
        voucher_code=await _new_code(session, merchant_id) if is_product else None,
        voucher_expires_at=now + timedelta(days=lot.voucher_valid_days) if is_product else None,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    await emit(
        session,
        NamedEvent(
            DREW,
            merchant_id,
            {
                "draw_id": row.id,
                "lottery_id": lot.id,
                "prize_id": prize.id,
                "prize_kind": prize.kind,
                "prize_name": prize.name,
                "won": prize.kind != "none",
                "free_draw": row.free_draw,
                "paid_points": paid,
                "coupon_id": row.coupon_id,
                "points": row.points,
            },
            member_id,
        ),
    )
    out = _draw_out(row, {lot.id: lot})
    return DrawResultOut(
        **out.model_dump(),
        free_draws_left=charge.free_left,
        draws_left=None if lot.max_draws_per_day is None else lot.max_draws_per_day - charge.draws,
    )


# ---- draws and vouchers ----------------------------------------------------------------


def _draw_out(d: LotteryDraw, lotteries: dict[str, Lottery]) -> DrawOut:
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
    return DrawOut(
        id=d.id,
        lottery_id=d.lottery_id,
        lottery_name=lot.name if lot is not None else "",
        prize=DrawPrizeOut(id=d.prize_id, name=d.prize_name, kind=cast(PrizeKind, d.prize_kind)),
        won=d.prize_kind != "none",
        free_draw=d.free_draw,
        paid_points=d.paid_points,
        coupon_id=d.coupon_id,
        points=d.points,
        voucher=voucher,
        day=d.draw_day,
        created_at=d.created_at,
    )


async def draws_out(session: AsyncSession, rows: list[LotteryDraw]) -> list[DrawOut]:
    lotteries = await repo.lotteries_by_ids(session, [d.lottery_id for d in rows])
    return [_draw_out(d, lotteries) for d in rows]


async def admin_draws_out(session: AsyncSession, rows: list[LotteryDraw]) -> list[AdminDrawOut]:
    return [
        AdminDrawOut(**out.model_dump(), member_id=d.member_id)
        for d, out in zip(rows, await draws_out(session, rows), strict=True)
    ]


async def list_draws(
    session: AsyncSession,
    merchant_id: str,
    page: PageParams,
    *,
    member_id: str | None = None,
    lottery_id: str | None = None,
    won: bool | None = None,
) -> tuple[list[LotteryDraw], str | None]:
    """Newest first; a lottery named must be this merchant's (404 / 403)."""
    if lottery_id is not None:
        await access_lottery(session, merchant_id, lottery_id)
    rows = await repo.list_draws(
        session,
        merchant_id,
        member_id=member_id,
        lottery_id=lottery_id,
        won=won,
        limit=page.limit,
        before_id=page.after_id,
    )
    return make_page(rows, page)


async def verify_voucher(
    session: AsyncSession, *, merchant_id: str, admin_id: str, code: str
) -> LotteryDraw:
    """核销 at the counter: the member shows a product prize's code; it works once, before
    it expires. A code is looked up among this merchant's vouchers only."""
    voucher = await repo.draw_by_code(session, merchant_id, code)
    if voucher is None:
        raise VoucherNotFound()
    now = _now(session)
    if voucher.voucher_redeemed_at is not None:
        raise VoucherAlreadyUsed(redeemed_at=voucher.voucher_redeemed_at.isoformat())
    assert voucher.voucher_expires_at is not None
    if now >= voucher.voucher_expires_at:
        raise VoucherExpired(expired_at=voucher.voucher_expires_at.isoformat())
    if not await repo.redeem_voucher(session, voucher, now):
        await session.refresh(voucher)
        raise VoucherAlreadyUsed(
            redeemed_at=voucher.voucher_redeemed_at.isoformat()
            if voucher.voucher_redeemed_at
            else None
        )
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="admin",
        actor_id=admin_id,
        action="lottery.voucher.redeem",
        subject_type="lottery_draw",
        subject_id=voucher.id,
        member_id=voucher.member_id,
        product_id=voucher.product_id,
    )
    await emit(
        session,
        NamedEvent(
            VOUCHER_REDEEMED,
            merchant_id,
            {
                "draw_id": voucher.id,
                "lottery_id": voucher.lottery_id,
                "product_id": voucher.product_id,
            },
            voucher.member_id,
        ),
    )
    return voucher
