"""What every domain may ask about a merchant without importing identity: its timezone.

The identity domain provides the `MerchantDirectory`; the app puts it in every
session's info (ground-floor domains must not import each other).
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.clock import Clock


class MerchantDirectory(Protocol):
    async def timezone(self, session: AsyncSession, merchant_id: str) -> str: ...


async def merchant_timezone(session: AsyncSession, merchant_id: str) -> str:
    directory = session.info.get("merchants")
    if directory is None:
        raise RuntimeError("no merchant directory in this session")
    tz: str = await directory.timezone(session, merchant_id)
    return tz


async def merchant_today(session: AsyncSession, merchant_id: str) -> date:
    """Today in the merchant's timezone (check-in days, pickup numbers, daily reports)."""
    clock = session.info["clock"]
    assert isinstance(clock, Clock)
    return clock.today(await merchant_timezone(session, merchant_id))
