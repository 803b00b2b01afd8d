"""Group buys' part of the data export and of account deletion (注销).

Kept: the member's places in groups (`group_members`) and the groups they lead
(`buy_groups.leader_member_id`), unchanged. A group is the other members' history too:
its seats (`paid_count`, moved only by guarded updates), its status and its member list
(shown as roles and payment times, never names) must stay whole, and a seat's order is
still followed by its order id (a refund gives the seat back, a failed group refunds every
paid order). The member id stays as the id of the member row the identity handler empties
of the person (orders keep it the same way): it identifies nobody. No column holds
anything else about the person (no nickname or avatar is stored here).

Erased: nothing. A place whose order is still unpaid moves with its order as for anyone:
the order's cancellation or expiry cancels it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.group_buys.models import Group, GroupBuy, GroupMember
from growthloop.core.privacy import Erasure, PrivacyHandler, count_member_rows, iso, of_member


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> list[dict[str, Any]]:
    gm = GroupMember
    stmt = (
        select(gm, Group, GroupBuy.name)
        .join(Group, Group.id == gm.group_id)
        .outerjoin(GroupBuy, GroupBuy.id == gm.group_buy_id)
        .where(of_member(gm, merchant_id, member_id))
        .order_by(gm.joined_at, gm.id)
    )
    return [
        {
            "group_buy_id": place.group_buy_id,
            "group_buy": name,
            "group_id": place.group_id,
            "role": place.role,
            "status": place.status,
            "order_id": place.order_id,
            "joined_at": iso(place.joined_at),
            "paid_at": iso(place.paid_at),
            "left_at": iso(place.left_at),
            "group": {
                "status": group.status,
                "size": group.size,
                "paid": group.paid_count,
                "led_by_me": group.leader_member_id == member_id,
                "expires_at": iso(group.expires_at),
                "succeeded_at": iso(group.succeeded_at),
                "failed_at": iso(group.failed_at),
            },
        }
        for place, group, name in await session.execute(stmt)
    ]


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    m, who = erasure.merchant_id, erasure.member_id
    return {
        "group_members_kept": await count_member_rows(session, GroupMember, m, who),
        "groups_led_kept": await count_member_rows(session, Group, m, who, "leader_member_id"),
    }


HANDLER = PrivacyHandler(
    section="group_buys",
    tables=(Group.__tablename__, GroupMember.__tablename__),
    export=export,
    erase=erase,
    keeps=(
        "the member's places in groups and the groups they lead: the other members' group "
        "history and its seat counts; they refer only to the anonymous member row"
    ),
)
