from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from growthloop.campaigns.group_buys import service
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
from growthloop.core.auth import (
    AdminPrincipal,
    CurrentMember,
    MerchantQuery,
    OptionalMember,
    Permission,
    SessionDep,
    browsing_merchant,
    require,
)
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.runtime import RuntimeDep

router = APIRouter(route_class=UnitOfWorkRoute, tags=["group buys"])

StatusQuery = Annotated[GroupStatus | None, Query(description="only groups in this status")]


@router.post("/v1/admin/group-buys", response_model=AdminGroupBuyOut, status_code=201)
async def create_group_buy(
    body: GroupBuyIn,
    session: SessionDep,
    admin: AdminPrincipal = require(Permission.MARKETING_WRITE),
) -> AdminGroupBuyOut:
    gb = await service.create_group_buy(session, admin.merchant_id, admin.admin_id, body)
    return (await service.admin_group_buys_out(session, [gb]))[0]


@router.get("/v1/admin/group-buys", response_model=Page[AdminGroupBuyOut])
async def list_group_buys(
    session: SessionDep, page: PageDep, admin: AdminPrincipal = require(Permission.CATALOG_READ)
) -> Page[AdminGroupBuyOut]:
    rows, cursor = await service.list_group_buys(session, admin.merchant_id, page)
    return Page(items=await service.admin_group_buys_out(session, rows), next_cursor=cursor)


@router.get("/v1/admin/group-buys/{group_buy_id}", response_model=AdminGroupBuyOut)
async def admin_get_group_buy(
    group_buy_id: str,
    session: SessionDep,
    admin: AdminPrincipal = require(Permission.CATALOG_READ),
) -> AdminGroupBuyOut:
    gb = await service.access_group_buy(session, admin.merchant_id, group_buy_id)
    return (await service.admin_group_buys_out(session, [gb]))[0]


@router.get("/v1/admin/group-buys/{group_buy_id}/groups", response_model=Page[GroupOut])
async def admin_list_groups(
    group_buy_id: str,
    session: SessionDep,
    page: PageDep,
    status: StatusQuery = None,
    admin: AdminPrincipal = require(Permission.CATALOG_READ),
) -> Page[GroupOut]:
    """The campaign's groups in any status (forming, succeeded, failed), newest first."""
    rows, cursor = await service.list_groups(
        session, admin.merchant_id, group_buy_id, page, status=status
    )
    return Page(items=await service.groups_out(session, rows), next_cursor=cursor)


@router.post("/v1/admin/group-buys/{group_buy_id}/end", response_model=AdminGroupBuyOut)
async def end_group_buy(
    group_buy_id: str,
    session: SessionDep,
    admin: AdminPrincipal = require(Permission.MARKETING_WRITE),
) -> AdminGroupBuyOut:
    """No new groups; the groups already forming run to their expiry."""
    gb = await service.end_group_buy(session, admin.merchant_id, admin.admin_id, group_buy_id)
    return (await service.admin_group_buys_out(session, [gb]))[0]


@router.get("/v1/group-buys/{group_buy_id}", response_model=GroupBuyOut)
async def get_group_buy(
    group_buy_id: str,
    session: SessionDep,
    member: OptionalMember,
    merchant_id: MerchantQuery = None,
) -> GroupBuyOut:
    merchant = browsing_merchant(member, merchant_id)
    gb = await service.access_group_buy(session, merchant, group_buy_id)
    return (await service.group_buys_out(session, [gb]))[0]


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
    return Page(items=await service.groups_out(session, rows, viewer), next_cursor=cursor)


@router.post("/v1/group-buys/{group_buy_id}/groups", response_model=OpenedOut, status_code=201)
async def open_group(
    group_buy_id: str,
    member: CurrentMember,
    session: SessionDep,
    rt: RuntimeDep,
    body: JoinIn | None = None,
) -> OpenedOut:
    """Open a group as its leader: the order waits for payment; the group counts the
    leader once paid."""
    group, order = await service.open_group(
        session,
        merchant_id=member.merchant_id,
        member_id=member.member_id,
        group_buy_id=group_buy_id,
        data=body or JoinIn(),
        payment_window=timedelta(minutes=rt.settings.payment_window_minutes),
    )
    out = (await service.groups_out(session, [group], member.member_id))[0]
    return OpenedOut(group_id=group.id, group=out, order=order)


@router.post("/v1/groups/{group_id}/join", response_model=JoinedOut, status_code=201)
async def join_group(
    group_id: str,
    member: CurrentMember,
    session: SessionDep,
    rt: RuntimeDep,
    body: JoinIn | None = None,
) -> JoinedOut:
    group, order = await service.join_group(
        session,
        merchant_id=member.merchant_id,
        member_id=member.member_id,
        group_id=group_id,
        data=body or JoinIn(),
        payment_window=timedelta(minutes=rt.settings.payment_window_minutes),
    )
    out = (await service.groups_out(session, [group], member.member_id))[0]
    return JoinedOut(group=out, order=order)


@router.get("/v1/me/groups", response_model=Page[MyGroupOut])
async def my_groups(
    member: CurrentMember, session: SessionDep, page: PageDep, status: StatusQuery = None
) -> Page[MyGroupOut]:
    """The groups the member opened or joined, finished ones too, newest first, each with
    the member's own place (`me`); places whose order lapsed unpaid are left out."""
    items, cursor = await service.my_groups(
        session, member.merchant_id, member.member_id, page, status=status
    )
    return Page(items=items, next_cursor=cursor)


@router.get("/v1/groups/{group_id}", response_model=GroupOut)
async def get_group(
    group_id: str,
    session: SessionDep,
    member: OptionalMember,
    merchant_id: MerchantQuery = None,
) -> GroupOut:
    """A shared group link opens this, before or after login."""
    group = await service.access_group(session, browsing_merchant(member, merchant_id), group_id)
    viewer = member.member_id if member else None
    return (await service.groups_out(session, [group], viewer))[0]
