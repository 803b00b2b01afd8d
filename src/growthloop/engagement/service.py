"""Marketing messages in the member's in-app inbox (站内信), the first engagement channel.

Marketing goes only to members whose latest decision on the `marketing` purpose is a
grant: a refusal, a withdrawal or no decision at all leaves them out (PIPL: consent, and
withdrawable at any time). The check is made at the moment of sending, so withdrawing
consent stops the next message. A list of members that names anyone who is not one of the
merchant's members is refused whole (422 `unknown_member`), before anything is sent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.compliance import service as compliance
from growthloop.core import audit, references
from growthloop.core.context import context_of
from growthloop.core.ids import new_id
from growthloop.engagement.models import Broadcast, InboxMessage
from growthloop.engagement.schemas import BroadcastIn


class Audience(Protocol):
    """The merchant's active members; identity provides it (`info["members"]`)."""

    async def active_member_ids(self, session: AsyncSession, merchant_id: str) -> list[str]: ...


async def broadcast(
    session: AsyncSession, merchant_id: str, admin_id: str, body: BroadcastIn, now: datetime
) -> Broadcast:
    if body.member_ids is None:
        directory: Audience = context_of(session).members
        candidates = await directory.active_member_ids(session, merchant_id)
    else:
        candidates = list(dict.fromkeys(body.member_ids))
        await references.check(
            session, merchant_id, table="members", field="member_ids", ids=candidates
        )
    decided = await compliance.decisions(session, merchant_id, set(candidates), ["marketing"])
    allowed = [m for m in candidates if decided.get((m, "marketing")) is True]
    sent = Broadcast(
        id=new_id(),
        merchant_id=merchant_id,
        title=body.title,
        body=body.body,
        sent=len(allowed),
        skipped_no_consent=len(candidates) - len(allowed),
        created_by=admin_id,
        created_at=now,
    )
    session.add(sent)
    await session.flush()
    rows = [
        {
            "id": new_id(),
            "merchant_id": merchant_id,
            "member_id": member_id,
            "broadcast_id": sent.id,
            "title": body.title,
            "body": body.body,
            "sent_at": now,
        }
        for member_id in allowed
    ]
    for start in range(0, len(rows), 1000):
        await session.execute(insert(InboxMessage), rows[start : start + 1000])
    await audit.record(
        session,
        merchant_id=merchant_id,
        actor_type="admin",
        actor_id=admin_id,
        action="marketing.broadcast",
        subject_type="broadcast",
        subject_id=sent.id,
        sent=sent.sent,
        skipped_no_consent=sent.skipped_no_consent,
    )
    return sent


async def inbox(
    session: AsyncSession, merchant_id: str, member_id: str, limit: int, after: str | None
) -> list[InboxMessage]:
    stmt = (
        select(InboxMessage)
        .where(InboxMessage.merchant_id == merchant_id, InboxMessage.member_id == member_id)
        .order_by(InboxMessage.id.desc())
        .limit(limit)
    )
    if after:
        stmt = stmt.where(InboxMessage.id < after)
    return list((await session.scalars(stmt)).all())
