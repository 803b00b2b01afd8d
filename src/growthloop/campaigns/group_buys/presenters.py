"""Group buys and groups as the API shows them. A group's seats are shown as roles and
payment times, never as who holds them (except `is_me` to the viewer)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.group_buys import repository as repo
from growthloop.campaigns.group_buys.models import Group, GroupBuy, GroupMember
from growthloop.campaigns.group_buys.schemas import (
    AdminGroupBuyOut,
    GroupBuyOut,
    GroupMemberOut,
    GroupOut,
    MyGroupOut,
    MyPlaceOut,
)
from growthloop.campaigns.kinds import shown
from growthloop.catalog import service as catalog
from growthloop.core.context import now
from growthloop.core.presenting import from_row


async def group_buys_out(session: AsyncSession, rows: list[GroupBuy]) -> list[GroupBuyOut]:
    at = now(session)
    prices = await catalog.prices_of(session, [g.product_id for g in rows])
    return [
        shown(GroupBuyOut, gb, at, regular_price=prices.get(gb.product_id, gb.group_price))
        for gb in rows
    ]


async def admin_group_buys_out(
    session: AsyncSession, rows: list[GroupBuy]
) -> list[AdminGroupBuyOut]:
    counts = await repo.group_counts(session, [g.id for g in rows]) if rows else {}
    return [
        AdminGroupBuyOut(
            **public.model_dump(),
            groups_forming=counts[gb.id].get("forming", 0),
            groups_succeeded=counts[gb.id].get("succeeded", 0),
            groups_failed=counts[gb.id].get("failed", 0),
            ended_early_at=gb.ended_early_at,
            created_at=gb.created_at,
        )
        for gb, public in zip(rows, await group_buys_out(session, rows), strict=True)
    ]


async def groups_out(
    session: AsyncSession, groups: list[Group], viewer: str | None = None
) -> list[GroupOut]:
    members = await repo.members_of(session, [g.id for g in groups]) if groups else {}
    return [
        from_row(
            GroupOut,
            g,
            members=g.paid_count,
            needed=0 if g.status == "succeeded" else g.size - g.paid_count,
            member_list=[
                from_row(GroupMemberOut, m, is_me=m.member_id == viewer) for m in members[g.id]
            ],
        )
        for g in groups
    ]


async def group_out(session: AsyncSession, group: Group, viewer: str | None = None) -> GroupOut:
    return (await groups_out(session, [group], viewer))[0]


async def my_groups_out(
    session: AsyncSession, rows: list[tuple[Group, GroupMember]], member_id: str
) -> list[MyGroupOut]:
    """The member's groups, each with their own place in it (`me`)."""
    out = await groups_out(session, [group for group, _ in rows], member_id)
    return [
        MyGroupOut(**g.model_dump(), me=MyPlaceOut.model_validate(place, from_attributes=True))
        for g, (_, place) in zip(out, rows, strict=True)
    ]
