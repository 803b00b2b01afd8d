"""Automatic issuance: coupons granted in the transaction of the event that earns them
(subscribed in growthloop.wiring).

A template with `auto_issue` grants one coupon per member and occasion, keyed so that a
replayed event grants nothing twice. A template that cannot grant (inactive, outside its
fixed window, sold out, the member's limit reached) is skipped and logged: the action
that raised the event (a login, a payment) must never fail for a coupon.

Identity and loyalty are promotions' siblings, so it does not import their event classes:
each handler takes a Protocol of the fields it reads.
"""

from __future__ import annotations

import logging
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.context import now
from growthloop.core.errors import AppError
from growthloop.core.events import AboutMember
from growthloop.promotions import repository as repo
from growthloop.promotions.models import Coupon, CouponTemplate
from growthloop.promotions.schemas import AutoIssue
from growthloop.promotions.service import grant_coupon

log = logging.getLogger("growthloop.promotions")


class TierEvent(AboutMember, Protocol):
    """loyalty's member.enrolled: the tier the member starts in."""

    @property
    def tier(self) -> str | None: ...


class BirthdayGift(TierEvent, Protocol):
    """loyalty's member.birthday_gift."""

    @property
    def year(self) -> int: ...


class TierChange(AboutMember, Protocol):
    """loyalty's member.tier_changed: `direction` "up", "down" or "initial"."""

    @property
    def to(self) -> str | None: ...

    @property
    def direction(self) -> str: ...


def _for_tier(template: CouponTemplate, tier: str | None) -> bool:
    return not template.auto_issue_tiers or tier in template.auto_issue_tiers


async def _auto_issue(
    session: AsyncSession,
    event: AboutMember,
    occasion: AutoIssue,
    *,
    key: str,
    suffix: str | None = None,
    tier: str | None = None,
) -> list[Coupon]:
    """Grants the occasion's templates to the event's member under the issue key
    `auto:<key>:<template>:<member>[:<suffix>]`."""
    if event.member_id is None:
        return []
    templates = await repo.auto_issue_templates(session, event.merchant_id, occasion, now(session))
    granted = []
    for template in templates:
        if not _for_tier(template, tier):
            continue
        issue_key = f"auto:{key}:{template.id}:{event.member_id}"
        if suffix is not None:
            issue_key += f":{suffix}"
        try:
            coupon = await grant_coupon(
                session,
                event.merchant_id,
                template.id,
                event.member_id,
                source="auto",
                key=issue_key,
            )
        except AppError as exc:  # grant_coupon's refusals; it wrote nothing
            log.info(
                "automatic coupon skipped: %s",
                exc.code,
                extra={"template_id": template.id, "member_id": event.member_id, "key": issue_key},
            )
            continue
        granted.append(coupon)
    return granted


async def on_member_registered(session: AsyncSession, event: AboutMember) -> None:
    """identity's `member.registered` (a first login); the member has no tier yet."""
    await _auto_issue(session, event, "registration", key="registration")


async def on_member_enrolled(session: AsyncSession, event: TierEvent) -> None:
    """loyalty's `member.enrolled` (支付即会员), in the tier the member starts in."""
    await _auto_issue(session, event, "enrolment", key="enrolment", tier=event.tier)


async def on_member_birthday_gift(session: AsyncSession, event: BirthdayGift) -> None:
    """loyalty's `member.birthday_gift`: one coupon per template and year."""
    await _auto_issue(
        session, event, "birthday", key="birthday", suffix=str(event.year), tier=event.tier
    )


async def on_member_tier_changed(session: AsyncSession, event: TierChange) -> None:
    """loyalty's `member.tier_changed`: an upgrade grants the templates for the tier reached,
    once per template and tier (a member who drops and climbs back does not get them
    again)."""
    if event.direction != "up" or event.to is None:
        return
    await _auto_issue(session, event, "tier_upgrade", key="tier", suffix=event.to, tier=event.to)
