from __future__ import annotations

from fastapi import APIRouter, Response

from growthloop.campaigns.bargains import presenters, service
from growthloop.campaigns.bargains.schemas import (
    AdminBargainOut,
    BargainIn,
    BargainOut,
    BargainPurchaseIn,
    HelpResultOut,
    InstanceOut,
)
from growthloop.campaigns.routes import (
    CampaignRoutes,
    PaymentWindow,
    add_campaign_routes,
    answer_found,
    created_or_found,
)
from growthloop.core.auth import Browsing, CurrentMember, SessionDep
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.orders.schemas import OrderOut

router = APIRouter(route_class=UnitOfWorkRoute, tags=["bargains"])

add_campaign_routes(
    router,
    CampaignRoutes(
        name="bargain",
        path="bargains",
        kind=service.BARGAINS,
        body=BargainIn,
        create=service.create_bargain,
        admin_out=AdminBargainOut,
        present_admin=presenters.admin_bargains_out,
        out=BargainOut,
        present=presenters.bargains_out,
    ),
)


@router.post(
    "/v1/bargains/{bargain_id}/start",
    **created_or_found(InstanceOut, "the member's open instance"),
)
async def start(
    bargain_id: str, response: Response, member: CurrentMember, session: SessionDep
) -> InstanceOut:
    """Start bargaining at the original price: 201 with a new instance, or 200 with the
    member's instance of this bargain that is still open."""
    instance, created = await service.start(
        session, member.merchant_id, member.member_id, bargain_id
    )
    answer_found(response, created)
    return await presenters.instance_out(session, instance, member.member_id)


@router.get("/v1/bargain-instances/{instance_id}", response_model=InstanceOut)
async def get_instance(instance_id: str, session: SessionDep, browser: Browsing) -> InstanceOut:
    """What a shared bargain link opens: the price so far and the cuts."""
    instance = await service.get_instance(session, browser.merchant_id(), instance_id)
    return await presenters.instance_out(session, instance, browser.member_id)


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
    payment_window: PaymentWindow,
    body: BargainPurchaseIn | None = None,
) -> OrderOut:
    """Buy at the price reached so far (the owner, before the instance expires)."""
    return await service.purchase(
        session,
        merchant_id=member.merchant_id,
        member_id=member.member_id,
        instance_id=instance_id,
        data=body or BargainPurchaseIn(),
        payment_window=payment_window,
    )
