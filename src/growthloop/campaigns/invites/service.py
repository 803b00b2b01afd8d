"""Invite rules (邀请有礼). Never commits.

An invitee counts for a rule once (`invite_qualifications` is unique per rule and
invitee): on sign-up with the inviter's referral code (identity's `member.invited`,
which only new members trigger) or on their first paid order, while the rule runs, and
only if they signed up after the rule started. The invitee's reward comes when they
count; the inviter's at every `invites_needed`-th invitee (once, or each time with
`repeat`). Rewards are keyed by rule, member and milestone, so retried events grant
nothing twice; a reward that cannot be granted (a coupon run out) is recorded as
skipped, never a reason to fail the sign-up or the payment.
"""

from __future__ import annotations

import logging
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.invites import repository as repo
from growthloop.campaigns.invites.errors import AlreadyEnded, InviteRuleNotFound
from growthloop.campaigns.invites.events import InviteQualified, InviteRewarded
from growthloop.campaigns.invites.models import InviteRule
from growthloop.campaigns.invites.schemas import InviteRuleIn, MyInvitesOut, MyRuleProgressOut
from growthloop.campaigns.kinds import CampaignKind
from growthloop.core.context import now
from growthloop.core.errors import AppError
from growthloop.core.events import emit
from growthloop.core.presenting import from_row
from growthloop.core.settings_cache import cached_setting
from growthloop.identity import service as identity
from growthloop.identity.events import MemberInvited
from growthloop.loyalty import service as loyalty
from growthloop.orders import service as orders
from growthloop.orders.events import OrderPaid
from growthloop.promotions import service as promotions

log = logging.getLogger("growthloop.invites")


RULES = CampaignKind(
    InviteRule,
    "invite_rule",
    lambda i: InviteRuleNotFound(rule_id=i),
    AlreadyEnded,
    past_end_allowed=True,
)


async def create_rule(
    session: AsyncSession, merchant_id: str, admin_id: str, data: InviteRuleIn
) -> InviteRule:
    # Templates must be this merchant's (422 `unknown_coupon_template`) and granted-only
    # (422 `coupon_template_claimable`: a coupon anyone can claim is no reward for inviting).
    for role, reward in (("inviter", data.inviter_reward), ("invitee", data.invitee_reward)):
        if reward is not None and reward.coupon_template_id is not None:
            await promotions.reward_template(
                session,
                merchant_id,
                reward.coupon_template_id,
                field=f"{role}_reward.coupon_template_id",
            )
    inviter, invitee = data.inviter_reward, data.invitee_reward
    return await RULES.create(
        session,
        merchant_id,
        admin_id,
        data,
        inviter_template_id=inviter.coupon_template_id if inviter else None,
        inviter_points=inviter.points if inviter else None,
        invitee_template_id=invitee.coupon_template_id if invitee else None,
        invitee_points=invitee.points if invitee else None,
    )


async def my_invites(session: AsyncSession, merchant_id: str, member_id: str) -> MyInvitesOut:
    referral = await identity.referral_of(session, merchant_id, member_id)
    progress = []
    for rule in await repo.running_rules(session, merchant_id, None, now(session)):
        qualified = await repo.qualified_count(session, rule.id, member_id)
        earned = await repo.rewards_earned(session, rule.id, member_id, "inviter")
        more = rule.repeat or qualified < rule.invites_needed
        progress.append(
            from_row(
                MyRuleProgressOut,
                rule,
                rule_id=rule.id,
                qualified=qualified,
                rewards_earned=earned,
                next_reward_in=(
                    rule.invites_needed - qualified % rule.invites_needed if more else None
                ),
            )
        )
    return MyInvitesOut(referrer_code=referral.referrer_code, rules=progress)


# ---- qualifying (event subscribers, in the event's transaction) -------------------------


async def _reward(
    session: AsyncSession,
    rule: InviteRule,
    member_id: str,
    role: str,
    key: str,
    template_id: str | None,
    points: int | None,
) -> None:
    coupon_id, skipped = None, None
    try:
        if template_id is not None:
            coupon = await promotions.grant_coupon(
                session, rule.merchant_id, template_id, member_id, source="campaign", key=key
            )
            coupon_id = coupon.id
        if points:
            await loyalty.grant_points(
                session, rule.merchant_id, member_id, points, reason="invite", key=key, ref=rule.id
            )
    except AppError as exc:  # the grant's refusal; it wrote nothing
        skipped = exc.code
        log.info("invite reward skipped: %s", exc.code, extra={"rule_id": rule.id, "key": key})
    added = await repo.add_reward(
        session,
        {
            "merchant_id": rule.merchant_id,
            "rule_id": rule.id,
            "member_id": member_id,
            "role": role,
            "key": key,
            "coupon_id": coupon_id,
            "points": points if points and skipped is None else None,
            "skipped": skipped,
            "created_at": now(session),
        },
    )
    if added and skipped is None:
        rewarded = InviteRewarded(
            merchant_id=rule.merchant_id,
            member_id=member_id,
            rule_id=rule.id,
            role=role,
            coupon_id=coupon_id,
            points=points,
        )
        await emit(session, rewarded)


async def _qualify(session: AsyncSession, rule: InviteRule, inviter: str, invitee: str) -> None:
    member, _ = await identity.member_with_platforms(session, invitee)
    if member.created_at < rule.starts_at:  # only members new since the rule started
        return
    if not await repo.qualify(session, rule, invitee, inviter, now(session)):
        return
    qualified = InviteQualified(
        merchant_id=rule.merchant_id, member_id=inviter, rule_id=rule.id, invitee_id=invitee
    )
    await emit(session, qualified)
    if rule.invitee_template_id or rule.invitee_points:
        await _reward(
            session,
            rule,
            invitee,
            "invitee",
            f"invite:{rule.id}:invitee:{invitee}",
            rule.invitee_template_id,
            rule.invitee_points,
        )
    count = await repo.qualified_count(session, rule.id, inviter)
    milestone, rest = divmod(count, rule.invites_needed)
    if (
        rest == 0
        and (rule.repeat or milestone == 1)
        and (rule.inviter_template_id or rule.inviter_points)
    ):
        await _reward(
            session,
            rule,
            inviter,
            "inviter",
            f"invite:{rule.id}:inviter:{inviter}:{milestone}",
            rule.inviter_template_id,
            rule.inviter_points,
        )


async def on_member_invited(session: AsyncSession, event: MemberInvited) -> None:
    """identity's `member.invited`: member_id = the inviter."""
    inviter, invitee = event.member_id, event.invitee_id
    for rule in await repo.running_rules(session, event.merchant_id, "registration", now(session)):
        await _qualify(session, rule, inviter, invitee)


async def on_order_paid(session: AsyncSession, event: OrderPaid) -> None:
    buyer = event.member_id
    if buyer is None:
        return
    at = now(session)
    # Most merchants run no first-order rule: their paid orders skip the rules' query.
    windows = await cached_setting(
        session,
        event.merchant_id,
        "invites.first_order",
        partial(repo.rule_windows, session, event.merchant_id, "first_order"),
    )
    if not any(w.running(at) for w in windows):
        return
    rules = await repo.running_rules(session, event.merchant_id, "first_order", at)
    if not rules:
        return
    inviter = (await identity.referral_of(session, event.merchant_id, buyer)).referred_by
    if inviter is None or await orders.count_paid_orders(session, event.merchant_id, buyer) != 1:
        return
    for rule in rules:
        await _qualify(session, rule, inviter, buyer)
