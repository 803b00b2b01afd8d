"""Every query of the invite tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.invites.models import InviteQualification, InviteReward, InviteRule
from growthloop.core.sql import insert_unless_exists


async def running_rules(
    session: AsyncSession, merchant_id: str, trigger: str | None, now: datetime
) -> list[InviteRule]:
    r = InviteRule
    stmt = select(r).where(
        r.merchant_id == merchant_id,
        r.starts_at <= now,
        r.ended_early_at.is_(None),
        r.ends_at.is_(None) | (r.ends_at > now),
    )
    if trigger is not None:
        stmt = stmt.where(r.trigger == trigger)
    return list((await session.execute(stmt.order_by(r.id))).scalars())


@dataclass(frozen=True)
class RuleWindow:
    starts_at: datetime
    ends_at: datetime | None
    ended_early_at: datetime | None

    def running(self, now: datetime) -> bool:
        """`running_rules`' condition, on a window kept in memory."""
        return (
            self.starts_at <= now
            and self.ended_early_at is None
            and (self.ends_at is None or self.ends_at > now)
        )


async def rule_windows(
    session: AsyncSession, merchant_id: str, trigger: str
) -> tuple[RuleWindow, ...]:
    """When each of the merchant's rules of `trigger` runs (ended ones included)."""
    r = InviteRule
    rows = await session.execute(
        select(r.starts_at, r.ends_at, r.ended_early_at).where(
            r.merchant_id == merchant_id, r.trigger == trigger
        )
    )
    return tuple(RuleWindow(*row) for row in rows)


async def qualify(
    session: AsyncSession, rule: InviteRule, invitee_id: str, inviter_id: str, now: datetime
) -> bool:
    return await insert_unless_exists(
        session,
        InviteQualification,
        {
            "rule_id": rule.id,
            "invitee_id": invitee_id,
            "merchant_id": rule.merchant_id,
            "inviter_id": inviter_id,
            "qualified_at": now,
        },
        ["rule_id", "invitee_id"],
    )


async def qualified_count(session: AsyncSession, rule_id: str, inviter_id: str) -> int:
    q = InviteQualification
    stmt = select(func.count()).where(q.rule_id == rule_id, q.inviter_id == inviter_id)
    return int((await session.execute(stmt)).scalar_one())


async def qualified_totals(session: AsyncSession, rule_ids: list[str]) -> dict[str, int]:
    q = InviteQualification
    stmt = select(q.rule_id, func.count()).where(q.rule_id.in_(rule_ids)).group_by(q.rule_id)
    found = {rid: int(n) for rid, n in await session.execute(stmt)}
    return {rid: found.get(rid, 0) for rid in rule_ids}


async def add_reward(session: AsyncSession, values: dict[str, object]) -> bool:
    return await insert_unless_exists(session, InviteReward, values, ["key"])


async def rewards_earned(session: AsyncSession, rule_id: str, member_id: str, role: str) -> int:
    w = InviteReward
    stmt = select(func.count()).where(
        w.rule_id == rule_id, w.member_id == member_id, w.role == role, w.skipped.is_(None)
    )
    return int((await session.execute(stmt)).scalar_one())
