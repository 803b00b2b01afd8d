"""The merchant's loyalty programme: its settings, who is in it, and when the points it
gives expire."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import partial
from typing import Unpack
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.compliance import service as consent
from growthloop.core.context import merchant_timezone, now
from growthloop.core.settings_cache import cached_setting
from growthloop.loyalty import ledger
from growthloop.loyalty import repository as repo
from growthloop.loyalty.models import LedgerEntry, Program
from growthloop.loyalty.schemas import ProgramIn, TierIn

DEFAULT_PROGRAM = ProgramIn(points_per_yuan=1, tiers=[TierIn(name="普通会员")])


async def program_of(session: AsyncSession, merchant_id: str) -> ProgramIn:
    """The merchant's programme (every order reads it: kept until it changes). Shared by
    its readers: never modified."""
    return await cached_setting(
        session, merchant_id, "loyalty.program", partial(_load_program, session, merchant_id)
    )


async def _load_program(session: AsyncSession, merchant_id: str) -> ProgramIn:
    row = await repo.get_program(session, merchant_id)
    if row is None:
        return DEFAULT_PROGRAM
    return ProgramIn.model_validate(row, from_attributes=True)


async def set_program(session: AsyncSession, merchant_id: str, data: ProgramIn) -> ProgramIn:
    at = now(session)
    row = await repo.get_program(session, merchant_id)
    if row is None:
        row = Program(merchant_id=merchant_id)
        session.add(row)
    was_periodic = row.downgrade_policy == "periodic"
    # The row has a column for each of ProgramIn's fields (the tiers as plain dicts).
    for name, value in data.model_dump().items():
        setattr(row, name, value)
    row.updated_at = at
    await session.flush()
    if data.downgrade_policy == "periodic" and not was_periodic:
        # Members already in a tier start their first review period now.
        await repo.start_review_periods(session, merchant_id, at)
    return data


async def in_programme(session: AsyncSession, merchant_id: str, member_id: str) -> bool:
    """Being in the programme (points, tiers, gifts) needs the member's consent on record
    (purpose "membership"); ordering and paying never do."""
    return await consent.has_consent(session, merchant_id, member_id, "membership")


async def points_expiry(
    session: AsyncSession, program: ProgramIn, merchant_id: str, now: datetime
) -> datetime | None:
    """When points earned at `now` expire: N days later, or at the end of the programme's
    yearly date (merchant timezone) in the year after this one."""
    if program.points_expire_days:
        return now + timedelta(days=program.points_expire_days)
    if program.points_expire_on is None:
        return None
    tz = ZoneInfo(await merchant_timezone(session, merchant_id))
    month, day = (int(x) for x in program.points_expire_on.split("-"))
    last_day = date(now.astimezone(tz).year + 1, month, day)
    end = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return end.astimezone(now.tzinfo)


async def award_points(
    session: AsyncSession,
    program: ProgramIn,
    merchant_id: str,
    member_id: str,
    points: int,
    *,
    now: datetime,
    **posting: Unpack[ledger.Posting],
) -> LedgerEntry | None:
    """Credit `points` earned at `now` as a new batch with the programme's expiry.
    Idempotent by `key`: None when already credited."""
    expires_at = await points_expiry(session, program, merchant_id, now)
    return await ledger.earn(
        session, merchant_id, member_id, points, now=now, expires_at=expires_at, **posting
    )
