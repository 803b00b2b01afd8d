from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from growthloop.core.auth import AdminPrincipal, CurrentMember, Permission, SessionDep, require
from growthloop.core.errors import Forbidden
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.runtime import RuntimeDep
from growthloop.mall import service
from growthloop.mall.schemas import (
    AdminRedemptionOut,
    AdminRewardOut,
    CancelIn,
    FulfilIn,
    Id,
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
    body: RewardIn,
    session: SessionDep,
    rt: RuntimeDep,
    admin: AdminPrincipal = require(Permission.MARKETING_WRITE),
) -> AdminRewardOut:
    reward = await service.create_reward(
        session, admin.merchant_id, admin.admin_id, body, rt.clock.now()
    )
    return service.admin_reward_out(reward)


@router.get("/v1/admin/mall/rewards", response_model=Page[AdminRewardOut])
async def list_rewards(
    session: SessionDep, page: PageDep, admin: AdminPrincipal = require(Permission.CATALOG_READ)
) -> Page[AdminRewardOut]:
    """Every reward, on show or not, in shelf order."""
    rows, cursor = await service.list_rewards(session, admin.merchant_id, page, visible_at=None)
    return Page(items=[service.admin_reward_out(r) for r in rows], next_cursor=cursor)


@router.get("/v1/admin/mall/rewards/{reward_id}", response_model=AdminRewardOut)
async def get_reward(
    reward_id: str, session: SessionDep, admin: AdminPrincipal = require(Permission.CATALOG_READ)
) -> AdminRewardOut:
    reward = await service.access_reward(session, admin.merchant_id, reward_id)
    return service.admin_reward_out(reward)


@router.patch("/v1/admin/mall/rewards/{reward_id}", response_model=AdminRewardOut)
async def update_reward(
    reward_id: str,
    body: RewardPatch,
    session: SessionDep,
    rt: RuntimeDep,
    admin: AdminPrincipal = require(Permission.MARKETING_WRITE),
) -> AdminRewardOut:
    reward = await service.update_reward(
        session, admin.merchant_id, admin.admin_id, reward_id, body, rt.clock.now()
    )
    return service.admin_reward_out(reward)


# ---- admin: redemptions ---------------------------------------------------------------


@router.get("/v1/admin/mall/redemptions", response_model=Page[AdminRedemptionOut])
async def list_redemptions(
    session: SessionDep,
    page: PageDep,
    rt: RuntimeDep,
    status: StatusQuery = None,
    member_id: IdQuery = None,
    reward_id: IdQuery = None,
    reveal: Annotated[bool, Query()] = False,
    admin: AdminPrincipal = require(Permission.ORDERS_READ),
) -> Page[AdminRedemptionOut]:
    """Newest first; filter by status, member or reward. Shipping contacts are masked;
    `reveal=true` shows them in full to staff who ship gifts (orders.fulfil) or handle
    privacy requests, and records a `pii.reveal` audit entry per redemption shown."""
    if reveal and not (admin.can(Permission.ORDERS_FULFIL) or admin.can(Permission.PRIVACY_HANDLE)):
        raise Forbidden(
            f"The {admin.role.value} role may not see shipping contacts unmasked.",
            required_permission=Permission.ORDERS_FULFIL.value,
        )
    rows, cursor = await service.list_redemptions(
        session, admin.merchant_id, page, member_id=member_id, reward_id=reward_id, status=status
    )
    if reveal:
        # A GET reads in a read transaction: the audit entries commit in their own, before
        # any unmasked value leaves (if they cannot be written, nothing is shown).
        async with rt.db.unit_of_work() as uow:
            await service.record_reveal(
                uow.session, admin.merchant_id, admin.admin_id, admin.role.value, rows
            )
    items = [service.admin_redemption_out(r, reveal=reveal) for r in rows]
    return Page(items=items, next_cursor=cursor)


@router.post("/v1/admin/mall/redemptions/verify", response_model=AdminRedemptionOut)
async def verify(
    body: VerifyIn,
    session: SessionDep,
    rt: RuntimeDep,
    admin: AdminPrincipal = require(Permission.ORDERS_FULFIL),
) -> AdminRedemptionOut:
    """核销: the store types or scans a product voucher's code; it works once."""
    redemption = await service.verify(
        session,
        merchant_id=admin.merchant_id,
        admin_id=admin.admin_id,
        code=body.code,
        now=rt.clock.now(),
    )
    return service.admin_redemption_out(redemption)


@router.post("/v1/admin/mall/redemptions/{redemption_id}/fulfil", response_model=AdminRedemptionOut)
async def fulfil(
    redemption_id: str,
    session: SessionDep,
    rt: RuntimeDep,
    body: FulfilIn | None = None,
    admin: AdminPrincipal = require(Permission.ORDERS_FULFIL),
) -> AdminRedemptionOut:
    """A pending voucher handed over, or a physical gift shipped (with its tracking number)."""
    redemption = await service.fulfil(
        session,
        merchant_id=admin.merchant_id,
        admin_id=admin.admin_id,
        redemption_id=redemption_id,
        tracking_no=body.tracking_no if body else None,
        now=rt.clock.now(),
    )
    return service.admin_redemption_out(redemption)


@router.post("/v1/admin/mall/redemptions/{redemption_id}/cancel", response_model=AdminRedemptionOut)
async def cancel(
    redemption_id: str,
    session: SessionDep,
    rt: RuntimeDep,
    body: CancelIn | None = None,
    admin: AdminPrincipal = require(Permission.ORDERS_REFUND),
) -> AdminRedemptionOut:
    """A pending redemption undone: stock, the member's count and the points come back."""
    redemption = await service.cancel(
        session,
        merchant_id=admin.merchant_id,
        admin_id=admin.admin_id,
        redemption_id=redemption_id,
        reason=body.reason if body else None,
        now=rt.clock.now(),
    )
    return service.admin_redemption_out(redemption)


# ---- consumer --------------------------------------------------------------------------


@router.get("/v1/mall/rewards", response_model=Page[RewardOut])
async def shelf(
    member: CurrentMember, session: SessionDep, page: PageDep, rt: RuntimeDep
) -> Page[RewardOut]:
    """The rewards on show now, in shelf order, with whether the caller can redeem each."""
    now = rt.clock.now()
    rows, cursor = await service.list_rewards(session, member.merchant_id, page, visible_at=now)
    items = await service.rewards_out(session, rows, member.member_id, now)
    return Page(items=items, next_cursor=cursor)


@router.get("/v1/mall/rewards/{reward_id}", response_model=RewardOut)
async def reward(
    reward_id: str, member: CurrentMember, session: SessionDep, rt: RuntimeDep
) -> RewardOut:
    now = rt.clock.now()
    row = await service.visible_reward(session, member.merchant_id, reward_id, now)
    return (await service.rewards_out(session, [row], member.member_id, now))[0]


@router.post("/v1/mall/rewards/{reward_id}/redeem", response_model=RedemptionOut, status_code=201)
async def redeem(
    reward_id: str,
    member: CurrentMember,
    session: SessionDep,
    rt: RuntimeDep,
    body: RedeemIn | None = None,
) -> RedemptionOut:
    redemption = await service.redeem(
        session,
        merchant_id=member.merchant_id,
        member_id=member.member_id,
        reward_id=reward_id,
        data=body or RedeemIn(),
        now=rt.clock.now(),
    )
    return service.redemption_out(redemption)


@router.get("/v1/me/mall/redemptions", response_model=Page[RedemptionOut])
async def my_redemptions(
    member: CurrentMember,
    session: SessionDep,
    page: PageDep,
    status: StatusQuery = None,
) -> Page[RedemptionOut]:
    rows, cursor = await service.list_redemptions(
        session, member.merchant_id, page, member_id=member.member_id, status=status
    )
    return Page(items=[service.redemption_out(r) for r in rows], next_cursor=cursor)
