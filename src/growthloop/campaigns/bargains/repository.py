"""Every query of the bargain tables."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.bargains.models import (
    Bargain,
    BargainHelp,
    BargainHelpDay,
    BargainInstance,
)
from growthloop.core.sql import increment_under, move_status


async def get_bargain(session: AsyncSession, bargain_id: str) -> Bargain | None:
    return await session.get(Bargain, bargain_id)


async def instance_counts(
    session: AsyncSession, bargain_ids: list[str]
) -> dict[str, tuple[int, int]]:
    """(instances started, instances bought) per bargain."""
    i = BargainInstance
    stmt = (
        select(i.bargain_id, func.count(), func.count().filter(i.status == "purchased"))
        .where(i.bargain_id.in_(bargain_ids))
        .group_by(i.bargain_id)
    )
    found = {bid: (int(n), int(p)) for bid, n, p in await session.execute(stmt)}
    return {bid: found.get(bid, (0, 0)) for bid in bargain_ids}


async def open_instance_of(
    session: AsyncSession, bargain_id: str, owner: str, now: datetime
) -> BargainInstance | None:
    """The owner's instance of this bargain that is not over (unexpired, or bought)."""
    i = BargainInstance
    stmt = (
        select(i)
        .where(i.bargain_id == bargain_id, i.owner_member_id == owner)
        .where((i.expires_at > now) | (i.status == "purchased"))
        .order_by(i.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def instance_of_order(session: AsyncSession, order_id: str) -> BargainInstance | None:
    stmt = select(BargainInstance).where(BargainInstance.order_id == order_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def helps_of(session: AsyncSession, instance_id: str) -> list[BargainHelp]:
    stmt = (
        select(BargainHelp).where(BargainHelp.instance_id == instance_id).order_by(BargainHelp.seq)
    )
    return list((await session.execute(stmt)).scalars())


async def has_helped(session: AsyncSession, instance_id: str, member_id: str) -> bool:
    stmt = select(BargainHelp.id).where(
        BargainHelp.instance_id == instance_id, BargainHelp.helper_member_id == member_id
    )
    return (await session.execute(stmt)).first() is not None


async def count_help_day(
    session: AsyncSession, merchant_id: str, member_id: str, day: date, limit: int
) -> bool:
    """One more help today for the member, if under `limit`: True when counted."""
    key = {"merchant_id": merchant_id, "member_id": member_id, "day": day}
    return await increment_under(session, BargainHelpDay, key, "helps", limit) is not None


async def move_instance(
    session: AsyncSession,
    instance: BargainInstance,
    before: tuple[str, ...],
    after: str,
    **values: object,
) -> bool:
    return await move_status(session, instance, before, after, **values)
