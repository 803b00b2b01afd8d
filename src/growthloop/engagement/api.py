from __future__ import annotations

from fastapi import APIRouter

from growthloop.core.auth import CurrentMember, MarketingWriter, SessionDep
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.engagement import presenters, service
from growthloop.engagement.schemas import BroadcastIn, BroadcastOut, InboxMessageOut

router = APIRouter(route_class=UnitOfWorkRoute, tags=["engagement"])


@router.post("/v1/admin/broadcasts", response_model=BroadcastOut, status_code=201)
async def send_broadcast(
    body: BroadcastIn, session: SessionDep, admin: MarketingWriter
) -> BroadcastOut:
    """A marketing message to members' in-app inboxes: only those who consent to marketing
    get it; `skipped_no_consent` counts the rest."""
    sent = await service.broadcast(session, admin.merchant_id, admin.admin_id, body)
    return presenters.broadcast_out(sent)


@router.get("/v1/me/inbox", response_model=Page[InboxMessageOut])
async def my_inbox(
    member: CurrentMember, session: SessionDep, page: PageDep
) -> Page[InboxMessageOut]:
    rows, cursor = await service.inbox(session, member.merchant_id, member.member_id, page)
    return Page(items=[presenters.inbox_message_out(r) for r in rows], next_cursor=cursor)
