"""Bargains and their instances as the API shows them. A cut is shown without who made
it, except `is_me` to the helper themself."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.bargains import repository as repo
from growthloop.campaigns.bargains.models import Bargain, BargainInstance
from growthloop.campaigns.bargains.schemas import (
    AdminBargainOut,
    BargainOut,
    HelpOut,
    InstanceOut,
)
from growthloop.campaigns.bargains.service import instance_status
from growthloop.campaigns.kinds import shown
from growthloop.core.context import now
from growthloop.core.presenting import from_row


async def bargains_out(session: AsyncSession, rows: list[Bargain]) -> list[BargainOut]:
    at = now(session)
    return [shown(BargainOut, b, at) for b in rows]


async def admin_bargains_out(session: AsyncSession, rows: list[Bargain]) -> list[AdminBargainOut]:
    counts = await repo.instance_counts(session, [b.id for b in rows]) if rows else {}
    at = now(session)
    return [
        shown(AdminBargainOut, b, at, instances=counts[b.id][0], purchased=counts[b.id][1])
        for b in rows
    ]


async def instance_out(
    session: AsyncSession, instance: BargainInstance, viewer: str | None
) -> InstanceOut:
    helps = await repo.helps_of(session, instance.id)
    return from_row(
        InstanceOut,
        instance,
        helpers_left=instance.helpers_needed - instance.helps,
        status=instance_status(instance, now(session)),
        is_mine=viewer == instance.owner_member_id,
        cuts=[from_row(HelpOut, h, is_me=h.helper_member_id == viewer) for h in helps],
    )
