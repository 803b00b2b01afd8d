from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.sql import insert_unless_exists
from growthloop.loyalty.models import LedgerEntry, MemberLoyalty, PointsBatch, Program


async def get_program(session: AsyncSession, merchant_id: str) -> Program | None:
    return await session.get(Program, merchant_id)


async def get_account(
    session: AsyncSession, merchant_id: str, member_id: str
) -> MemberLoyalty | None:
    return await session.get(MemberLoyalty, (merchant_id, member_id))


async def lock_account(session: AsyncSession, merchant_id: str, member_id: str) -> MemberLoyalty:
    """The member's row, created if missing and locked: one writer per member at a time."""
    await insert_unless_exists(
        session,
        MemberLoyalty,
        {"merchant_id": merchant_id, "member_id": member_id},
        ("merchant_id", "member_id"),
    )
    stmt = (
        select(MemberLoyalty)
        .where(MemberLoyalty.merchant_id == merchant_id, MemberLoyalty.member_id == member_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one()


async def entry_by_key(session: AsyncSession, merchant_id: str, key: str) -> LedgerEntry | None:
    stmt = select(LedgerEntry).where(
        LedgerEntry.merchant_id == merchant_id, LedgerEntry.idempotency_key == key
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def spendable_batches(
    session: AsyncSession, merchant_id: str, member_id: str, now: datetime
) -> list[PointsBatch]:
    """Batches with points left, those expiring first first (never-expiring ones last)."""
    stmt = (
        select(PointsBatch)
        .where(
            PointsBatch.merchant_id == merchant_id,
            PointsBatch.member_id == member_id,
            PointsBatch.remaining > 0,
            (PointsBatch.expires_at.is_(None)) | (PointsBatch.expires_at > now),
        )
        .order_by(PointsBatch.expires_at.is_(None), PointsBatch.expires_at, PointsBatch.id)
        .with_for_update()
    )
    return list((await session.execute(stmt)).scalars())


async def due_batches_of(
    session: AsyncSession, merchant_id: str, member_id: str, now: datetime
) -> list[PointsBatch]:
    stmt = select(PointsBatch).where(
        PointsBatch.merchant_id == merchant_id,
        PointsBatch.member_id == member_id,
        PointsBatch.remaining > 0,
        PointsBatch.expires_at <= now,
    )
    return list((await session.execute(stmt)).scalars())


async def members_with_due_batches(
    session: AsyncSession, now: datetime, limit: int
) -> list[tuple[str, str]]:
    stmt = (
        select(PointsBatch.merchant_id, PointsBatch.member_id)
        .where(PointsBatch.remaining > 0, PointsBatch.expires_at <= now)
        .group_by(PointsBatch.merchant_id, PointsBatch.member_id)
        .limit(limit)
    )
    return [(r.merchant_id, r.member_id) for r in await session.execute(stmt)]


async def lock_existing_accounts(
    session: AsyncSession, pairs: Sequence[tuple[str, str]]
) -> list[MemberLoyalty]:
    """Lock these accounts, skipping any a request holds right now (swept next round)."""
    if not pairs:
        return []
    stmt = (
        select(MemberLoyalty)
        .where(tuple_(MemberLoyalty.merchant_id, MemberLoyalty.member_id).in_(list(pairs)))
        .order_by(MemberLoyalty.merchant_id, MemberLoyalty.member_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return list((await session.execute(stmt)).scalars())


async def due_batches_for(
    session: AsyncSession, pairs: Sequence[tuple[str, str]], now: datetime
) -> list[PointsBatch]:
    stmt = (
        select(PointsBatch)
        .where(
            tuple_(PointsBatch.merchant_id, PointsBatch.member_id).in_(list(pairs)),
            PointsBatch.remaining > 0,
            PointsBatch.expires_at <= now,
        )
        .order_by(PointsBatch.expires_at, PointsBatch.id)
        .with_for_update()
    )
    return list((await session.execute(stmt)).scalars())


async def batches_by_id(session: AsyncSession, ids: Sequence[str]) -> dict[str, PointsBatch]:
    if not ids:
        return {}
    stmt = select(PointsBatch).where(PointsBatch.id.in_(list(ids))).with_for_update()
    return {b.id: b for b in (await session.execute(stmt)).scalars()}


async def lock_accounts(
    session: AsyncSession, merchant_member: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], MemberLoyalty]:
    out: dict[tuple[str, str], MemberLoyalty] = {}
    for merchant_id, member_id in sorted(set(merchant_member)):
        out[(merchant_id, member_id)] = await lock_account(session, merchant_id, member_id)
    return out


async def ledger_page(
    session: AsyncSession, merchant_id: str, member_id: str, limit: int, before_id: str | None
) -> list[LedgerEntry]:
    stmt = select(LedgerEntry).where(
        LedgerEntry.merchant_id == merchant_id, LedgerEntry.member_id == member_id
    )
    if before_id:
        stmt = stmt.where(LedgerEntry.id < before_id)
    stmt = stmt.order_by(LedgerEntry.id.desc()).limit(limit + 1)
    return list((await session.execute(stmt)).scalars())


async def checkin(session: AsyncSession, account: MemberLoyalty, day: object, streak: int) -> bool:
    """Guarded: at most one check-in per member per day, even with concurrent requests."""
    result = await session.execute(
        update(MemberLoyalty)
        .where(
            MemberLoyalty.merchant_id == account.merchant_id,
            MemberLoyalty.member_id == account.member_id,
            (MemberLoyalty.last_checkin_day.is_(None)) | (MemberLoyalty.last_checkin_day < day),
        )
        .values(last_checkin_day=day, checkin_streak=streak)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1
