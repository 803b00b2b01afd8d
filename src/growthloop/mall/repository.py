from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.sql import guarded, take_counter, where_given
from growthloop.mall.models import MemberRedemptionCount, Redemption, Reward

# ---- rewards -------------------------------------------------------------------------


async def get_reward(session: AsyncSession, reward_id: str) -> Reward | None:
    return await session.get(Reward, reward_id)


def shown_at(now: datetime) -> ColumnElement[bool]:
    """Active and within the display window at `now`."""
    return and_(
        Reward.active.is_(True),
        or_(Reward.shown_from.is_(None), Reward.shown_from <= now),
        or_(Reward.shown_until.is_(None), Reward.shown_until > now),
    )


def rewards(merchant_id: str, *, visible_at: datetime | None) -> Select[Reward]:
    """The merchant's rewards (paged in shelf order by the caller); `visible_at` keeps what
    members see then."""
    stmt = select(Reward).where(Reward.merchant_id == merchant_id)
    if visible_at is not None:
        stmt = stmt.where(shown_at(visible_at))
    return stmt


async def take_stock(session: AsyncSession, reward_id: str, quantity: int) -> bool:
    """Guarded atomic `redeemed += quantity`: False when the stock does not cover it."""
    return await guarded(
        session,
        update(Reward)
        .where(
            Reward.id == reward_id,
            or_(Reward.stock.is_(None), Reward.redeemed + quantity <= Reward.stock),
        )
        .values(redeemed=Reward.redeemed + quantity),
    )


async def return_stock(session: AsyncSession, reward_id: str, quantity: int) -> bool:
    return await guarded(
        session,
        update(Reward)
        .where(Reward.id == reward_id, Reward.redeemed >= quantity)
        .values(redeemed=Reward.redeemed - quantity),
    )


async def set_stock(session: AsyncSession, reward_id: str, stock: int | None) -> bool:
    """Guarded: False when `stock` is below the units already redeemed."""
    stmt = update(Reward).where(Reward.id == reward_id)
    if stock is not None:
        stmt = stmt.where(Reward.redeemed <= stock)
    return await guarded(session, stmt.values(stock=stock))


async def take_member_count(
    session: AsyncSession, reward: Reward, member_id: str, quantity: int
) -> bool:
    """Guarded atomic increment of the member's count: False past `per_member_limit`."""
    return await take_counter(
        session,
        MemberRedemptionCount,
        {"reward_id": reward.id, "member_id": member_id},
        n=quantity,
        cap=reward.per_member_limit,
        merchant_id=reward.merchant_id,
    )


async def return_member_count(
    session: AsyncSession, reward_id: str, member_id: str, quantity: int
) -> bool:
    return await guarded(
        session,
        update(MemberRedemptionCount)
        .where(
            MemberRedemptionCount.reward_id == reward_id,
            MemberRedemptionCount.member_id == member_id,
            MemberRedemptionCount.count >= quantity,
        )
        .values(count=MemberRedemptionCount.count - quantity),
    )


async def member_counts(
    session: AsyncSession, member_id: str, reward_ids: Iterable[str]
) -> dict[str, int]:
    ids = list(set(reward_ids))
    if not ids:
        return {}
    stmt = select(MemberRedemptionCount.reward_id, MemberRedemptionCount.count).where(
        MemberRedemptionCount.member_id == member_id,
        MemberRedemptionCount.reward_id.in_(ids),
    )
    return {reward_id: count for reward_id, count in await session.execute(stmt)}


# ---- redemptions ---------------------------------------------------------------------


async def redemption_by_code(
    session: AsyncSession, merchant_id: str, code: str
) -> Redemption | None:
    stmt = select(Redemption).where(Redemption.merchant_id == merchant_id, Redemption.code == code)
    return (await session.execute(stmt)).scalar_one_or_none()


def redemptions(
    merchant_id: str,
    *,
    member_id: str | None = None,
    reward_id: str | None = None,
    status: str | None = None,
) -> Select[Redemption]:
    """The merchant's redemptions, filtered (paged newest first by the caller)."""
    return where_given(
        select(Redemption).where(Redemption.merchant_id == merchant_id),
        (Redemption.member_id, member_id),
        (Redemption.reward_id, reward_id),
        (Redemption.status, status),
    )
