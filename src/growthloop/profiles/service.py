"""The operator's members list: identity's members with loyalty's tier and points and the
orders' count and spend, one query of each per page. Never commits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core import audit
from growthloop.core.audit import Action
from growthloop.core.pagination import PageParams, encode_cursor
from growthloop.core.presenting import from_row
from growthloop.identity import service as identity
from growthloop.loyalty import service as loyalty
from growthloop.orders import service as orders
from growthloop.profiles.errors import UnknownTier
from growthloop.profiles.schemas import MemberAccountOut, MemberDetailOut, MemberItemOut

EXPORT_BATCH = 500


@dataclass(frozen=True)
class MemberFilters:
    q: str | None = None
    external_id: str | None = None
    tier: str | None = None
    platform: str | None = None

    def used(self) -> list[str]:
        return [name for name in ("q", "external_id", "tier", "platform") if getattr(self, name)]


async def _search(
    session: AsyncSession, merchant_id: str, filters: MemberFilters
) -> identity.MemberSearch:
    search = identity.MemberSearch(
        q=filters.q, external_id=filters.external_id, platform=filters.platform
    )
    if filters.tier is None:
        return search
    names = await loyalty.tier_names(session, merchant_id)
    if filters.tier not in names:
        raise UnknownTier(tier=filters.tier, tiers=names)
    members = await loyalty.tier_members(session, merchant_id, filters.tier)
    return replace(search, within=members.ids, exclude=members.exclude)


async def _items(
    session: AsyncSession, merchant_id: str, members: Sequence[identity.MemberSummary]
) -> list[MemberItemOut]:
    ids = [m.id for m in members]
    standings = await loyalty.standings(session, merchant_id, ids)
    totals = await orders.order_totals(session, merchant_id, ids)
    return [
        from_row(
            MemberItemOut,
            m,
            tier=standings[m.id].tier,
            points=standings[m.id].points,
            orders=totals.get(m.id, (0, 0))[0],
            spend=totals.get(m.id, (0, 0))[1],
        )
        for m in members
    ]


async def list_members(
    session: AsyncSession,
    merchant_id: str,
    filters: MemberFilters,
    page: PageParams,
    *,
    secret: str,
) -> tuple[list[MemberItemOut], str | None]:
    search = await _search(session, merchant_id, filters)
    members, next_id = await identity.search_members(
        session, merchant_id, search, limit=page.limit, before_id=page.after_id, secret=secret
    )
    cursor = encode_cursor(next_id) if next_id else None
    return await _items(session, merchant_id, members), cursor


async def member_detail(session: AsyncSession, merchant_id: str, member_id: str) -> MemberDetailOut:
    detail = await identity.member_detail(session, merchant_id, member_id)
    (item,) = await _items(session, merchant_id, [detail.summary])
    return MemberDetailOut(
        **item.model_dump(),
        status=detail.summary.status,
        referral_code=detail.referral_code,
        referred_by=detail.referred_by,
        accounts=[
            MemberAccountOut(platform=a.platform, linked_at=a.linked_at) for a in detail.accounts
        ],
        active_days=detail.active_days,
    )


async def check_filters(session: AsyncSession, merchant_id: str, filters: MemberFilters) -> None:
    """Refuse bad filters (an unknown tier) before an export starts streaming."""
    await _search(session, merchant_id, filters)


async def record_export(
    session: AsyncSession, merchant_id: str, admin_id: str, filters: MemberFilters
) -> None:
    """An export is a bulk read of personal data: it is audit-logged before the first row
    leaves. The entry names the filters used and the tier and platform chosen; the search
    text and external id stay out (they may be a name or a phone number)."""
    await audit.by_admin(
        session,
        merchant_id,
        admin_id,
        Action.MEMBERS_EXPORT,
        subject_type="merchant",
        subject_id=merchant_id,
        format="csv",
        filters=filters.used(),
        tier=filters.tier,
        platform=filters.platform,
    )


async def export_batches(
    session: AsyncSession, merchant_id: str, filters: MemberFilters, *, secret: str
) -> AsyncIterator[list[MemberItemOut]]:
    """Every member the filters select, newest first, in batches of EXPORT_BATCH (the last
    may be short or empty), read through the caller's session."""
    search = await _search(session, merchant_id, filters)
    before_id: str | None = None
    while True:
        members, before_id = await identity.search_members(
            session,
            merchant_id,
            search,
            limit=EXPORT_BATCH,
            before_id=before_id,
            secret=secret,
            bounded=False,
        )
        yield await _items(session, merchant_id, members)
        if before_id is None:
            return
