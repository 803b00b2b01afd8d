"""When a campaign runs: its window, or until an operator ends it early."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.errors import Ended, NotStarted
from growthloop.core import audit
from growthloop.core.clock import Clock
from growthloop.core.context import context_of
from growthloop.core.errors import Conflict

CampaignStatus = Literal["scheduled", "running", "ended"]


class Campaign(Protocol):
    id: str
    merchant_id: str
    starts_at: datetime
    ends_at: datetime | None
    ended_early_at: datetime | None


def now_of(session: AsyncSession) -> datetime:
    clock = context_of(session).clock
    assert isinstance(clock, Clock)
    return clock.now()


def status(campaign: Campaign, now: datetime) -> CampaignStatus:
    ended = campaign.ended_early_at is not None or (
        campaign.ends_at is not None and now >= campaign.ends_at
    )
    if ended:
        return "ended"
    return "scheduled" if now < campaign.starts_at else "running"


def ensure_running(campaign: Campaign, now: datetime) -> None:
    """409 `not_started` (with when it starts) or `ended` unless the campaign runs now."""
    current = status(campaign, now)
    if current == "scheduled":
        raise NotStarted(next_open_at=campaign.starts_at.isoformat())
    if current == "ended":
        raise Ended()


async def end_early(
    session: AsyncSession,
    campaign: Campaign,
    *,
    admin_id: str,
    subject_type: str,
    already_ended: type[Conflict],
) -> None:
    """An operator ends the campaign now (audited); one already over answers 409."""
    now = now_of(session)
    if status(campaign, now) == "ended":
        raise already_ended(**{f"{subject_type}_id": campaign.id})
    campaign.ended_early_at = now
    await session.flush()
    await audit.record(
        session,
        merchant_id=campaign.merchant_id,
        actor_type="admin",
        actor_id=admin_id,
        action=f"{subject_type}.end",
        subject_type=subject_type,
        subject_id=campaign.id,
    )
