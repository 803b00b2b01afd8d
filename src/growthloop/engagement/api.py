from __future__ import annotations

from fastapi import APIRouter

from growthloop.core.auth import AdminPrincipal, CurrentMember, Permission, SessionDep, require
from growthloop.core.pagination import Page, PageDep, make_page
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.runtime import RuntimeDep
from growthloop.engagement import service
from growthloop.engagement.schemas import BroadcastIn, BroadcastOut, InboxMessageOut

router = APIRouter(route_class=UnitOfWorkRoute, tags=["engagement"])


@router.post("/v1/admin/broadcasts", response_model=BroadcastOut, status_code=201)
async def send_broadcast(
    body: BroadcastIn,
    session: SessionDep,
    rt: RuntimeDep,
    admin: AdminPrincipal = require(Permission.MARKETING_WRITE),
) -> BroadcastOut:
    """A marketing message to members' in-app inboxes: only those who consent to marketing
    get it; `skipped_no_consent` counts the rest."""
    sent = await service.broadcast(session, admin.merchant_id, admin.admin_id, body, rt.clock.now())
    return BroadcastOut.model_validate(sent, from_attributes=True)


@router.get("/v1/me/inbox", response_model=Page[InboxMessageOut])
async def my_inbox(
    member: CurrentMember, session: SessionDep, page: PageDep
) -> Page[InboxMessageOut]:
    rows = await service.inbox(
        session, member.merchant_id, member.member_id, page.limit + 1, page.after_id
    )
    rows, cursor = make_page(rows, page)
    return Page(
        items=[InboxMessageOut.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=cursor,
    )
