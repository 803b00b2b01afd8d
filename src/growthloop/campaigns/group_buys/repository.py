"""Every query of the group-buy tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.group_buys.models import Group, GroupBuy, GroupMember
from growthloop.core.sql import move_status, sweep_batch


async def get_group_buy(session: AsyncSession, group_buy_id: str) -> GroupBuy | None:
    return await session.get(GroupBuy, group_buy_id)


async def get_group(session: AsyncSession, group_id: str) -> Group | None:
    return await session.get(Group, group_id)


async def group_counts(
    session: AsyncSession, group_buy_ids: list[str]
) -> dict[str, dict[str, int]]:
    stmt = (
        select(Group.group_buy_id, Group.status, func.count())
        .where(Group.group_buy_id.in_(group_buy_ids))
        .group_by(Group.group_buy_id, Group.status)
    )
    out: dict[str, dict[str, int]] = {gid: {} for gid in group_buy_ids}
    for gid, status, n in await session.execute(stmt):
        out[gid][status] = int(n)
    return out


def groups_of(merchant_id: str, group_buy_id: str, status: str | None) -> Select[Group]:
    """A campaign's groups, in any status or one."""
    stmt = select(Group).where(Group.merchant_id == merchant_id, Group.group_buy_id == group_buy_id)
    return stmt if status is None else stmt.where(Group.status == status)


def groups_of_member(merchant_id: str, member_id: str, status: str | None) -> Select[Group]:
    """The groups the member is in (waiting to pay, or paid for a seat, refunded since or
    not); not those where their order lapsed unpaid."""
    stmt = (
        select(Group)
        .join(GroupMember, GroupMember.group_id == Group.id)
        .where(
            GroupMember.merchant_id == merchant_id,
            GroupMember.member_id == member_id,
            GroupMember.status.in_(("pending", "paid", "refunded")),
            Group.merchant_id == merchant_id,
        )
    )
    return stmt if status is None else stmt.where(Group.status == status)


async def places_of(
    session: AsyncSession, member_id: str, group_ids: list[str]
) -> dict[str, GroupMember]:
    """The member's place in each of these groups, by group."""
    stmt = select(GroupMember).where(
        GroupMember.group_id.in_(group_ids), GroupMember.member_id == member_id
    )
    return {place.group_id: place for place in (await session.scalars(stmt))}


async def forming_groups(
    session: AsyncSession, group_buy_id: str, now: datetime, *, limit: int, offset_id: str | None
) -> list[Group]:
    """The 拼团广场: forming groups with a paid member and a free seat, soonest to close first."""
    stmt = select(Group).where(
        Group.group_buy_id == group_buy_id,
        Group.status == "forming",
        Group.expires_at > now,
        Group.paid_count >= 1,
        Group.paid_count < Group.size,
    )
    if offset_id is not None:
        stmt = stmt.where(Group.id > offset_id)
    return list((await session.execute(stmt.order_by(Group.id).limit(limit + 1))).scalars())


def _holds_seat() -> ColumnElement[bool]:
    """Paid for a seat and did not give it back: counted in the group's `paid_count`."""
    return and_(
        GroupMember.status.in_(("paid", "refunded")),
        GroupMember.paid_at.is_not(None),
        GroupMember.left_at.is_(None),
    )


async def members_of(session: AsyncSession, group_ids: list[str]) -> dict[str, list[GroupMember]]:
    """Each group's seats, paid or refunded since, in the order they were taken."""
    stmt = (
        select(GroupMember)
        .where(GroupMember.group_id.in_(group_ids), _holds_seat())
        .order_by(GroupMember.paid_at, GroupMember.id)
    )
    out: dict[str, list[GroupMember]] = {gid: [] for gid in group_ids}
    for m in (await session.execute(stmt)).scalars():
        out[m.group_id].append(m)
    return out


async def member_in_group(
    session: AsyncSession, group_id: str, member_id: str
) -> GroupMember | None:
    stmt = select(GroupMember).where(
        GroupMember.group_id == group_id, GroupMember.member_id == member_id
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def member_of_order(session: AsyncSession, order_id: str) -> GroupMember | None:
    stmt = select(GroupMember).where(GroupMember.order_id == order_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def open_seat_groups(
    session: AsyncSession, group_buy_id: str, member_id: str, now: datetime, limit: int = 5
) -> list[str]:
    """Forming groups of the campaign with a free seat that `member_id` is not in."""
    mine = select(GroupMember.group_id).where(GroupMember.member_id == member_id)
    stmt = (
        select(Group.id)
        .where(
            Group.group_buy_id == group_buy_id,
            Group.status == "forming",
            Group.expires_at > now,
            Group.paid_count < Group.size,
            Group.id.not_in(mine),
        )
        .order_by(Group.paid_count.desc(), Group.expires_at)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def take_seat(session: AsyncSession, group_id: str, now: datetime) -> int | None:
    """One more paid member, if the group is forming, not expired and has a seat: the new
    count, or None (nothing changed)."""
    found = (
        await session.execute(
            update(Group)
            .where(
                Group.id == group_id,
                Group.status == "forming",
                Group.expires_at > now,
                Group.paid_count < Group.size,
            )
            .values(paid_count=Group.paid_count + 1)
            .returning(Group.paid_count)
        )
    ).scalar_one_or_none()
    return None if found is None else int(found)


async def free_seat(session: AsyncSession, group_id: str) -> bool:
    """One seat fewer, while the group forms: True if this call gave it back."""
    result = await session.execute(
        update(Group)
        .where(Group.id == group_id, Group.status == "forming", Group.paid_count > 0)
        .values(paid_count=Group.paid_count - 1)
        .returning(Group.id)
    )
    return result.first() is not None


async def move_group(
    session: AsyncSession, group: Group, before: str, after: str, **values: object
) -> bool:
    return await move_status(session, group, before, after, **values)


async def move_member(
    session: AsyncSession, member: GroupMember, before: str, after: str, **values: object
) -> bool:
    return await move_status(session, member, before, after, **values)


async def due_groups(session: AsyncSession, now: datetime, limit: int) -> list[str]:
    stmt = select(Group.id).where(Group.status == "forming", Group.expires_at <= now)
    return list((await session.execute(sweep_batch(stmt, Group.expires_at, limit))).scalars())


async def members_with_status(
    session: AsyncSession, group_id: str, statuses: tuple[str, ...]
) -> list[GroupMember]:
    stmt = select(GroupMember).where(
        GroupMember.group_id == group_id, GroupMember.status.in_(statuses)
    )
    return list((await session.execute(stmt.order_by(GroupMember.id))).scalars())
