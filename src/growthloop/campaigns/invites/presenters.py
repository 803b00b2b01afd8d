"""Invite rules as the API shows them."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.invites import repository as repo
from growthloop.campaigns.invites.models import InviteRule
from growthloop.campaigns.invites.schemas import InviteRuleOut, RewardOut
from growthloop.campaigns.kinds import shown
from growthloop.core.context import now


async def rules_out(session: AsyncSession, rules: list[InviteRule]) -> list[InviteRuleOut]:
    """The rules with their status now and, for the admin, the invitees counted so far."""
    at = now(session)
    totals = await repo.qualified_totals(session, [r.id for r in rules]) if rules else {}
    return [
        shown(
            InviteRuleOut,
            r,
            at,
            inviter_reward=RewardOut(
                coupon_template_id=r.inviter_template_id, points=r.inviter_points
            ),
            invitee_reward=RewardOut(
                coupon_template_id=r.invitee_template_id, points=r.invitee_points
            ),
            qualified=totals.get(r.id),
        )
        for r in rules
    ]
