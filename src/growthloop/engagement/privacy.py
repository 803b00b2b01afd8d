"""The member's inbox: exported, and deleted with the account (broadcast counts stay)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.compliance.registry import Erasure, PrivacyHandler
from growthloop.engagement.models import InboxMessage


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> list[dict[str, Any]]:
    rows = await session.scalars(
        select(InboxMessage)
        .where(InboxMessage.merchant_id == merchant_id, InboxMessage.member_id == member_id)
        .order_by(InboxMessage.id)
    )
    return [
        {
            "title": m.title,
            "body": m.body,
            "sent_at": m.sent_at.isoformat(),
            "read_at": m.read_at.isoformat() if m.read_at else None,
        }
        for m in rows
    ]


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    result = await session.execute(
        delete(InboxMessage).where(
            InboxMessage.merchant_id == erasure.merchant_id,
            InboxMessage.member_id == erasure.member_id,
        )
    )
    return {"inbox_messages": result.rowcount or 0}  # type: ignore[attr-defined]


HANDLER = PrivacyHandler(
    section="inbox",
    tables=("inbox_messages",),
    export=export,
    erase=erase,
    keeps="broadcasts: what was sent and to how many, with no member in it",
)
