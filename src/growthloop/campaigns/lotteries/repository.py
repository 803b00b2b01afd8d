"""Every query of the lottery tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.lotteries.models import (
    Lottery,
    LotteryDraw,
    LotteryDrawDay,
    LotteryMember,
    LotteryPrize,
)
from growthloop.core.pagination import PageParams, fetch_page
from growthloop.core.sql import (
    dialect_insert,
    guarded,
    increment_under,
    mark_committed,
    where_given,
)


async def lotteries_by_ids(session: AsyncSession, ids: list[str]) -> dict[str, Lottery]:
    if not ids:
        return {}
    stmt = select(Lottery).where(Lottery.id.in_(set(ids)))
    return {lot.id: lot for lot in (await session.execute(stmt)).scalars()}


async def prizes_of(session: AsyncSession, lottery_ids: list[str]) -> dict[str, list[LotteryPrize]]:
    """Each lottery's pool in its order, as committed now (not as this session last saw
    it: guarded updates move `given` behind the ORM's back)."""
    out: dict[str, list[LotteryPrize]] = {lid: [] for lid in lottery_ids}
    if not lottery_ids:
        return out
    stmt = (
        select(LotteryPrize)
        .where(LotteryPrize.lottery_id.in_(lottery_ids))
        .order_by(LotteryPrize.lottery_id, LotteryPrize.seq)
        .execution_options(populate_existing=True)
    )
    for prize in (await session.execute(stmt)).scalars():
        out[prize.lottery_id].append(prize)
    return out


async def take_prize(session: AsyncSession, prize_id: str) -> bool:
    """Guarded atomic `given += 1` while units are left: False when the prize is gone."""
    return await guarded(
        session,
        update(LotteryPrize)
        .where(
            LotteryPrize.id == prize_id,
            LotteryPrize.stock.is_not(None),
            LotteryPrize.given < LotteryPrize.stock,
        )
        .values(given=LotteryPrize.given + 1),
    )


async def count_draw(
    session: AsyncSession,
    *,
    merchant_id: str,
    lottery_id: str,
    member_id: str,
    day: date,
    max_draws: int | None,
) -> int | None:
    """One more draw today for the member, if under `max_draws`: the day's draws after it,
    or None (refused, nothing changed). The row stays locked until the transaction ends,
    so the member's concurrent draws queue behind it."""
    return await increment_under(
        session,
        LotteryDrawDay,
        {"lottery_id": lottery_id, "member_id": member_id, "draw_day": day},
        "draws",
        max_draws,
        merchant_id=merchant_id,
        free_draws=0,
    )


async def take_free_draw(
    session: AsyncSession, *, lottery_id: str, member_id: str, day: date, free_per_day: int
) -> int | None:
    """Mark today's draw free if a free draw is left: the free draws used after it, or None."""
    d = LotteryDrawDay
    found = (
        await session.execute(
            update(d)
            .where(
                d.lottery_id == lottery_id,
                d.member_id == member_id,
                d.draw_day == day,
                d.free_draws < free_per_day,
            )
            .values(free_draws=d.free_draws + 1)
            .returning(d.free_draws)
            .execution_options(synchronize_session=False)
        )
    ).scalar_one_or_none()
    return None if found is None else int(found)


async def draw_day(
    session: AsyncSession, lottery_id: str, member_id: str, day: date
) -> tuple[int, int]:
    """(draws, free draws) of the member on `day`."""
    d = LotteryDrawDay
    row = (
        await session.execute(
            select(d.draws, d.free_draws).where(
                d.lottery_id == lottery_id, d.member_id == member_id, d.draw_day == day
            )
        )
    ).first()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))


async def wins_of(session: AsyncSession, lottery_id: str, member_id: str) -> int:
    stmt = select(LotteryMember.wins).where(
        LotteryMember.lottery_id == lottery_id, LotteryMember.member_id == member_id
    )
    found = (await session.execute(stmt)).scalar_one_or_none()
    return 0 if found is None else int(found)


async def enter(session: AsyncSession, *, merchant_id: str, lottery_id: str, member_id: str) -> int:
    """One more draw of the member in the lottery; returns the prizes they won so far. The
    row stays locked until the transaction ends: the member's other draws wait here."""
    m = LotteryMember
    stmt = (
        dialect_insert(session, m)
        .values(
            lottery_id=lottery_id, member_id=member_id, merchant_id=merchant_id, draws=1, wins=0
        )
        .on_conflict_do_update(
            index_elements=["lottery_id", "member_id"], set_={"draws": m.draws + 1}
        )
        .returning(m.wins)
    )
    return int((await session.execute(stmt)).scalar_one())


async def count_win(
    session: AsyncSession, *, lottery_id: str, member_id: str, max_wins: int | None
) -> bool:
    """One more prize won by the member (whose row `enter` locked), if under `max_wins`."""
    m = LotteryMember
    stmt = update(m).where(m.lottery_id == lottery_id, m.member_id == member_id)
    if max_wins is not None:
        stmt = stmt.where(m.wins < max_wins)
    return await guarded(session, stmt.values(wins=m.wins + 1))


async def draw_by_code(session: AsyncSession, merchant_id: str, code: str) -> LotteryDraw | None:
    stmt = select(LotteryDraw).where(
        LotteryDraw.merchant_id == merchant_id, LotteryDraw.voucher_code == code
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def redeem_voucher(session: AsyncSession, draw: LotteryDraw, now: datetime) -> bool:
    """Guarded: a voucher is redeemed once, whatever arrives at the same moment."""
    if not await guarded(
        session,
        update(LotteryDraw)
        .where(LotteryDraw.id == draw.id, LotteryDraw.voucher_redeemed_at.is_(None))
        .values(voucher_redeemed_at=now),
    ):
        return False
    mark_committed(draw, voucher_redeemed_at=now)
    return True


async def list_draws(
    session: AsyncSession,
    merchant_id: str,
    page: PageParams,
    *,
    member_id: str | None = None,
    lottery_id: str | None = None,
    won: bool | None = None,
) -> tuple[list[LotteryDraw], str | None]:
    """Newest first."""
    d = LotteryDraw
    stmt = where_given(
        select(d).where(d.merchant_id == merchant_id),
        (d.member_id, member_id),
        (d.lottery_id, lottery_id),
    )
    if won is not None:
        stmt = stmt.where((d.prize_kind != "none") if won else (d.prize_kind == "none"))
    return await fetch_page(session, stmt, d.id, page)


@dataclass(frozen=True)
class Totals:
    draws: int = 0
    free_draws: int = 0
    points_collected: int = 0
    participants: int = 0


async def totals(session: AsyncSession, lottery_ids: list[str]) -> dict[str, Totals]:
    d = LotteryDraw
    stmt = (
        select(
            d.lottery_id,
            func.count(),
            func.count().filter(d.free_draw.is_(True)),
            func.coalesce(func.sum(d.paid_points), 0),
            func.count(d.member_id.distinct()),
        )
        .where(d.lottery_id.in_(lottery_ids))
        .group_by(d.lottery_id)
    )
    found = {
        lid: Totals(int(n), int(free), int(points), int(people))
        for lid, n, free, points, people in await session.execute(stmt)
    }
    return {lid: found.get(lid, Totals()) for lid in lottery_ids}


async def draws_per_prize(session: AsyncSession, lottery_ids: list[str]) -> dict[str, int]:
    d = LotteryDraw
    stmt = (
        select(d.prize_id, func.count()).where(d.lottery_id.in_(lottery_ids)).group_by(d.prize_id)
    )
    return {pid: int(n) for pid, n in await session.execute(stmt)}
