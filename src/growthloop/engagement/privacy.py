"""The member's inbox: exported, and deleted with the account (broadcast counts stay)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.privacy import Erasure, PrivacyHandler, delete_by_member, member_rows
from growthloop.engagement.models import InboxMessage


async def export(session: AsyncSession, merchant_id: str, member_id: str) -> list[dict[str, Any]]:
    return await member_rows(
        session,
        InboxMessage,
        merchant_id,
        member_id,
        "title",
        "body",
        "sent_at",
        "read_at",
        order_by=InboxMessage.id,
    )


async def erase(session: AsyncSession, erasure: Erasure) -> dict[str, int]:
    return await delete_by_member(session, erasure.merchant_id, erasure.member_id, InboxMessage)


HANDLER = PrivacyHandler(
    section="inbox",
    tables=("inbox_messages",),
    export=export,
    erase=erase,
    keeps="broadcasts: what was sent and to how many, with no member in it",
)
