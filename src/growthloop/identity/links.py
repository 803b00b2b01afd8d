"""The same person at another merchant: the basis of cross-merchant (alliance) features.

A member is linked to an active member of another merchant when both carry the same
platform unionid (on any of their platform accounts) or the same verified-phone hash. A
unionid match wins over a phone match (the platform vouches for it on every login); among
several members of one kind, the earliest registered (smallest id) is chosen, so the answer
never depends on query plans.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.identity import repository as repo
from growthloop.identity.models import Member, PlatformAccount


async def linked_members(
    session: AsyncSession, member_id: str, at_merchant_ids: Collection[str]
) -> dict[str, str]:
    """For each merchant in `at_merchant_ids`: the member there who is this member's person."""
    member = await repo.get_member(session, member_id)
    merchants = set(at_merchant_ids) - {member.merchant_id} if member else set()
    if member is None or member.status != "active" or not merchants:
        return {}
    found: dict[str, str] = {}
    unionids = select(PlatformAccount.unionid).where(
        PlatformAccount.member_id == member_id, PlatformAccount.unionid.is_not(None)
    )
    by_unionid = (
        select(Member.merchant_id, Member.id)
        .join(PlatformAccount, PlatformAccount.member_id == Member.id)
        .where(
            PlatformAccount.merchant_id.in_(merchants),
            PlatformAccount.unionid.in_(unionids),
            Member.status == "active",
        )
        .order_by(Member.id)
    )
    for merchant_id, other_id in (await session.execute(by_unionid)).all():
        found.setdefault(merchant_id, other_id)
    rest = merchants - found.keys()
    if member.phone_hash and rest:
        by_phone = (
            select(Member.merchant_id, Member.id)
            .where(
                Member.merchant_id.in_(rest),
                Member.phone_hash == member.phone_hash,
                Member.status == "active",
            )
            .order_by(Member.id)
        )
        for merchant_id, other_id in (await session.execute(by_phone)).all():
            found.setdefault(merchant_id, other_id)
    return found


async def linked_member(session: AsyncSession, member_id: str, at_merchant_id: str) -> str | None:
    """The active member at `at_merchant_id` with the same unionid or verified phone."""
    return (await linked_members(session, member_id, [at_merchant_id])).get(at_merchant_id)
