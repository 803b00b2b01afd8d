from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from growthloop.core.auth import AdminPrincipal, CurrentMember, Permission, SessionDep, require
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.runtime import RuntimeDep
from growthloop.promotions import service
from growthloop.promotions.schemas import (
    AdminCouponTemplateOut,
    CouponOut,
    CouponStatus,
    CouponTemplateIn,
    CouponTemplateOut,
    CouponTemplatePatch,
    IssueIn,
    IssueOut,
    Obtain,
)

router = APIRouter(route_class=UnitOfWorkRoute, tags=["promotions"])

StatusQuery = Annotated[CouponStatus | None, Query()]
ObtainQuery = Annotated[Obtain | None, Query()]


# ---- admin ---------------------------------------------------------------------------


@router.post("/v1/admin/coupons", response_model=AdminCouponTemplateOut, status_code=201)
async def create_template(
    body: CouponTemplateIn,
    session: SessionDep,
    rt: RuntimeDep,
    admin: AdminPrincipal = require(Permission.MARKETING_WRITE),
) -> AdminCouponTemplateOut:
    template = await service.create_template(session, admin.merchant_id, body, rt.clock.now())
    return service.admin_template_out(template)


@router.get("/v1/admin/coupons", response_model=Page[AdminCouponTemplateOut])
async def list_templates(
    session: SessionDep,
    page: PageDep,
    obtain: ObtainQuery = None,
    admin: AdminPrincipal = require(Permission.CATALOG_READ),
) -> Page[AdminCouponTemplateOut]:
    """Every template, claimable or granted-only (`obtain` filters)."""
    rows, cursor = await service.list_templates(
        session, admin.merchant_id, page, claimable_at=None, obtain=obtain
    )
    return Page(items=[service.admin_template_out(t) for t in rows], next_cursor=cursor)


@router.get("/v1/admin/coupons/{template_id}", response_model=AdminCouponTemplateOut)
async def get_template(
    template_id: str, session: SessionDep, admin: AdminPrincipal = require(Permission.CATALOG_READ)
) -> AdminCouponTemplateOut:
    template = await service.access_template(session, admin.merchant_id, template_id)
    return service.admin_template_out(template)


@router.patch("/v1/admin/coupons/{template_id}", response_model=AdminCouponTemplateOut)
async def update_template(
    template_id: str,
    body: CouponTemplatePatch,
    session: SessionDep,
    rt: RuntimeDep,
    admin: AdminPrincipal = require(Permission.MARKETING_WRITE),
) -> AdminCouponTemplateOut:
    """Only `active` and `obtain` change: coupons already given out keep the terms they were
    given with. An automatically issued template cannot be made claimable."""
    template = await service.update_template(
        session, admin.merchant_id, template_id, body, rt.clock.now()
    )
    return service.admin_template_out(template)


@router.post("/v1/admin/coupons/{template_id}/issue", response_model=IssueOut)
async def issue(
    template_id: str,
    body: IssueIn,
    session: SessionDep,
    rt: RuntimeDep,
    admin: AdminPrincipal = require(Permission.MARKETING_WRITE),
) -> IssueOut:
    if rt.principals is None:
        raise RuntimeError("no PrincipalValidator registered")
    return await service.issue(
        session,
        merchant_id=admin.merchant_id,
        admin_id=admin.admin_id,
        template_id=template_id,
        member_ids=body.member_ids,
        members=rt.principals,
        now=rt.clock.now(),
    )


# ---- consumer ------------------------------------------------------------------------


@router.get("/v1/coupons", response_model=Page[CouponTemplateOut])
async def claimable(
    member: CurrentMember, session: SessionDep, page: PageDep, rt: RuntimeDep
) -> Page[CouponTemplateOut]:
    """The coupon centre: claimable templates that can be claimed now. Granted-only ones
    (gifts, rewards) are not listed."""
    rows, cursor = await service.list_templates(
        session, member.merchant_id, page, claimable_at=rt.clock.now()
    )
    return Page(items=[service.template_out(t) for t in rows], next_cursor=cursor)


@router.post(
    "/v1/coupons/{template_id}/claim",
    response_model=CouponOut,
    status_code=201,
    responses={403: {"description": "not_claimable: the shop only gives this coupon"}},
)
async def claim(
    template_id: str, member: CurrentMember, session: SessionDep, rt: RuntimeDep
) -> CouponOut:
    now = rt.clock.now()
    coupon = await service.claim(
        session,
        merchant_id=member.merchant_id,
        member_id=member.member_id,
        template_id=template_id,
        now=now,
    )
    return (await service.coupons_out(session, [coupon], now))[0]


@router.get("/v1/me/coupons", response_model=Page[CouponOut])
async def my_coupons(
    member: CurrentMember,
    session: SessionDep,
    page: PageDep,
    rt: RuntimeDep,
    status: StatusQuery = None,
) -> Page[CouponOut]:
    items, cursor = await service.my_coupons(
        session, member.merchant_id, member.member_id, page, status=status, now=rt.clock.now()
    )
    return Page(items=items, next_cursor=cursor)
