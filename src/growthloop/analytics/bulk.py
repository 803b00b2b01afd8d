"""Analytics history carried over in bulk (the demo shop): who each device or account id is,
and the events of the past, written where ingestion would have put them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.analytics.models import AnalyticsIdentity
from growthloop.analytics.pipeline import Pipeline
from growthloop.analytics.rows import EventRow, Override
from growthloop.core.sql import insert_chunked

SOURCES = ("member", "identify")


@dataclass(frozen=True)
class KnownId:
    """A distinct id (a member id, a platform account id, a device id) that is a member:
    `member` when the id is the member's own, `identify` when a device was identified."""

    distinct_id: str
    member_id: str
    source: str
    created_at: datetime
    platform_hint: str | None = None


async def import_identities(
    session: AsyncSession, merchant_id: str, known: Sequence[KnownId]
) -> int:
    """Link each id to its member; an id named twice or an unknown source is refused before
    anything is written."""
    ids = [k.distinct_id for k in known]
    if len(set(ids)) != len(ids) or any(k.source not in SOURCES for k in known):
        raise ValueError("each distinct id once, with a source of 'member' or 'identify'")
    rows = [
        {
            "merchant_id": merchant_id,
            "distinct_id": k.distinct_id,
            "person_id": k.member_id,
            "member_id": k.member_id,
            "source": k.source,
            "platform_hint": k.platform_hint,
            "created_at": k.created_at,
        }
        for k in known
    ]
    return await insert_chunked(session, AnalyticsIdentity, rows)


async def import_events(
    pipeline: Pipeline, events: Sequence[EventRow], links: Sequence[Override]
) -> None:
    """Past events into the event store with the identity links they were seen under, then
    the hourly roll-up the dashboards read. Call after the identities' commit: the store
    holds no row of a member the database does not know."""
    await pipeline.store.append(list(events))
    await pipeline.store.add_overrides(list(links))
    await pipeline.store.roll_up()
