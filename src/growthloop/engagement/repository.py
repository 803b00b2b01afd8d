"""Engagement's queries: broadcasts and the members' inbox copies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.engagement.models import Broadcast, InboxMessage

INSERT_BATCH = 1000


async def add_broadcast(session: AsyncSession, broadcast: Broadcast) -> None:
    session.add(broadcast)
    await session.flush()


async def add_inbox_messages(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Bulk insert, in batches."""
    for start in range(0, len(rows), INSERT_BATCH):
        await session.execute(insert(InboxMessage), list(rows[start : start + INSERT_BATCH]))


def inbox_of(merchant_id: str, member_id: str) -> Select[InboxMessage]:
    """The member's inbox messages (the caller orders and pages them)."""
    return select(InboxMessage).where(
        InboxMessage.merchant_id == merchant_id, InboxMessage.member_id == member_id
    )
