from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.group_buys import presenters, service
from growthloop.campaigns.group_buys.models import Group
from growthloop.campaigns.group_buys.schemas import (
    AdminGroupBuyOut,
    GroupBuyIn,
    GroupBuyOut,
    GroupOut,
    GroupStatus,
    JoinedOut,
    JoinIn,
    MyGroupOut,
    OpenedOut,
)
from growthloop.campaigns.routes import CampaignRoutes, PaymentWindow, add_campaign_routes
from growthloop.core.auth import (
    Browsing,
    CurrentMember,
    MarketingReader,
    MemberPrincipal,
    MerchantQuery,
    OptionalMember,
    SessionDep,
    browsing_merchant,
)
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.orders.schemas import OrderOut

router = APIRouter(route_class=UnitOfWorkRoute, tags=["group buys"])

StatusQuery = Annotated[GroupStatus | None, Query(description="only groups in this status")]

add_campaign_routes(
    router,
    CampaignRoutes(
        name="group_buy",
        path="group-buys",
        kind=service.GROUP_BUYS,
        body=GroupBuyIn,
        create=service.create_group_buy,
        admin_out=AdminGroupBuyOut,
        present_admin=presenters.admin_group_buys_out,
        out=GroupBuyOut,
        present=presenters.group_buys_out,
        end_description="No new groups; the groups already forming run to their expiry.",
    ),
)


@router.get("/v1/admin/group-buys/{group_buy_id}/groups", response_model=Page[GroupOut])
async def admin_list_groups(
    group_buy_id: str,
    session: SessionDep,
    page: PageDep,
    admin: MarketingReader,
    status: StatusQuery = None,
) -> Page[GroupOut]:
    """The campaign's groups in any status (forming, succeeded, failed), newest first."""
    rows, cursor = await service.list_groups(
        session, admin.merchant_id, group_buy_id, page, status=status
    )
    return Page(items=await presenters.groups_out(session, rows), next_cursor=cursor)


@router.get("/v1/group-buys/{group_buy_id}/groups", response_model=Page[GroupOut])
async def group_square(
    group_buy_id: str,
    session: SessionDep,
    page: PageDep,
    member: OptionalMember,
    merchant_id: MerchantQuery = None,
) -> Page[GroupOut]:
    """拼团广场: forming groups with a free seat that anyone may join."""
    merchant = browsing_merchant(member, merchant_id)
    rows, cursor = await service.group_square(session, merchant, group_buy_id, page)
    viewer = member.member_id if member else None
    return Page(items=await presenters.groups_out(session, rows, viewer), next_cursor=cursor)


async def _take_seat(
    step: Callable[..., Awaitable[tuple[Group, OrderOut]]],
    member: MemberPrincipal,
    session: AsyncSession,
    payment_window: timedelta,
    body: JoinIn | None,
    **target: str,
) -> tuple[Group, GroupOut, OrderOut]:
    """The member takes a seat (`step`: `service.open_group` or `join_group`, given the
    `target`), the order waiting for payment: the group as the member sees it, and the order."""
    group, order = await step(
        session,
        merchant_id=member.merchant_id,
        member_id=member.member_id,
        data=body or JoinIn(),
        payment_window=payment_window,
        **target,
    )
    return group, await presenters.group_out(session, group, member.member_id), order


@router.post("/v1/group-buys/{group_buy_id}/groups", response_model=OpenedOut, status_code=201)
async def open_group(
    group_buy_id: str,
    member: CurrentMember,
    session: SessionDep,
    payment_window: PaymentWindow,
    body: JoinIn | None = None,
) -> OpenedOut:
    """Open a group as its leader: the order waits for payment; the group counts the
    leader once paid."""
    group, out, order = await _take_seat(
        service.open_group, member, session, payment_window, body, group_buy_id=group_buy_id
    )
    return OpenedOut(group_id=group.id, group=out, order=order)


@router.post("/v1/groups/{group_id}/join", response_model=JoinedOut, status_code=201)
async def join_group(
    group_id: str,
    member: CurrentMember,
    session: SessionDep,
    payment_window: PaymentWindow,
    body: JoinIn | None = None,
) -> JoinedOut:
    _, out, order = await _take_seat(
        service.join_group, member, session, payment_window, body, group_id=group_id
    )
    return JoinedOut(group=out, order=order)


@router.get("/v1/me/groups", response_model=Page[MyGroupOut])
async def my_groups(
    member: CurrentMember, session: SessionDep, page: PageDep, status: StatusQuery = None
) -> Page[MyGroupOut]:
    """The groups the member opened or joined, finished ones too, newest first, each with
    the member's own place (`me`); places whose order lapsed unpaid are left out."""
    rows, cursor = await service.my_groups(
        session, member.merchant_id, member.member_id, page, status=status
    )
    items = await presenters.my_groups_out(session, rows, member.member_id)
    return Page(items=items, next_cursor=cursor)


@router.get("/v1/groups/{group_id}", response_model=GroupOut)
async def get_group(group_id: str, session: SessionDep, browser: Browsing) -> GroupOut:
    """A shared group link opens this, before or after login."""
    group = await service.get_group(session, browser.merchant_id(), group_id)
    return await presenters.group_out(session, group, browser.member_id)
