"""When a campaign runs: its window, or until an operator ends it early.

Every campaign has a window, [`starts_at`, `ends_at`) (an open end when `ends_at` is None),
that an operator may close early (`ended_early_at`). A flash sale may also sell only in
daily slots inside its window (local times in the merchant's timezone): between two slots
it is neither scheduled nor over. The functions here take the instant they judge (`now`);
only `end_early`, which acts, reads the session's clock.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.errors import Ended, NotStarted
from growthloop.core import audit
from growthloop.core.audit import Action
from growthloop.core.context import now
from growthloop.core.errors import Conflict

CampaignStatus = Literal["scheduled", "running", "ended"]
# A campaign sold in daily slots is also "between_slots" inside its window.
OpeningStatus = Literal["scheduled", "running", "between_slots", "ended"]
# Daily selling slots: (start, end) local times of one day.
DailySlots = Sequence[tuple[time, time]]


class Window(Protocol):
    @property
    def starts_at(self) -> datetime: ...

    @property
    def ends_at(self) -> datetime | None: ...

    @property
    def ended_early_at(self) -> datetime | None: ...


class Campaign(Window, Protocol):
    """A campaign row: the merchant's, ended early by an operator."""

    merchant_id: str
    ended_early_at: datetime | None

    @property
    def id(self) -> str: ...


def status(campaign: Window, now: datetime) -> CampaignStatus:
    ended = campaign.ended_early_at is not None or (
        campaign.ends_at is not None and now >= campaign.ends_at
    )
    if ended:
        return "ended"
    return "scheduled" if now < campaign.starts_at else "running"


def selling_windows(
    campaign: Window, after: datetime, slots: DailySlots, timezone: str
) -> Iterator[tuple[datetime, datetime]]:
    """The stretches a slotted campaign sells in that end after `after`, in order: its
    window cut into its daily slots (local days in `timezone`)."""
    if campaign.ended_early_at is not None or campaign.ends_at is None:
        return  # over (or no end to cut days up to: slotted campaigns always have one)
    end = campaign.ends_at
    tz = ZoneInfo(timezone)
    day: date = max(after, campaign.starts_at).astimezone(tz).date()
    last: date = end.astimezone(tz).date()
    while day <= last:
        for start_t, end_t in sorted(slots):
            a = datetime.combine(day, start_t, tz).astimezone(UTC)
            b = datetime.combine(day, end_t, tz).astimezone(UTC)
            a, b = max(a, campaign.starts_at), min(b, end)
            if a < b and b > after:
                yield a, b
        day += timedelta(days=1)


def opening(
    campaign: Window, now: datetime, slots: DailySlots | None = None, timezone: str = "UTC"
) -> tuple[OpeningStatus, datetime | None]:
    """("running", None), ("scheduled" | "between_slots", when it opens next) or
    ("ended", None)."""
    current = status(campaign, now)
    if slots is None or current == "ended":
        return current, campaign.starts_at if current == "scheduled" else None
    for start, _ in selling_windows(campaign, now, slots, timezone):
        if start <= now:
            return "running", None
        return ("scheduled" if current == "scheduled" else "between_slots"), start
    return "ended", None


def ensure_running(
    campaign: Window,
    now: datetime,
    *,
    slots: DailySlots | None = None,
    timezone: str = "UTC",
    ended_details: bool = False,
) -> None:
    """409 `not_started` (with when it opens next) or `ended` unless the campaign runs now.
    `ended_details`: the `ended` answer names the campaign's `ends_at` (flash sales)."""
    current, next_open = opening(campaign, now, slots, timezone)
    if current == "ended":
        if ended_details and campaign.ends_at is not None:
            raise Ended(ends_at=campaign.ends_at.isoformat())
        raise Ended()
    if current != "running":
        assert next_open is not None
        raise NotStarted(next_open_at=next_open.isoformat())


async def end_early(
    session: AsyncSession,
    campaign: Campaign,
    *,
    admin_id: str,
    subject_type: str,
    already_ended: type[Conflict],
) -> None:
    """An operator ends the campaign now (audited as `<subject_type>.end`); one already
    over answers 409."""
    at = now(session)
    if status(campaign, at) == "ended":
        raise already_ended(**{f"{subject_type}_id": campaign.id})
    campaign.ended_early_at = at
    await session.flush()
    await audit.by_admin(
        session,
        campaign.merchant_id,
        admin_id,
        Action(f"{subject_type}.end"),
        subject_type=subject_type,
        subject_id=campaign.id,
    )
