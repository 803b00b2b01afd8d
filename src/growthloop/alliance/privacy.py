"""The alliance's part of the data export and of account deletion (注销).

Kept: the member's exchanges, both those that left this merchant (`member_id`) and those
that arrived at it (`target_member_id`). An exchange is the basis of a settlement between
two merchants (`alliance_settlements` copies its amounts), so its points, day and parties
stay for accounting. It holds no personal column: the person is referred to only by
member ids. On this merchant's side that id is now the member row the identity handler
emptied (no unionid, no phone hash); the other side's id is the partner's record of its
own member, who asked the partner for nothing: erasing them is the partner's request.

Erased: the member's per-day usage counters (`alliance_member_daily_usage`), which only
cap that member's exchanges.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.alliance.models import Exchange, MemberDailyUsage
from growthloop.alliance.repository import exchanges_of
from growthloop.core.privacy import (
    Erasure,
    PrivacyHandler,
    count_rows,
    delete_by_member,
    iso,
    member_rows,
)


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> dict[str, Any]:
    rows = await session.scalars(
        select(Exchange)
        .where(exchanges_of(merchant_id, member_id))
        .order_by(Exchange.created_at, Exchange.id)
    )
    usage = await member_rows(
        session,
        MemberDailyUsage,
        merchant_id,
        member_id,
        "partnership_id",
        "day",
        "points",
        order_by=MemberDailyUsage.day,
    )
    return {
        "exchanges": [
            {
                "id": e.id,
                "direction": "out" if e.merchant_id == merchant_id else "in",
                "partner_merchant_id": (
                    e.target_merchant_id if e.merchant_id == merchant_id else e.merchant_id
                ),
                "partnership_id": e.partnership_id,
                "points_out": e.points_out,
                "points_in": e.points_in,
                "day": e.day.isoformat(),
                "created_at": iso(e.created_at),
            }
            for e in rows
        ],
        "daily_usage": usage,
    }


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    m, who = erasure.merchant_id, erasure.member_id
    kept = await count_rows(session, Exchange, exchanges_of(m, who))
    return {
        "exchanges_kept": kept,
        **await delete_by_member(session, m, who, MemberDailyUsage),
    }


HANDLER = PrivacyHandler(
    section="alliance",
    tables=("alliance_exchanges", "alliance_member_daily_usage"),
    export=export,
    erase=erase,
    keeps=(
        "exchanges (points, day, partnership) that settlements between the merchants are "
        "based on; they refer to the person only by the anonymous member row's id"
    ),
)
