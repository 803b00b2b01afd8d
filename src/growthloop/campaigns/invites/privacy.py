"""Invites' part of the data export and of account deletion (注销).

Kept, unchanged: the member's qualifications, as the invitee (they count towards their
inviter's progress and rewards, which must not move back) and as the inviter (each one is
also the invitee's once-per-rule record), and the rewards granted to the member (the
campaign's cost; each key makes its grant happen once). The coupons and points those
rewards granted are voided by promotions and loyalty. The member id in these rows, and in
the reward keys, stays as the id of the member row the identity handler empties of the
person (orders keep it the same way): it identifies nobody. No column holds anything else
about the person.

Erased: nothing. The member's referral code goes with the member row (identity), so no one
can be invited by them any more.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.invites.models import InviteQualification, InviteReward, InviteRule
from growthloop.core.privacy import (
    Erasure,
    PrivacyHandler,
    count_member_rows,
    count_rows,
    member_rows,
)


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> dict[str, Any]:
    q = InviteQualification
    invited = await session.execute(
        select(q.rule_id, InviteRule.name, func.count())
        .outerjoin(InviteRule, InviteRule.id == q.rule_id)
        .where(q.merchant_id == merchant_id, q.inviter_id == member_id)
        .group_by(q.rule_id, InviteRule.name)
        .order_by(q.rule_id)
    )
    mine = await member_rows(
        session,
        q,
        merchant_id,
        member_id,
        "rule_id",
        InviteRule.name.label("rule"),
        "qualified_at",
        member="invitee_id",
        outerjoin=(InviteRule, InviteRule.id == q.rule_id),
        order_by=q.qualified_at,
    )
    r = InviteReward
    rewards = await member_rows(
        session,
        r,
        merchant_id,
        member_id,
        "rule_id",
        "role",
        "coupon_id",
        "points",
        "skipped",
        "created_at",
        order_by=r.id,
    )
    return {
        # The friends who qualified are other members: counted, not named.
        "invited": [{"rule_id": rid, "rule": name, "qualified": n} for rid, name, n in invited],
        "qualified_as_invitee": mine,
        "rewards": rewards,
    }


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    m, who = erasure.merchant_id, erasure.member_id
    q, r = InviteQualification, InviteReward
    qualifications = await count_rows(
        session, q, q.merchant_id == m, or_(q.invitee_id == who, q.inviter_id == who)
    )
    rewards = await count_member_rows(session, r, m, who)
    return {
        "invite_qualifications_kept": qualifications,
        "invite_rewards_kept": rewards,
    }


HANDLER = PrivacyHandler(
    section="invites",
    tables=(InviteQualification.__tablename__, InviteReward.__tablename__),
    export=export,
    erase=erase,
    keeps=(
        "invite qualifications (other inviters' progress) and the rewards granted (the "
        "campaign's cost; the coupons and points themselves are voided by their domains); "
        "they refer only to the anonymous member row"
    ),
)
