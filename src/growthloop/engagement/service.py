"""Marketing messages in the member's in-app inbox (站内信), the first engagement channel.

Marketing goes only to members whose latest decision on the `marketing` purpose is a
grant: a refusal, a withdrawal or no decision at all leaves them out (PIPL: consent, and
withdrawable at any time). The check is made at the moment of sending, so withdrawing
consent stops the next message. A list of members that names anyone who is not one of the
merchant's members is refused whole (422 `unknown_member`), before anything is sent.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.compliance import service as compliance
from growthloop.core import audit, references
from growthloop.core.audit import Action
from growthloop.core.context import context_of, now
from growthloop.core.ids import new_id
from growthloop.core.pagination import PageParams, fetch_page
from growthloop.engagement import repository as repo
from growthloop.engagement.models import Broadcast, InboxMessage
from growthloop.engagement.schemas import BroadcastIn


async def broadcast(
    session: AsyncSession, merchant_id: str, admin_id: str, body: BroadcastIn
) -> Broadcast:
    """Send to `body.member_ids` (default: every active member) those who consent to
    marketing; the others are counted as skipped."""
    if body.member_ids is None:
        members = context_of(session).members
        candidates = await members.active_member_ids(session, merchant_id)
    else:
        candidates = list(dict.fromkeys(body.member_ids))
        await references.check(
            session, merchant_id, table="members", field="member_ids", ids=candidates
        )
    decided = await compliance.decisions(session, merchant_id, set(candidates), ["marketing"])
    allowed = [m for m in candidates if decided.get((m, "marketing")) is True]
    at = now(session)
    sent = Broadcast(
        id=new_id(),
        merchant_id=merchant_id,
        title=body.title,
        body=body.body,
        sent=len(allowed),
        skipped_no_consent=len(candidates) - len(allowed),
        created_by=admin_id,
        created_at=at,
    )
    await repo.add_broadcast(session, sent)
    await repo.add_inbox_messages(
        session,
        [
            {
                "id": new_id(),
                "merchant_id": merchant_id,
                "member_id": member_id,
                "broadcast_id": sent.id,
                "title": body.title,
                "body": body.body,
                "sent_at": at,
            }
            for member_id in allowed
        ],
    )
    await audit.by_admin(
        session,
        merchant_id,
        admin_id,
        Action.MARKETING_BROADCAST,
        subject_type="broadcast",
        subject_id=sent.id,
        sent=sent.sent,
        skipped_no_consent=sent.skipped_no_consent,
    )
    return sent


async def inbox(
    session: AsyncSession, merchant_id: str, member_id: str, page: PageParams
) -> tuple[list[InboxMessage], str | None]:
    """The member's inbox, newest first."""
    return await fetch_page(session, repo.inbox_of(merchant_id, member_id), InboxMessage.id, page)
