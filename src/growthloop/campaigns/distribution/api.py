from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.campaigns.distribution import presenters, service, tasks
from growthloop.campaigns.distribution.schemas import (
    CommissionOut,
    DecisionIn,
    DistributionIn,
    DistributionOut,
    PromoterStatsOut,
    ReferralOut,
    WithdrawalIn,
    WithdrawalOut,
    WithdrawalStatus,
)
from growthloop.core.auth import (
    AdminPrincipal,
    CurrentMember,
    MarketingReader,
    MarketingWriter,
    OrdersReader,
    OrdersRefunder,
    SessionDep,
)
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.runtime import RuntimeDep

router = APIRouter(route_class=UnitOfWorkRoute, tags=["distribution"])

StatusQuery = Annotated[WithdrawalStatus | None, Query()]


@router.put("/v1/admin/distribution", response_model=DistributionOut)
async def put_settings(
    body: DistributionIn, session: SessionDep, admin: MarketingWriter
) -> DistributionOut:
    s = await service.put_settings(session, admin.merchant_id, admin.admin_id, body)
    return presenters.settings_out(s)


@router.get("/v1/admin/distribution", response_model=DistributionOut)
async def get_settings(session: SessionDep, admin: MarketingReader) -> DistributionOut:
    return presenters.settings_out(await service.settings_of(session, admin.merchant_id))


@router.get("/v1/me/referral", response_model=ReferralOut, tags=["members"])
async def my_referral(member: CurrentMember, session: SessionDep, rt: RuntimeDep) -> ReferralOut:
    """The member's own code to share, how many signed up with it, and who referred them:
    the promoter whose binding earns commissions on their orders, and who invited them.
    (Served here, above identity and distribution both, which each know half of it.)"""
    give_code = partial(tasks.give_referral_code, rt.db)
    return await service.referral(session, member.merchant_id, member.member_id, give_code)


@router.get("/v1/me/distribution", response_model=PromoterStatsOut)
async def my_stats(member: CurrentMember, session: SessionDep) -> PromoterStatsOut:
    """The member as a promoter: their code, their team, their commission."""
    return await service.stats(session, member.merchant_id, member.member_id)


@router.get("/v1/me/commissions", response_model=Page[CommissionOut])
async def my_commissions(
    member: CurrentMember, session: SessionDep, page: PageDep
) -> Page[CommissionOut]:
    rows, cursor = await service.my_commissions(session, member.merchant_id, member.member_id, page)
    return Page(items=[presenters.commission_out(c) for c in rows], next_cursor=cursor)


@router.post("/v1/me/withdrawals", response_model=WithdrawalOut, status_code=201)
async def request_withdrawal(
    body: WithdrawalIn, member: CurrentMember, session: SessionDep
) -> WithdrawalOut:
    """Ask for settled commission to be paid out; an operator approves it."""
    w = await service.request_withdrawal(session, member.merchant_id, member.member_id, body.amount)
    return presenters.withdrawal_out(w)


@router.get("/v1/me/withdrawals", response_model=Page[WithdrawalOut])
async def my_withdrawals(
    member: CurrentMember, session: SessionDep, page: PageDep
) -> Page[WithdrawalOut]:
    rows, cursor = await service.list_withdrawals(
        session, member.merchant_id, page, member_id=member.member_id
    )
    return Page(items=[presenters.withdrawal_out(w) for w in rows], next_cursor=cursor)


@router.get("/v1/admin/withdrawals", response_model=Page[WithdrawalOut])
async def list_withdrawals(
    session: SessionDep, page: PageDep, admin: OrdersReader, status: StatusQuery = None
) -> Page[WithdrawalOut]:
    rows, cursor = await service.list_withdrawals(session, admin.merchant_id, page, status=status)
    return Page(items=[presenters.withdrawal_out(w) for w in rows], next_cursor=cursor)


async def _decide(
    session: AsyncSession,
    admin: AdminPrincipal,
    withdrawal_id: str,
    body: DecisionIn | None,
    *,
    approve: bool,
) -> WithdrawalOut:
    w = await service.decide(
        session,
        admin.merchant_id,
        admin.admin_id,
        withdrawal_id,
        approve=approve,
        note=body.note if body else None,
    )
    return presenters.withdrawal_out(w)


@router.post("/v1/admin/withdrawals/{withdrawal_id}/approve", response_model=WithdrawalOut)
async def approve(
    withdrawal_id: str, session: SessionDep, admin: OrdersRefunder, body: DecisionIn | None = None
) -> WithdrawalOut:
    """Approve once paid out (bank or WeChat transfer, outside growthloop)."""
    return await _decide(session, admin, withdrawal_id, body, approve=True)


@router.post("/v1/admin/withdrawals/{withdrawal_id}/reject", response_model=WithdrawalOut)
async def reject(
    withdrawal_id: str, session: SessionDep, admin: OrdersRefunder, body: DecisionIn | None = None
) -> WithdrawalOut:
    """Reject: the amount becomes available to the promoter again."""
    return await _decide(session, admin, withdrawal_id, body, approve=False)
