from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from growthloop.core.auth import CurrentMember, MarketingReader, MarketingWriter, SessionDep
from growthloop.core.pagination import Page, PageDep
from growthloop.core.routing import UnitOfWorkRoute
from growthloop.core.runtime import RuntimeDep
from growthloop.promotions import service
from growthloop.promotions.presenters import admin_template_out, coupons_out, template_out
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
    body: CouponTemplateIn, session: SessionDep, admin: MarketingWriter
) -> AdminCouponTemplateOut:
    return admin_template_out(await service.create_template(session, admin.merchant_id, body))


@router.get("/v1/admin/coupons", response_model=Page[AdminCouponTemplateOut])
async def list_templates(
    session: SessionDep, page: PageDep, admin: MarketingReader, obtain: ObtainQuery = None
) -> Page[AdminCouponTemplateOut]:
    """Every template, claimable or granted-only (`obtain` filters)."""
    rows, cursor = await service.list_templates(session, admin.merchant_id, page, obtain=obtain)
    return Page(items=[admin_template_out(t) for t in rows], next_cursor=cursor)


@router.get("/v1/admin/coupons/{template_id}", response_model=AdminCouponTemplateOut)
async def get_template(
    template_id: str, session: SessionDep, admin: MarketingReader
) -> AdminCouponTemplateOut:
    return admin_template_out(await service.get_template(session, admin.merchant_id, template_id))


@router.patch("/v1/admin/coupons/{template_id}", response_model=AdminCouponTemplateOut)
async def update_template(
    template_id: str, body: CouponTemplatePatch, session: SessionDep, admin: MarketingWriter
) -> AdminCouponTemplateOut:
    """Only `active` and `obtain` change: coupons already given out keep the terms they were
    given with. An automatically issued template cannot be made claimable."""
    template = await service.update_template(session, admin.merchant_id, template_id, body)
    return admin_template_out(template)


@router.post("/v1/admin/coupons/{template_id}/issue", response_model=IssueOut)
async def issue(
    template_id: str, body: IssueIn, session: SessionDep, rt: RuntimeDep, admin: MarketingWriter
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
    )


# ---- consumer ------------------------------------------------------------------------


@router.get("/v1/coupons", response_model=Page[CouponTemplateOut])
async def claimable(
    member: CurrentMember, session: SessionDep, page: PageDep
) -> Page[CouponTemplateOut]:
    """The coupon centre: claimable templates that can be claimed now. Granted-only ones
    (gifts, rewards) are not listed."""
    rows, cursor = await service.coupon_centre(session, member.merchant_id, page)
    return Page(items=[template_out(t) for t in rows], next_cursor=cursor)


@router.post(
    "/v1/coupons/{template_id}/claim",
    response_model=CouponOut,
    status_code=201,
    responses={403: {"description": "not_claimable: the shop only gives this coupon"}},
)
async def claim(template_id: str, member: CurrentMember, session: SessionDep) -> CouponOut:
    coupon = await service.claim(
        session, merchant_id=member.merchant_id, member_id=member.member_id, template_id=template_id
    )
    return (await coupons_out(session, [coupon]))[0]


@router.get("/v1/me/coupons", response_model=Page[CouponOut])
async def my_coupons(
    member: CurrentMember, session: SessionDep, page: PageDep, status: StatusQuery = None
) -> Page[CouponOut]:
    rows, cursor = await service.my_coupons(
        session, member.merchant_id, member.member_id, page, status=status
    )
    return Page(items=await coupons_out(session, rows), next_cursor=cursor)
