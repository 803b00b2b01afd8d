from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from growthloop.campaigns.lotteries import draws, presenters, service, vouchers
from growthloop.campaigns.lotteries.schemas import (
    AdminDrawOut,
    AdminLotteryOut,
    DrawOut,
    DrawResultOut,
    LotteryIn,
    LotteryOut,
    VoucherVerifyIn,
)
from growthloop.campaigns.routes import CampaignRoutes, add_campaign_routes
from growthloop.core.auth import (
    CurrentMember,
    OrdersFulfiller,
    OrdersReader,
    SessionDep,
)
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute

router = APIRouter(route_class=UnitOfWorkRoute, tags=["lotteries"])

WonQuery = Annotated[bool | None, Query(description="true: prizes only; false: 谢谢参与 only")]


# ---- admin ----------------------------------------------------------------------------


add_campaign_routes(
    router,
    CampaignRoutes(
        name="lottery",
        path="lotteries",
        plural="lotteries",
        kind=service.LOTTERIES,
        body=LotteryIn,
        create=service.create_lottery,
        admin_out=AdminLotteryOut,
        present_admin=presenters.admin_lotteries_out,
        out=LotteryOut,
        present_to=presenters.lottery_out,
        create_description=(
            "The lottery with its prize pool; prizes cannot be changed afterwards (end the\n"
            "lottery and start another)."
        ),
        admin_get_description=(
            "With each prize's weight, stock and units given, and the lottery's totals."
        ),
        end_description="No more draws; vouchers already won stay redeemable until they expire.",
        get_description=(
            "The prize wheel: prizes with what is left and their odds now; with a member "
            "token,\nalso the member's free draws left today and whether they can draw."
        ),
    ),
)


@router.get("/v1/admin/lotteries/{lottery_id}/draws", response_model=Page[AdminDrawOut])
async def admin_list_draws(
    lottery_id: str,
    session: SessionDep,
    page: PageDep,
    admin: OrdersReader,
    won: WonQuery = None,
) -> Page[AdminDrawOut]:
    """The lottery's draws, newest first: who won what (`won=true` for the winners)."""
    rows, cursor = await service.lottery_draws(session, admin.merchant_id, lottery_id, page, won)
    return Page(items=await presenters.admin_draws_out(session, rows), next_cursor=cursor)


@router.post("/v1/admin/lottery-vouchers/verify", response_model=AdminDrawOut)
async def verify_voucher(
    body: VoucherVerifyIn,
    session: SessionDep,
    admin: OrdersFulfiller,
) -> AdminDrawOut:
    """核销: the store types or scans a product prize's voucher code; it works once."""
    draw = await vouchers.verify_voucher(
        session, merchant_id=admin.merchant_id, admin_id=admin.admin_id, code=body.code
    )
    return (await presenters.admin_draws_out(session, [draw]))[0]


# ---- consumer --------------------------------------------------------------------------


@router.post("/v1/lotteries/{lottery_id}/draw", response_model=DrawResultOut, status_code=201)
async def draw(lottery_id: str, member: CurrentMember, session: SessionDep) -> DrawResultOut:
    """One draw: free while today's free draws last, then for the lottery's points.
    Retry with the same `Idempotency-Key` to get the same draw back, never a second one."""
    return await draws.draw(session, member.merchant_id, member.member_id, lottery_id)


@router.get("/v1/me/lottery-draws", response_model=Page[DrawOut])
async def my_draws(member: CurrentMember, session: SessionDep, page: PageDep) -> Page[DrawOut]:
    """The member's draws in every lottery, newest first, with their vouchers."""
    rows, cursor = await service.member_draws(session, member.merchant_id, member.member_id, page)
    return Page(items=await presenters.draws_out(session, rows), next_cursor=cursor)
