from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Response

from growthloop.campaigns.bargains import service
from growthloop.campaigns.bargains.schemas import (
    AdminBargainOut,
    BargainIn,
    BargainOut,
    BargainPurchaseIn,
    HelpResultOut,
    InstanceOut,
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
from growthloop.orders.schemas import OrderOut

router = APIRouter(route_class=UnitOfWorkRoute, tags=["bargains"])


@router.post("/v1/admin/bargains", response_model=AdminBargainOut, status_code=201)
async def create_bargain(
    body: BargainIn,
    session: SessionDep,
    admin: AdminPrincipal = require(Permission.MARKETING_WRITE),
) -> AdminBargainOut:
    bargain = await service.create_bargain(session, admin.merchant_id, admin.admin_id, body)
    return (await service.admin_bargains_out(session, [bargain]))[0]


@router.get("/v1/admin/bargains", response_model=Page[AdminBargainOut])
async def list_bargains(
    session: SessionDep, page: PageDep, admin: AdminPrincipal = require(Permission.CATALOG_READ)
) -> Page[AdminBargainOut]:
    rows, cursor = await service.list_bargains(session, admin.merchant_id, page)
    return Page(items=await service.admin_bargains_out(session, rows), next_cursor=cursor)


@router.get("/v1/admin/bargains/{bargain_id}", response_model=AdminBargainOut)
async def admin_get_bargain(
    bargain_id: str, session: SessionDep, admin: AdminPrincipal = require(Permission.CATALOG_READ)
) -> AdminBargainOut:
    bargain = await service.access_bargain(session, admin.merchant_id, bargain_id)
    return (await service.admin_bargains_out(session, [bargain]))[0]


@router.post("/v1/admin/bargains/{bargain_id}/end", response_model=AdminBargainOut)
async def end_bargain(
    bargain_id: str,
    session: SessionDep,
    admin: AdminPrincipal = require(Permission.MARKETING_WRITE),
) -> AdminBargainOut:
    bargain = await service.end_bargain(session, admin.merchant_id, admin.admin_id, bargain_id)
    return (await service.admin_bargains_out(session, [bargain]))[0]


@router.get("/v1/bargains/{bargain_id}", response_model=BargainOut)
async def get_bargain(
    bargain_id: str,
    session: SessionDep,
    rt: RuntimeDep,
    member: OptionalMember,
    merchant_id: MerchantQuery = None,
) -> BargainOut:
    bargain = await service.access_bargain(
        session, browsing_merchant(member, merchant_id), bargain_id
    )
    return service.bargains_out([bargain], rt.clock.now())[0]


@router.post(
    "/v1/bargains/{bargain_id}/start",
    response_model=InstanceOut,
    status_code=201,
    responses={200: {"model": InstanceOut, "description": "the member's open instance"}},
)
async def start(
    bargain_id: str, response: Response, member: CurrentMember, session: SessionDep
) -> InstanceOut:
    """Start bargaining at the original price: 201 with a new instance, or 200 with the
    member's instance of this bargain that is still open."""
    instance, created = await service.start(
        session, member.merchant_id, member.member_id, bargain_id
    )
    if not created:
        response.status_code = 200
    return await service.instance_out(session, instance, member.member_id)


@router.get("/v1/bargain-instances/{instance_id}", response_model=InstanceOut)
async def get_instance(
    instance_id: str,
    session: SessionDep,
    member: OptionalMember,
    merchant_id: MerchantQuery = None,
) -> InstanceOut:
    """What a shared bargain link opens: the price so far and the cuts."""
    instance = await service.access_instance(
        session, browsing_merchant(member, merchant_id), instance_id
    )
    return await service.instance_out(session, instance, member.member_id if member else None)


@router.post("/v1/bargain-instances/{instance_id}/help", response_model=HelpResultOut)
async def help_cut(instance_id: str, member: CurrentMember, session: SessionDep) -> HelpResultOut:
    """Cut a friend's price (once per bargain; `helps_per_day` bargains a day)."""
    return await service.help_cut(session, member.merchant_id, member.member_id, instance_id)


@router.post(
    "/v1/bargain-instances/{instance_id}/purchase", response_model=OrderOut, status_code=201
)
async def purchase(
    instance_id: str,
    member: CurrentMember,
    session: SessionDep,
    rt: RuntimeDep,
    body: BargainPurchaseIn | None = None,
) -> OrderOut:
    """Buy at the price reached so far (the owner, before the instance expires)."""
    return await service.purchase(
        session,
        merchant_id=member.merchant_id,
        member_id=member.member_id,
        instance_id=instance_id,
        data=body or BargainPurchaseIn(),
        payment_window=timedelta(minutes=rt.settings.payment_window_minutes),
    )
