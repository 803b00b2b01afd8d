from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from growthloop.campaigns.lotteries import draws, presenters, service, vouchers
from growthloop.campaigns.lotteries.errors import LotteryNotFound
from growthloop.campaigns.lotteries.models import Lottery
from growthloop.campaigns.lotteries.schemas import (
    AdminDrawOut,
    AdminLotteryOut,
    DrawOut,
    DrawResultOut,
    LotteryIn,
    LotteryOut,
    VoucherVerifyIn,
)
from growthloop.core.auth import (
    CurrentMember,
    MarketingReader,
    MarketingWriter,
    MerchantQuery,
    OptionalMember,
    OrdersFulfiller,
    OrdersReader,
    SessionDep,
    browsing_merchant,
)
from growthloop.core.ownership import get_owned
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute

router = APIRouter(route_class=UnitOfWorkRoute, tags=["lotteries"])

WonQuery = Annotated[bool | None, Query(description="true: prizes only; false: 谢谢参与 only")]


# ---- admin ----------------------------------------------------------------------------


@router.post("/v1/admin/lotteries", response_model=AdminLotteryOut, status_code=201)
async def create_lottery(
    body: LotteryIn,
    session: SessionDep,
    admin: MarketingWriter,
) -> AdminLotteryOut:
    """The lottery with its prize pool; prizes cannot be changed afterwards (end the
    lottery and start another)."""
    lottery = await service.create_lottery(session, admin.merchant_id, admin.admin_id, body)
    return (await presenters.admin_lotteries_out(session, [lottery]))[0]


@router.get("/v1/admin/lotteries", response_model=Page[AdminLotteryOut])
async def list_lotteries(
    session: SessionDep, page: PageDep, admin: MarketingReader
) -> Page[AdminLotteryOut]:
    rows, cursor = await service.list_lotteries(session, admin.merchant_id, page)
    return Page(items=await presenters.admin_lotteries_out(session, rows), next_cursor=cursor)


@router.get("/v1/admin/lotteries/{lottery_id}", response_model=AdminLotteryOut)
async def admin_get_lottery(
    lottery_id: str, session: SessionDep, admin: MarketingReader
) -> AdminLotteryOut:
    """With each prize's weight, stock and units given, and the lottery's totals."""
    lottery = await get_owned(
        session, Lottery, lottery_id, admin.merchant_id, LotteryNotFound(lottery_id=lottery_id)
    )
    return (await presenters.admin_lotteries_out(session, [lottery]))[0]


@router.post("/v1/admin/lotteries/{lottery_id}/end", response_model=AdminLotteryOut)
async def end_lottery(
    lottery_id: str,
    session: SessionDep,
    admin: MarketingWriter,
) -> AdminLotteryOut:
    """No more draws; vouchers already won stay redeemable until they expire."""
    lottery = await service.end_lottery(session, admin.merchant_id, admin.admin_id, lottery_id)
    return (await presenters.admin_lotteries_out(session, [lottery]))[0]


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


@router.get("/v1/lotteries/{lottery_id}", response_model=LotteryOut)
async def get_lottery(
    lottery_id: str,
    session: SessionDep,
    member: OptionalMember,
    merchant_id: MerchantQuery = None,
) -> LotteryOut:
    """The prize wheel: prizes with what is left and their odds now; with a member token,
    also the member's free draws left today and whether they can draw."""
    merchant = browsing_merchant(member, merchant_id)
    lottery = await get_owned(
        session, Lottery, lottery_id, merchant, LotteryNotFound(lottery_id=lottery_id)
    )
    return await presenters.lottery_out(session, lottery, member.member_id if member else None)


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
