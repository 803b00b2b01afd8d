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

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.bargains.models import (
    Bargain,
    BargainHelp,
    BargainHelpDay,
    BargainInstance,
)
from growthloop.core.privacy import Erasure, PrivacyHandler, count_rows, execute_bulk, iso

OPEN = ("active", "floor_reached")


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> dict[str, Any]:
    i = BargainInstance
    instances = await session.execute(
        select(i, Bargain.name)
        .outerjoin(Bargain, Bargain.id == i.bargain_id)
        .where(i.merchant_id == merchant_id, i.owner_member_id == member_id)
        .order_by(i.created_at, i.id)
    )
    h = BargainHelp
    helps = await session.scalars(
        select(h)
        .where(h.merchant_id == merchant_id, h.helper_member_id == member_id)
        .order_by(h.created_at, h.id)
    )
    d = BargainHelpDay
    days = await session.scalars(
        select(d).where(d.merchant_id == merchant_id, d.member_id == member_id).order_by(d.day)
    )
    return {
        "bargains": [
            {
                "bargain_id": inst.bargain_id,
                "bargain": name,
                "instance_id": inst.id,
                "original_price": inst.original_price,
                "floor_price": inst.floor_price,
                "current_price": inst.current_price,
                "helps": inst.helps,
                "helpers_needed": inst.helpers_needed,
                "status": inst.status,
                "order_id": inst.order_id,
                "expires_at": iso(inst.expires_at),
                "created_at": iso(inst.created_at),
                "purchased_at": iso(inst.purchased_at),
            }
            for inst, name in instances
        ],
        # The helps the member gave (whose bargain it was is the other member's).
        "helps_given": [
            {
                "instance_id": x.instance_id,
                "cut": x.cut,
                "price_after": x.price_after,
                "created_at": iso(x.created_at),
            }
            for x in helps
        ],
        "help_days": [{"day": iso(x.day), "helps": x.helps} for x in days],
    }


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    m, who, now = erasure.merchant_id, erasure.member_id, erasure.now
    i = BargainInstance
    expired = await execute_bulk(
        session,
        update(i)
        .where(
            i.merchant_id == m,
            i.owner_member_id == who,
            i.status.in_(OPEN),
            i.expires_at > now,
        )
        .values(expires_at=now),
    )
    return {
        "bargain_instances_expired": expired,
        "bargain_instances_kept": await count_rows(
            session, i, i.merchant_id == m, i.owner_member_id == who
        ),
        "bargain_helps_kept": await count_rows(
            session, BargainHelp, BargainHelp.merchant_id == m, BargainHelp.helper_member_id == who
        ),
        "bargain_help_days_kept": await count_rows(
            session,
            BargainHelpDay,
            BargainHelpDay.merchant_id == m,
            BargainHelpDay.member_id == who,
        ),
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
