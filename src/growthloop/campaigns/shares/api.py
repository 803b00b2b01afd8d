from __future__ import annotations

from fastapi import APIRouter, Response

from growthloop.campaigns.routes import answer_found, created_or_found
from growthloop.campaigns.shares import presenters, service
from growthloop.campaigns.shares.schemas import MyShareOut, OpenedOut, OpenIn, ShareIn, ShareOut
from growthloop.core.auth import Browsing, CurrentMember, SessionDep
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute

router = APIRouter(route_class=UnitOfWorkRoute, tags=["shares"])


@router.post("/v1/shares", **created_or_found(ShareOut, "the member's code for this share"))
async def share(
    body: ShareIn, response: Response, member: CurrentMember, session: SessionDep
) -> ShareOut:
    """A code for sharing a target on a channel: the same code every time (200 then)."""
    row, created = await service.share(session, member.merchant_id, member.member_id, body)
    answer_found(response, created)
    return presenters.share_out(row)


@router.get("/v1/me/shares", response_model=Page[MyShareOut])
async def my_shares(member: CurrentMember, session: SessionDep, page: PageDep) -> Page[MyShareOut]:
    """The member's shares and what each brought."""
    rows, counts, cursor = await service.my_shares(
        session, member.merchant_id, member.member_id, page
    )
    return Page(items=[presenters.my_share_out(r, counts) for r in rows], next_cursor=cursor)


@router.post("/v1/shares/{code}/open", response_model=OpenedOut)
async def open_share(
    code: str, session: SessionDep, browser: Browsing, body: OpenIn | None = None
) -> OpenedOut:
    """A shared link or poster QR code was opened (before login: `?merchant_id=` and the
    device's `distinct_id`): counted for the sharer; answers what to show."""
    return await service.open_share(
        session,
        browser.merchant_id(),
        code,
        visitor=browser.member_id,
        anonymous_id=body.distinct_id if body else None,
    )
