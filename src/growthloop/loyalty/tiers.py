"""Tiers: which tier a member is in, and when it changes.

Downgrade policy "never": lifetime spend, login days and invites; a tier once reached is
kept. "periodic": only the last `review_days` count; upgrades happen at once and start a
new period; at the end of a period the tier is re-evaluated and may go down.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.context import merchant_today, now
from growthloop.core.events import emit
from growthloop.loyalty import repository as repo
from growthloop.loyalty.events import MemberTierChanged, TierDirection
from growthloop.loyalty.models import GrowthEntry, MemberLoyalty
from growthloop.loyalty.program import program_of
from growthloop.loyalty.schemas import ProgramIn, TierIn

ZERO = {"spend": 0, "login_days": 0, "invites": 0}


async def tier_metrics(
    session: AsyncSession, program: ProgramIn, account: MemberLoyalty | None, now: datetime
) -> dict[str, int]:
    """What counts towards tiers: for all time, or the review period's (periodic)."""
    if account is None:
        return dict(ZERO)
    if program.downgrade_policy == "never" or program.review_days is None:
        return {
            "spend": account.growth,
            "login_days": account.login_days,
            "invites": account.invites,
        }
    since = now - timedelta(days=program.review_days)
    today = await merchant_today(session, account.merchant_id)
    return await repo.window_metrics(
        session,
        account.merchant_id,
        account.member_id,
        since=since,
        since_day=today - timedelta(days=program.review_days - 1),
    )


def _qualifies(tier: TierIn, metrics: dict[str, int]) -> bool:
    return not tier.thresholds or any(metrics[k] >= v for k, v in tier.thresholds.items())


def qualified_index(program: ProgramIn, metrics: dict[str, int]) -> int | None:
    """The highest tier the metrics reach."""
    best = None
    for i, tier in enumerate(program.tiers):
        if _qualifies(tier, metrics):
            best = i
    return best


def _held_index(program: ProgramIn, account: MemberLoyalty | None) -> int | None:
    names = [t.name for t in program.tiers]
    stored = account.tier if account else None
    return names.index(stored) if stored in names else None


def tier_index(
    program: ProgramIn, account: MemberLoyalty | None, metrics: dict[str, int]
) -> int | None:
    """The tier the member is in: what the metrics reach, never below the tier held (under
    both policies a tier is only lost at a periodic review)."""
    best, held = qualified_index(program, metrics), _held_index(program, account)
    if held is None:
        return best
    return held if best is None else max(best, held)


def starting_tier(program: ProgramIn) -> str | None:
    """The tier every member starts in, if the programme has one."""
    index = qualified_index(program, dict(ZERO))
    return program.tiers[index].name if index is not None else None


def review_due_at(program: ProgramIn, account: MemberLoyalty | None) -> datetime | None:
    if program.review_days is None or account is None or account.tier_reviewed_at is None:
        return None
    return account.tier_reviewed_at + timedelta(days=program.review_days)


async def current_tier(
    session: AsyncSession, program: ProgramIn, account: MemberLoyalty | None
) -> TierIn | None:
    metrics = await tier_metrics(session, program, account, now(session))
    index = tier_index(program, account, metrics)
    return program.tiers[index] if index is not None else None


async def _set_tier(
    session: AsyncSession,
    account: MemberLoyalty,
    program: ProgramIn,
    index: int | None,
    now: datetime,
) -> None:
    name = program.tiers[index].name if index is not None else None
    if name == account.tier:
        return
    before, held = account.tier, _held_index(program, account)
    account.tier, account.tier_since, account.tier_reviewed_at = name, now, now
    # Entering the base tier is where every member starts, not an upgrade (no upgrade gift).
    baseline = held if held is not None else 0
    direction: TierDirection
    if index is not None and index > baseline:
        direction = "up"
    elif held is None:
        direction = "initial"
    else:
        direction = "down"
    await emit(
        session,
        MemberTierChanged(
            merchant_id=account.merchant_id,
            member_id=account.member_id,
            from_=before,
            to=name,
            direction=direction,
        ),
    )


async def evaluate_tier(session: AsyncSession, account: MemberLoyalty, now: datetime) -> None:
    """After something that counts: the member moves up if the metrics reach a higher tier."""
    program = await program_of(session, account.merchant_id)
    metrics = await tier_metrics(session, program, account, now)
    await _set_tier(session, account, program, tier_index(program, account, metrics), now)


async def review_tier(session: AsyncSession, account: MemberLoyalty, now: datetime) -> None:
    """End of a review period: the tier becomes what the period's metrics reach (it may go
    down several tiers, or up), and the next period starts."""
    program = await program_of(session, account.merchant_id)
    if program.downgrade_policy != "periodic":
        return
    metrics = await tier_metrics(session, program, account, now)
    await _set_tier(session, account, program, qualified_index(program, metrics), now)
    account.tier_reviewed_at = now


def count_growth(
    session: AsyncSession, account: MemberLoyalty, metric: str, amount: int, now: datetime
) -> None:
    """Record `amount` of `metric` (spend, invites) for the review periods' windows."""
    session.add(
        GrowthEntry(
            merchant_id=account.merchant_id,
            member_id=account.member_id,
            metric=metric,
            amount=amount,
            at=now,
        )
    )
