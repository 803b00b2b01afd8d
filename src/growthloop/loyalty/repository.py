from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import Row, Select, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.sql import guarded, insert_unless_exists, sweep_batch
from growthloop.loyalty.models import (
    GrowthEntry,
    LedgerEntry,
    LoginDay,
    MemberLoyalty,
    PointsBatch,
    Program,
)


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
) -> list[Row[tuple[str, str, str, int]]]:
    """Due batches of these members as plain rows (the sweep writes in bulk), locked."""
    stmt = (
        select(
            PointsBatch.id, PointsBatch.merchant_id, PointsBatch.member_id, PointsBatch.remaining
        )
        .where(
            tuple_(PointsBatch.merchant_id, PointsBatch.member_id).in_(list(pairs)),
            PointsBatch.remaining > 0,
            PointsBatch.expires_at <= now,
        )
        .order_by(PointsBatch.expires_at, PointsBatch.id)
        .with_for_update()
    )
    return list(await session.execute(stmt))


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


def ledger_of(merchant_id: str, member_id: str) -> Select[LedgerEntry]:
    """The member's ledger entries (paged by the caller, newest first)."""
    return select(LedgerEntry).where(
        LedgerEntry.merchant_id == merchant_id, LedgerEntry.member_id == member_id
    )


async def checkin(session: AsyncSession, account: MemberLoyalty, day: object, streak: int) -> bool:
    """Guarded: at most one check-in per member per day, even with concurrent requests."""
    stmt = (
        update(MemberLoyalty)
        .where(
            MemberLoyalty.merchant_id == account.merchant_id,
            MemberLoyalty.member_id == account.member_id,
            (MemberLoyalty.last_checkin_day.is_(None)) | (MemberLoyalty.last_checkin_day < day),
        )
        .values(last_checkin_day=day, checkin_streak=streak)
    )
    return await guarded(session, stmt)


# ---- periodic tier reviews ----------------------------------------------------------------


async def window_metrics(
    session: AsyncSession, merchant_id: str, member_id: str, *, since: datetime, since_day: date
) -> dict[str, int]:
    """Spend and invites after `since`, login days from `since_day` on."""
    sums = await session.execute(
        select(GrowthEntry.metric, func.coalesce(func.sum(GrowthEntry.amount), 0))
        .where(
            GrowthEntry.merchant_id == merchant_id,
            GrowthEntry.member_id == member_id,
            GrowthEntry.at > since,
        )
        .group_by(GrowthEntry.metric)
    )
    by_metric = {metric: int(total) for metric, total in sums}
    days = await session.scalar(
        select(func.count()).where(
            LoginDay.merchant_id == merchant_id,
            LoginDay.member_id == member_id,
            LoginDay.day >= since_day,
        )
    )
    return {
        "spend": max(0, by_metric.get("spend", 0)),
        "login_days": int(days or 0),
        "invites": by_metric.get("invites", 0),
    }


async def start_review_periods(session: AsyncSession, merchant_id: str, now: datetime) -> None:
    await session.execute(
        update(MemberLoyalty)
        .where(
            MemberLoyalty.merchant_id == merchant_id,
            MemberLoyalty.tier.is_not(None),
        )
        .values(tier_reviewed_at=now)
        .execution_options(synchronize_session=False)
    )


async def periodic_programs(session: AsyncSession) -> list[tuple[str, int]]:
    rows = await session.execute(
        select(Program.merchant_id, Program.review_days).where(
            Program.downgrade_policy == "periodic", Program.review_days.is_not(None)
        )
    )
    return [(merchant_id, days) for merchant_id, days in rows if days is not None]


async def lock_accounts_due_for_review(
    session: AsyncSession, merchant_id: str, reviewed_before: datetime, limit: int
) -> list[MemberLoyalty]:
    due = select(MemberLoyalty).where(
        MemberLoyalty.merchant_id == merchant_id,
        MemberLoyalty.tier_reviewed_at <= reviewed_before,
    )
    stmt = sweep_batch(due, MemberLoyalty.tier_reviewed_at, limit, MemberLoyalty.member_id)
    return list((await session.execute(stmt.execution_options(populate_existing=True))).scalars())


async def accounts_of(
    session: AsyncSession, merchant_id: str, member_ids: Sequence[str]
) -> dict[str, MemberLoyalty]:
    if not member_ids:
        return {}
    stmt = select(MemberLoyalty).where(
        MemberLoyalty.merchant_id == merchant_id, MemberLoyalty.member_id.in_(list(member_ids))
    )
    return {a.member_id: a for a in (await session.execute(stmt)).scalars()}


def member_ids_holding(merchant_id: str, tiers: Sequence[str]) -> Select[str]:
    """A subquery: the ids of the merchant's members whose held tier is one of `tiers`."""
    return select(MemberLoyalty.member_id).where(
        MemberLoyalty.merchant_id == merchant_id, MemberLoyalty.tier.in_(list(tiers))
    )
