"""Bargains' part of the data export and of account deletion (注销).

Erased: the member's bargains still open (`active`, or `floor_reached` and not bought)
expire at the erasure: nobody can buy them any more (the member's tokens are dead), so
friends are no longer asked to help a bargain no one can use.

Kept, unchanged: the member's instances (their prices, helps and order: a bought one is
part of an order kept for accounting), the helps the member gave (each one cut another
member's price, and their sequence and prices must stay whole), and the per-day help
counters (they count those helps). The member id in them stays as the id of the member
row the identity handler empties of the person (orders keep it the same way): it
identifies nobody. No column holds anything else about the person.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.bargains.models import (
    Bargain,
    BargainHelp,
    BargainHelpDay,
    BargainInstance,
)
from growthloop.core.privacy import (
    Erasure,
    PrivacyHandler,
    count_member_rows,
    count_rows,
    execute_bulk,
    member_rows,
    of_member,
)

OPEN = ("active", "floor_reached")


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> dict[str, Any]:
    i, h, d = BargainInstance, BargainHelp, BargainHelpDay
    bargains = await member_rows(
        session,
        i,
        merchant_id,
        member_id,
        "bargain_id",
        Bargain.name.label("bargain"),
        i.id.label("instance_id"),
        "original_price",
        "floor_price",
        "current_price",
        "helps",
        "helpers_needed",
        "status",
        "order_id",
        "expires_at",
        "created_at",
        "purchased_at",
        member="owner_member_id",
        outerjoin=(Bargain, Bargain.id == i.bargain_id),
        order_by=(i.created_at, i.id),
    )
    # The helps the member gave (whose bargain it was is the other member's).
    helps = await member_rows(
        session,
        h,
        merchant_id,
        member_id,
        "instance_id",
        "cut",
        "price_after",
        "created_at",
        member="helper_member_id",
        order_by=(h.created_at, h.id),
    )
    days = await member_rows(session, d, merchant_id, member_id, "day", "helps", order_by=d.day)
    return {"bargains": bargains, "helps_given": helps, "help_days": days}


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    m, who, now = erasure.merchant_id, erasure.member_id, erasure.now
    i, h, d = BargainInstance, BargainHelp, BargainHelpDay
    mine = of_member(i, m, who, "owner_member_id")
    expired = await execute_bulk(
        session,
        update(i).where(mine, i.status.in_(OPEN), i.expires_at > now).values(expires_at=now),
    )
    return {
        "bargain_instances_expired": expired,
        "bargain_instances_kept": await count_rows(session, i, mine),
        "bargain_helps_kept": await count_member_rows(session, h, m, who, "helper_member_id"),
        "bargain_help_days_kept": await count_member_rows(session, d, m, who),
    }


HANDLER = PrivacyHandler(
    section="bargains",
    tables=(
        BargainInstance.__tablename__,
        BargainHelp.__tablename__,
        BargainHelpDay.__tablename__,
    ),
    export=export,
    erase=erase,
    keeps=(
        "the member's bargains (open ones expired), the helps they gave (other members' "
        "prices depend on them) and their per-day help counts; they refer only to the "
        "anonymous member row"
    ),
)
