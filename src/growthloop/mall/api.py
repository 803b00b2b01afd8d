from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from growthloop.core.auth import (
    AdminPrincipal,
    CurrentMember,
    MallReader,
    MarketingWriter,
    OrdersFulfiller,
    OrdersReader,
    OrdersRefunder,
    SessionDep,
)
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.runtime import RuntimeDep
from growthloop.core.schemas import Id
from growthloop.mall import fulfilment, presenters, service, tasks
from growthloop.mall.models import Redemption
from growthloop.mall.schemas import (
    AdminRedemptionOut,
    AdminRewardOut,
    CancelIn,
    FulfilIn,
    RedeemIn,
    RedemptionOut,
    RedemptionStatus,
    RewardIn,
    RewardOut,
    RewardPatch,
    VerifyIn,
)

router = APIRouter(route_class=UnitOfWorkRoute, tags=["mall"])

StatusQuery = Annotated[RedemptionStatus | None, Query()]
IdQuery = Annotated[Id | None, Query()]


# ---- admin: rewards -------------------------------------------------------------------


@router.post("/v1/admin/mall/rewards", response_model=AdminRewardOut, status_code=201)
async def create_reward(
    body: RewardIn, session: SessionDep, admin: MarketingWriter
) -> AdminRewardOut:
    reward = await service.create_reward(session, admin.merchant_id, admin.admin_id, body)
    return presenters.admin_reward_out(reward)


@router.get("/v1/admin/mall/rewards", response_model=Page[AdminRewardOut])
async def list_rewards(
    session: SessionDep, page: PageDep, admin: MallReader
) -> Page[AdminRewardOut]:
    """Every reward, on show or not, in shelf order."""
    rows, cursor = await service.list_rewards(session, admin.merchant_id, page, shown_only=False)
    return Page(items=[presenters.admin_reward_out(r) for r in rows], next_cursor=cursor)


@router.get("/v1/admin/mall/rewards/{reward_id}", response_model=AdminRewardOut)
async def get_reward(reward_id: str, session: SessionDep, admin: MallReader) -> AdminRewardOut:
    reward = await service.get_reward(session, admin.merchant_id, reward_id)
    return presenters.admin_reward_out(reward)


@router.patch("/v1/admin/mall/rewards/{reward_id}", response_model=AdminRewardOut)
async def update_reward(
    reward_id: str, body: RewardPatch, session: SessionDep, admin: MarketingWriter
) -> AdminRewardOut:
    reward = await service.update_reward(
        session, admin.merchant_id, admin.admin_id, reward_id, body
    )
    return presenters.admin_reward_out(reward)


# ---- admin: redemptions ---------------------------------------------------------------


@router.get("/v1/admin/mall/redemptions", response_model=Page[AdminRedemptionOut])
async def list_redemptions(
    session: SessionDep,
    page: PageDep,
    rt: RuntimeDep,
    admin: OrdersReader,
    status: StatusQuery = None,
    member_id: IdQuery = None,
    reward_id: IdQuery = None,
    reveal: Annotated[bool, Query()] = False,
) -> Page[AdminRedemptionOut]:
    """Newest first; filter by status, member or reward. Shipping contacts are masked;
    `reveal=true` shows them in full to staff who ship gifts (orders.fulfil) or handle
    privacy requests, and records a `pii.reveal` audit entry per redemption shown."""
    items, cursor = await tasks.staff_redemptions(
        session,
        rt.db,
        admin,
        page,
        member_id=member_id,
        reward_id=reward_id,
        status=status,
        reveal=reveal,
    )
    return Page(items=items, next_cursor=cursor)


async def _by_staff(
    step: Callable[..., Awaitable[Redemption]],
    session: AsyncSession,
    admin: AdminPrincipal,
    body: BaseModel,
    **values: Any,
) -> AdminRedemptionOut:
    """A `fulfilment` step taken by this staff member, given the body's fields and
    `values`, and the redemption after it."""
    redemption = await step(
        session,
        merchant_id=admin.merchant_id,
        admin_id=admin.admin_id,
        **body.model_dump(),
        **values,
    )
    return presenters.admin_redemption_out(redemption)


@router.post("/v1/admin/mall/redemptions/verify", response_model=AdminRedemptionOut)
async def verify(body: VerifyIn, session: SessionDep, admin: OrdersFulfiller) -> AdminRedemptionOut:
    """核销: the store types or scans a product voucher's code; it works once."""
    return await _by_staff(fulfilment.verify, session, admin, body)


@router.post("/v1/admin/mall/redemptions/{redemption_id}/fulfil", response_model=AdminRedemptionOut)
async def fulfil(
    redemption_id: str, session: SessionDep, admin: OrdersFulfiller, body: FulfilIn | None = None
) -> AdminRedemptionOut:
    """A pending voucher handed over, or a physical gift shipped (with its tracking number)."""
    return await _by_staff(
        fulfilment.fulfil, session, admin, body or FulfilIn(), redemption_id=redemption_id
    )


@router.post("/v1/admin/mall/redemptions/{redemption_id}/cancel", response_model=AdminRedemptionOut)
async def cancel(
    redemption_id: str, session: SessionDep, admin: OrdersRefunder, body: CancelIn | None = None
) -> AdminRedemptionOut:
    """A pending redemption undone: stock, the member's count and the points come back."""
    return await _by_staff(
        fulfilment.cancel, session, admin, body or CancelIn(), redemption_id=redemption_id
    )


# ---- consumer --------------------------------------------------------------------------


@router.get("/v1/mall/rewards", response_model=Page[RewardOut])
async def shelf(member: CurrentMember, session: SessionDep, page: PageDep) -> Page[RewardOut]:
    """The rewards on show now, in shelf order, with whether the caller can redeem each."""
    rows, cursor = await service.list_rewards(session, member.merchant_id, page, shown_only=True)
    availability = await service.availability(session, rows, member.member_id)
    return Page(items=presenters.rewards_out(rows, availability), next_cursor=cursor)


@router.get("/v1/mall/rewards/{reward_id}", response_model=RewardOut)
async def reward(reward_id: str, member: CurrentMember, session: SessionDep) -> RewardOut:
    row = await service.visible_reward(session, member.merchant_id, reward_id)
    availability = await service.availability(session, [row], member.member_id)
    return presenters.rewards_out([row], availability)[0]


@router.post("/v1/mall/rewards/{reward_id}/redeem", response_model=RedemptionOut, status_code=201)
async def redeem(
    reward_id: str, member: CurrentMember, session: SessionDep, body: RedeemIn | None = None
) -> RedemptionOut:
    redemption = await service.redeem(
        session,
        merchant_id=member.merchant_id,
        member_id=member.member_id,
        reward_id=reward_id,
        data=body or RedeemIn(),
    )
    return presenters.redemption_out(redemption)


@router.get("/v1/me/mall/redemptions", response_model=Page[RedemptionOut])
async def my_redemptions(
    member: CurrentMember, session: SessionDep, page: PageDep, status: StatusQuery = None
) -> Page[RedemptionOut]:
    rows, cursor = await service.list_redemptions(
        session, member.merchant_id, page, member_id=member.member_id, status=status
    )
    return Page(items=[presenters.redemption_out(r) for r in rows], next_cursor=cursor)
