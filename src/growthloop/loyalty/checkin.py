"""Daily check-in (签到) and login days: points for a streak, days towards tiers."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.context import merchant_today, now
from growthloop.core.sql import insert_unless_exists
from growthloop.loyalty import repository as repo
from growthloop.loyalty.errors import AlreadyCheckedIn, MembershipConsentRequired
from growthloop.loyalty.models import LoginDay, MemberLoyalty
from growthloop.loyalty.program import award_points, in_programme, program_of
from growthloop.loyalty.schemas import CheckinOut
from growthloop.loyalty.tiers import evaluate_tier


async def check_in(session: AsyncSession, merchant_id: str, member_id: str) -> CheckinOut:
    at = now(session)
    if not await in_programme(session, merchant_id, member_id):
        raise MembershipConsentRequired()
    today = await merchant_today(session, merchant_id)
    program = await program_of(session, merchant_id)
    account = await repo.lock_account(session, merchant_id, member_id)
    if account.last_checkin_day == today:
        raise AlreadyCheckedIn(day=today.isoformat())
    streak = account.checkin_streak + 1 if account.last_checkin_day == today - timedelta(1) else 1
    if not await repo.checkin(session, account, today, streak):
        raise AlreadyCheckedIn(day=today.isoformat())
    account.last_checkin_day, account.checkin_streak = today, streak
    rewards = program.checkin_points or [0]
    points = rewards[(streak - 1) % len(rewards)]
    await award_points(
        session,
        program,
        merchant_id,
        member_id,
        points,
        reason="checkin",
        key=f"checkin:{member_id}:{today.isoformat()}",
        ref=today.isoformat(),
        now=at,
    )
    await count_login_day(session, account, today, at)
    return CheckinOut(streak=streak, points_awarded=points, day=today)


async def count_login_day(
    session: AsyncSession, account: MemberLoyalty, day: date, now: datetime
) -> None:
    """Login days count towards tiers; check-in and login count the same day once."""
    if await insert_unless_exists(
        session,
        LoginDay,
        {"merchant_id": account.merchant_id, "member_id": account.member_id, "day": day},
        ("merchant_id", "member_id", "day"),
    ):
        account.login_days += 1
        await evaluate_tier(session, account, now)
