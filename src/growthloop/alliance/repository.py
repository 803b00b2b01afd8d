from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.alliance.models import (
    DailyUsage,
    Exchange,
    MemberDailyUsage,
    Partnership,
    SettlementEntry,
)
from growthloop.core.sql import insert_unless_exists

# ---- partnerships ----------------------------------------------------------------------


async def get_partnership(session: AsyncSession, partnership_id: str) -> Partnership | None:
    return await session.get(Partnership, partnership_id)


async def insert_partnership(session: AsyncSession, values: dict[str, Any]) -> bool:
    """False when the pair already has an open partnership (the unique `open_pair`)."""
    return await insert_unless_exists(session, Partnership, values, ("open_pair",))


async def open_partnership_id(session: AsyncSession, open_pair: str) -> str | None:
    stmt = select(Partnership.id).where(Partnership.open_pair == open_pair)
    return (await session.execute(stmt)).scalar_one_or_none()


async def transition(
    session: AsyncSession, partnership_id: str, from_statuses: tuple[str, ...], **values: Any
) -> bool:
    """Guarded status change: True if the partnership was in one of `from_statuses`."""
    result = await session.execute(
        update(Partnership)
        .where(Partnership.id == partnership_id, Partnership.status.in_(from_statuses))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


async def partnerships_page(
    session: AsyncSession,
    merchant_id: str,
    *,
    limit: int,
    before_id: str | None,
    status: str | None,
) -> list[Partnership]:
    """Both sides' partnerships, newest first."""
    stmt = select(Partnership).where(
        or_(Partnership.merchant_id == merchant_id, Partnership.partner_merchant_id == merchant_id)
    )
    if status is not None:
        stmt = stmt.where(Partnership.status == status)
    if before_id is not None:
        stmt = stmt.where(Partnership.id < before_id)
    stmt = stmt.order_by(Partnership.id.desc()).limit(limit + 1)
    return list((await session.execute(stmt)).scalars())


async def active_partnerships(session: AsyncSession, merchant_id: str) -> list[Partnership]:
    stmt = (
        select(Partnership)
        .where(
            or_(
                Partnership.merchant_id == merchant_id,
                Partnership.partner_merchant_id == merchant_id,
            ),
            Partnership.status == "active",
        )
        .order_by(Partnership.id)
    )
    return list((await session.execute(stmt)).scalars())


# ---- daily caps ------------------------------------------------------------------------


async def take_daily(
    session: AsyncSession, partnership_id: str, merchant_id: str, day: date, points: int, cap: int
) -> bool:
    """Add `points` to the day's counter unless that passes `cap`: a guarded UPDATE."""
    key = {"partnership_id": partnership_id, "merchant_id": merchant_id, "day": day}
    await insert_unless_exists(session, DailyUsage, {**key, "points": 0}, tuple(key))
    result = await session.execute(
        update(DailyUsage)
        .where(
            DailyUsage.partnership_id == partnership_id,
            DailyUsage.merchant_id == merchant_id,
            DailyUsage.day == day,
            DailyUsage.points + points <= cap,
        )
        .values(points=DailyUsage.points + points)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


async def take_member_daily(
    session: AsyncSession,
    partnership_id: str,
    merchant_id: str,
    member_id: str,
    day: date,
    points: int,
    cap: int,
) -> bool:
    key = {
        "partnership_id": partnership_id,
        "merchant_id": merchant_id,
        "member_id": member_id,
        "day": day,
    }
    await insert_unless_exists(session, MemberDailyUsage, {**key, "points": 0}, tuple(key))
    result = await session.execute(
        update(MemberDailyUsage)
        .where(
            MemberDailyUsage.partnership_id == partnership_id,
            MemberDailyUsage.merchant_id == merchant_id,
            MemberDailyUsage.member_id == member_id,
            MemberDailyUsage.day == day,
            MemberDailyUsage.points + points <= cap,
        )
        .values(points=MemberDailyUsage.points + points)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


async def daily_used(
    session: AsyncSession, partnership_id: str, merchant_id: str, day: date
) -> int:
    stmt = select(DailyUsage.points).where(
        DailyUsage.partnership_id == partnership_id,
        DailyUsage.merchant_id == merchant_id,
        DailyUsage.day == day,
    )
    return int((await session.execute(stmt)).scalar_one_or_none() or 0)


async def member_daily_used(
    session: AsyncSession, partnership_id: str, merchant_id: str, member_id: str, day: date
) -> int:
    stmt = select(MemberDailyUsage.points).where(
        MemberDailyUsage.partnership_id == partnership_id,
        MemberDailyUsage.merchant_id == merchant_id,
        MemberDailyUsage.member_id == member_id,
        MemberDailyUsage.day == day,
    )
    return int((await session.execute(stmt)).scalar_one_or_none() or 0)


# ---- exchanges and settlement ----------------------------------------------------------


async def exchanges_page(
    session: AsyncSession, merchant_id: str, member_id: str, *, limit: int, before_id: str | None
) -> list[Exchange]:
    """The member's exchanges, sent and received, newest first."""
    stmt = select(Exchange).where(
        or_(
            (Exchange.merchant_id == merchant_id) & (Exchange.member_id == member_id),
            (Exchange.target_merchant_id == merchant_id) & (Exchange.target_member_id == member_id),
        )
    )
    if before_id is not None:
        stmt = stmt.where(Exchange.id < before_id)
    stmt = stmt.order_by(Exchange.id.desc()).limit(limit + 1)
    return list((await session.execute(stmt)).scalars())


async def settlement_entries(
    session: AsyncSession, partnership_id: str, start: datetime, end: datetime
) -> list[SettlementEntry]:
    """Entries created in [start, end), oldest first."""
    stmt = (
        select(SettlementEntry)
        .where(
            SettlementEntry.partnership_id == partnership_id,
            SettlementEntry.created_at >= start,
            SettlementEntry.created_at < end,
        )
        .order_by(SettlementEntry.created_at, SettlementEntry.id)
    )
    return list((await session.execute(stmt)).scalars())
